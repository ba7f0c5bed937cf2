"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint).

Published example: the PeterNeumann note of Go's golang.org/x/mod/sumdb/note
(package documentation and note_test.go): signer key, verifier key, text and the
signed note. Ed25519 is deterministic (RFC 8032), so signing must reproduce it
byte for byte.
"""

from __future__ import annotations

import base64

import pytest

from liangshan.ledger import note
from liangshan.ledger.merkle import EMPTY_ROOT

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
           "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_published_go_note_is_reproduced_byte_for_byte() -> None:
    signer = note.parse_signer_key(GO_SKEY)
    assert signer.encode() == GO_SKEY
    assert signer.verifier().encode() == GO_VKEY
    assert note.sign_note(GO_TEXT, [signer]) == GO_NOTE


def test_published_go_note_opens_with_its_key() -> None:
    verifier = note.parse_verifier_key(GO_VKEY)
    assert verifier.key_id.hex() == "c74f20a3"
    assert note.open_note(GO_NOTE, [verifier]) == GO_TEXT


def test_altered_body_is_rejected() -> None:
    verifier = note.parse_verifier_key(GO_VKEY)
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(GO_NOTE.replace("cryptography", "cryptographY"), [verifier])


def test_wrong_key_is_rejected() -> None:
    other = note.generate_signer("PeterNeumann").verifier()  # same name, other key and ID
    with pytest.raises(note.NoteError, match="no signature from a known key"):
        note.open_note(GO_NOTE, [other])


def test_unknown_signatures_are_ignored_but_one_known_must_verify() -> None:
    a, b = note.generate_signer("a.example/log"), note.generate_signer("b.example/witness")
    signed = note.sign_note("hello\n", [a, b])
    assert note.open_note(signed, [a.verifier()]) == "hello\n"
    assert note.open_note(signed, [b.verifier()]) == "hello\n"


def test_round_trip_of_generated_keys() -> None:
    signer = note.generate_signer("liangshan.example/log")
    again = note.parse_signer_key(signer.encode())
    assert again.seed == signer.seed
    assert note.parse_verifier_key(signer.verifier().encode()) == signer.verifier()


def test_key_id_follows_the_spec() -> None:
    """key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4] — the Go key's c74f20a3."""
    raw = base64.b64decode(GO_VKEY.split("+", 2)[2])
    assert note.key_id("PeterNeumann", raw[1:]).hex() == "c74f20a3"


@pytest.mark.parametrize("bad", [
    GO_VKEY.replace("c74f20a3", "c74f20a4"),       # key ID does not match
    "PeterNeumann+c74f20a3",                        # no key
    "Peter Neumann+c74f20a3+" + GO_VKEY.split("+", 2)[2],  # space in name
    GO_VKEY[:-2],                                   # truncated key
])
def test_malformed_verifier_keys_are_refused(bad: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_verifier_key(bad)


@pytest.mark.parametrize("bad", [
    GO_TEXT + "— PeterNeumann x08go\n",             # no blank line
    GO_TEXT + "\n- PeterNeumann x08go/ZJk=\n",      # hyphen instead of em dash
    GO_TEXT + "\n— PeterNeumann !!!\n",             # not base64
    "a\x01b\n\n— x AAAAAAA=\n",                     # control character
])
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(note.NoteError):
        note.open_note(bad, [note.parse_verifier_key(GO_VKEY)])


def test_checkpoint_text_follows_tlog_checkpoint() -> None:
    """The C2SP example body: origin, decimal size, base64 root, newline-terminated."""
    root = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    cp = note.Checkpoint("example.com/behind-the-sofa", 20852163, root)
    assert cp.text() == ("example.com/behind-the-sofa\n20852163\n"
                         "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    assert note.parse_checkpoint(cp.text()) == cp


def test_signed_checkpoint_round_trip_and_origin_check() -> None:
    signer = note.generate_signer("liangshan.example/log")
    cp = note.Checkpoint(signer.name, 0, EMPTY_ROOT)
    signed = note.sign_checkpoint_note(cp, signer)
    assert note.open_checkpoint(signed, signer.verifier()) == cp
    impostor = note.generate_signer("other.example/log")
    with pytest.raises(note.NoteError, match="origin"):
        note.open_checkpoint(note.sign_checkpoint_note(cp, impostor), impostor.verifier())


@pytest.mark.parametrize("text", ["o\n012\nAAAA\n", "o\n12\n", "o\n-1\nAAAA\n", "o\n1\nAAAA"])
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_checkpoint(text)
