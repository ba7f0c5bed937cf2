"""The log's Ed25519 signing key: loaded from, or generated into, the data directory.

Files under ``<data_dir>/keys/`` (never committed; the data directory is ignored):

* ``log.key``  — the signer key ``PRIVATE+KEY+<origin>+<id>+<base64>`` (mode 0600);
* ``log.vkey`` — the public verifier key ``<origin>+<id>+<base64>`` to hand to
  anyone who checks checkpoints (auditors, witnesses, the public).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from liangshan.config import get_settings
from liangshan.errors import ConfigurationError
from liangshan.ledger.note import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    generate_signer,
    parse_signer_key,
    parse_verifier_key,
)

#: Default log origin (the checkpoint's first line and the key name) [NF: our own choice].
DEFAULT_ORIGIN = "liangshan.local/log"
SIGNER_FILE = "log.key"
VERIFIER_FILE = "log.vkey"


def key_dir() -> Path:
    """``<data_dir>/keys`` from the settings."""
    return get_settings().data_dir / "keys"


def _write_atomic(path: Path, text: str, mode: int, *, exclusive: bool = False) -> bool:
    """Write via a temporary file; ``exclusive``: never replace, return False if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic and fails if another process made the key first
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_signer(directory: Path | None = None, *, origin: str = DEFAULT_ORIGIN,
                create: bool = True) -> NoteSigner:
    """The log's signer from ``directory/log.key``; generated there on first use.

    ``origin`` is only used when a key is generated; an existing key keeps its name.
    """
    directory = directory or key_dir()
    path = directory / SIGNER_FILE
    if path.exists():
        try:
            return parse_signer_key(path.read_text(encoding="utf-8"))
        except NoteError as exc:
            raise ConfigurationError(f"{path}: not a signer key: {exc.message}",
                                     hint="restore the key from backup; a new key would "
                                     "not match the checkpoints already published") from None
    if not create:
        raise ConfigurationError(f"no log signing key at {path}",
                                 hint="run the server or 'liangshan log checkpoint' once to "
                                 "generate it, or copy the key there")
    signer = generate_signer(origin)
    if not _write_atomic(path, signer.encode(), 0o600, exclusive=True):
        return load_signer(directory, create=False)  # another worker won the race
    _write_atomic(directory / VERIFIER_FILE, signer.verifier().encode(), 0o644)
    return signer


def load_verifier(directory: Path | None = None) -> NoteVerifier | None:
    """The public key from ``log.vkey`` (or derived from ``log.key``); None if neither exists."""
    directory = directory or key_dir()
    vpath = directory / VERIFIER_FILE
    if vpath.exists():
        try:
            return parse_verifier_key(vpath.read_text(encoding="utf-8"))
        except NoteError as exc:
            raise ConfigurationError(f"{vpath}: not a verifier key: {exc.message}") from None
    if (directory / SIGNER_FILE).exists():
        return load_signer(directory, create=False).verifier()
    return None
