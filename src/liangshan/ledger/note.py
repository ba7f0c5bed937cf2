"""Signed notes (C2SP signed-note) and transparency-log checkpoints (C2SP tlog-checkpoint).

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``. Keys are Ed25519 (signature type
0x01); the key ID is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 ||
32-byte public key). Keys travel as text in the encoding of Go's
``golang.org/x/mod/sumdb/note``, so Go witnesses and verifiers accept them:

* verifier key: ``<name>+<key ID, 8 hex>+base64(0x01 || public key)``
* signer key:   ``PRIVATE+KEY+<name>+<key ID, 8 hex>+base64(0x01 || 32-byte seed)``

A checkpoint's note text is the log origin, the tree size in decimal and the
base64 root hash, one per line, then optional extension lines.

Sources: https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint [V].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from liangshan.errors import InvalidInput

ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
_FORBIDDEN_NAME = re.compile(r"[\s+]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(InvalidInput):
    """A note, key or checkpoint that is malformed or whose signatures do not check out."""

    code = "note_invalid"


def _b64decode(text: str, *, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what}: {text!r} is not standard base64",
                        hint="use RFC 4648 §4 base64 with padding") from None


def check_key_name(name: str) -> None:
    """Key names are non-empty and hold no Unicode spaces and no '+'."""
    if not name or _FORBIDDEN_NAME.search(name):
        raise NoteError(f"key name {name!r} is empty or contains a space or '+'",
                        hint="use a schema-less URL such as example.org/log")


def key_id(name: str, public_key: bytes, sig_type: int = ED25519) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 public key with its name; checks signatures over note text."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"key {self.name}: an Ed25519 public key has 32 bytes, "
                            f"got {len(self.public_key)}")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True

    def encode(self) -> str:
        """The verifier key string ``name+hexid+base64(0x01||pk)``."""
        blob = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 private key (its 32-byte RFC 8032 seed) with its name."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteError(f"key {self.name}: an Ed25519 seed has 32 bytes, got {len(self.seed)}")

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> bytes:
        return self._private().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.public_key)

    def sign(self, text: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``text``."""
        return self._private().sign(text)

    def encode(self) -> str:
        """The signer key string ``PRIVATE+KEY+name+hexid+base64(0x01||seed)`` — keep secret."""
        blob = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{blob}"


def generate_signer(name: str) -> NoteSigner:
    """A fresh Ed25519 signer named ``name`` (from the OS's random source)."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return NoteSigner(name, seed)


def _split_key(text: str, parts: int, *, what: str) -> list[str]:
    # The base64 tail may itself hold '+', so split only as far as the fields go.
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"{what} {text!r} does not have the form name+hexid+base64",
                        hint="copy the whole key line as written by the log")
    return fields


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """Parse ``name+hexid+base64(0x01||pk)``; the key ID must match name and key."""
    name, hex_id, blob = _split_key(vkey, 3, what="verifier key")
    raw = _b64decode(blob, what=f"verifier key {name}")
    if not raw or raw[0] != ED25519:
        raise NoteError(f"verifier key {name}: only Ed25519 keys (type 0x01) are supported")
    verifier = NoteVerifier(name, raw[1:])
    if hex_id != verifier.key_id.hex():
        raise NoteError(f"verifier key {name}: key ID {hex_id} does not match the key "
                        f"(expected {verifier.key_id.hex()})")
    return verifier


def parse_signer_key(skey: str) -> NoteSigner:
    """Parse ``PRIVATE+KEY+name+hexid+base64(0x01||seed)``."""
    fields = _split_key(skey, 5, what="signer key")
    if fields[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("signer key does not start with PRIVATE+KEY+",
                        hint="give the private key file, not the public verifier key")
    name, hex_id, blob = fields[2:]
    raw = _b64decode(blob, what=f"signer key {name}")
    if not raw or raw[0] != ED25519:
        raise NoteError(f"signer key {name}: only Ed25519 keys (type 0x01) are supported")
    signer = NoteSigner(name, raw[1:])
    if hex_id != signer.key_id.hex():
        raise NoteError(f"signer key {name}: key ID {hex_id} does not match the key "
                        f"(expected {signer.key_id.hex()})")
    return signer


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text holds an ASCII control character other than newline")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    lines = []
    for s in signers:
        sig = base64.b64encode(s.key_id + s.sign(text.encode())).decode()
        lines.append(f"{SIG_PREFIX}{s.name} {sig}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and its (unverified) signatures."""
    if _CONTROL.search(note):
        raise NoteError("note holds an ASCII control character other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("note has no blank line between text and signatures",
                        hint="a signed note is text, a blank line, then '— name sig' lines")
    text, sig_block = note[: cut + 1], note[cut + 2:]
    sigs: list[Signature] = []
    for line in sig_block.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"note signature line {line!r} does not start with an em dash")
        name, _, blob = line[len(SIG_PREFIX):].partition(" ")
        check_key_name(name)
        raw = _b64decode(blob, what=f"signature by {name}")
        if len(raw) < 5:
            raise NoteError(f"signature by {name} is too short to hold a key ID")
        sigs.append(Signature(name, raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("note has no signature lines")
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(sigs)} signatures, more than {MAX_SIGNATURES}")
    return text, sigs


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> str:
    """Verify ``note`` against known keys and return its text.

    Signatures from unknown keys (name and ID not both known) are ignored; a
    known key whose signature fails rejects the note; at least one must verify.
    """
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = 0
    for sig in sigs:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(text.encode(), sig.signature):
            raise NoteError(f"note signature by {sig.name} ({sig.key_id.hex()}) does not verify",
                            hint="the text or the signature was altered")
        verified += 1
    if not verified:
        raise NoteError("note carries no signature from a known key",
                        hint=f"known keys: {sorted(n for n, _ in known) or 'none'}")
    return text


# ------------------------------------------------------------------ checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size (leaves) and RFC 6962 root hash (32 bytes)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The checkpoint's note text (C2SP tlog-checkpoint)."""
        if not self.origin or "\n" in self.origin:
            raise NoteError(f"checkpoint origin {self.origin!r} is empty or holds a newline")
        if self.size < 0:
            raise NoteError(f"checkpoint size {self.size} is negative")
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise NoteError(f"checkpoint extension line {ext!r} is empty or multi-line")
            lines.append(ext)
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (not a signed note: call :func:`open_note` first)."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("checkpoint text needs origin, size and root on non-empty lines",
                        hint="see https://c2sp.org/tlog-checkpoint")
    origin, size_text, root_text, *ext = lines
    if not size_text.isascii() or not size_text.isdigit() or (
            size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"checkpoint size {size_text!r} is not a decimal without leading zeros")
    root = _b64decode(root_text, what="checkpoint root hash")
    return Checkpoint(origin, int(size_text), root, tuple(ext))


def sign_checkpoint_note(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed checkpoint note; the key name should equal the origin."""
    return sign_note(checkpoint.text(), [signer])


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and parse it; origin must match key name."""
    cp = parse_checkpoint(open_note(note, [verifier]))
    if cp.origin != verifier.name:
        raise NoteError(f"checkpoint origin {cp.origin!r} differs from the key name "
                        f"{verifier.name!r}", hint="the checkpoint belongs to another log")
    return cp
