"""A self-contained proof bundle: one log leaf, its inclusion proof and the signed
checkpoint it is proven against — everything an offline checker (a buyer scanning
a product's QR code, an auditor) needs besides the log's public key.

Fields: ``index``, ``kind``, ``payload`` (base64), ``tree_size``, ``hashes``
(base64, leaf to root) and ``checkpoint`` (the signed note text).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from liangshan.errors import InvalidInput
from liangshan.ledger import merkle
from liangshan.ledger.log import leaf_input
from liangshan.ledger.note import Checkpoint, NoteVerifier, open_checkpoint


def make_bundle(index: int, kind: str, payload: bytes, proof: list[bytes], note: str,
                tree_size: int) -> dict[str, Any]:
    """The bundle as a JSON-able dict."""
    return {"index": index, "kind": kind, "payload": base64.b64encode(payload).decode(),
            "tree_size": tree_size, "hashes": [base64.b64encode(h).decode() for h in proof],
            "checkpoint": note}


def verify_bundle(bundle: Mapping[str, Any], verifier: NoteVerifier) -> tuple[Checkpoint, bytes]:
    """Check the checkpoint signature and the leaf's inclusion; returns (checkpoint, payload).

    Raises :class:`~liangshan.ledger.note.NoteError` or
    :class:`~liangshan.ledger.merkle.ProofError` (both :class:`InvalidInput`).
    """
    try:
        index, kind, size = int(bundle["index"]), str(bundle["kind"]), int(bundle["tree_size"])
        payload = base64.b64decode(bundle["payload"], validate=True)
        proof = [base64.b64decode(h, validate=True) for h in bundle["hashes"]]
        note = str(bundle["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidInput(f"proof bundle is malformed: {exc!r}",
                           hint="expected index, kind, payload, tree_size, hashes, "
                           "checkpoint") from None
    checkpoint = open_checkpoint(note, verifier)
    if checkpoint.size != size:
        raise merkle.ProofError(f"proof bundle: proof is for size {size} but the checkpoint "
                                f"is for size {checkpoint.size}")
    leaf_hash = merkle.hash_leaf(leaf_input(kind, payload))
    merkle.verify_inclusion(index, size, leaf_hash, proof, checkpoint.root_hash)
    return checkpoint, payload
