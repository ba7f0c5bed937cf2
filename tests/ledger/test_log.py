"""The transparency log in the database, on SQLite and PostgreSQL.

Proofs read from stored subtree hashes must equal the proofs of the pure,
in-memory tree (itself checked against RFC 9162 and published vectors in
test_merkle.py) and verify with nothing but the proof, leaf hash, size and root.
"""

from __future__ import annotations

import base64
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.errors import InvalidInput, NotFound
from liangshan.ledger import keys, merkle, note, service
from liangshan.ledger.log import canonical_json, leaf_input
from liangshan.ledger.models import LogNode

N = 37  # crosses several perfect-subtree boundaries (32 + 4 + 1)


def _fill(session: Session, n: int) -> list[bytes]:
    hashes = []
    for i in range(n):
        payload = {"event": "harvest", "batch": f"B{i:03d}", "kg": i} if i % 2 else bytes([i])
        index, leaf_hash = service.append_leaf(session, "trace", payload)
        assert index == i
        hashes.append(leaf_hash)
    session.commit()
    return hashes


def test_leaf_hash_is_rfc6962_of_kind_and_canonical_payload(db_session: Session) -> None:
    index, leaf_hash = service.append_leaf(db_session, "registry",
                                           {"b": 1, "a": "两山", "c": [1, 2]})
    assert index == 0
    assert canonical_json({"b": 1, "a": "两山", "c": [1, 2]}) == (
        '{"a":"两山","b":1,"c":[1,2]}'.encode())
    assert leaf_hash == merkle.hash_leaf(b"registry\n" + '{"a":"两山","b":1,"c":[1,2]}'.encode())
    assert leaf_input("registry", b"x") == b"registry\nx"


def test_stored_proofs_equal_the_pure_tree_and_verify(db_session: Session) -> None:
    hashes = _fill(db_session, N)
    assert service.log_size(db_session) == N
    # every perfect subtree is stored once: Σ_{l≥1} ⌊N / 2^l⌋ rows
    assert db_session.scalar(select(func.count()).select_from(LogNode)) == sum(
        N >> lv for lv in range(1, 7))
    for size in (1, 2, 3, 8, 13, 32, N):
        root = service.root_hash(db_session, size)
        assert root == merkle.root_from_leaf_hashes(hashes[:size])
        for index in range(size):
            proof = service.inclusion_proof(db_session, index, size)
            assert proof == merkle.inclusion_proof(index, hashes[:size])
            merkle.verify_inclusion(index, size, hashes[index], proof, root)
        for first in range(size + 1):
            proof = service.consistency_proof(db_session, first, size)
            assert proof == merkle.consistency_proof(first, hashes[:size])
            merkle.verify_consistency(first, size, proof,
                                      merkle.root_from_leaf_hashes(hashes[:first]), root)


def test_requests_beyond_the_log_are_refused(db_session: Session) -> None:
    _fill(db_session, 3)
    with pytest.raises(InvalidInput, match="outside 0 … 3"):
        service.inclusion_proof(db_session, 0, 4)
    with pytest.raises(InvalidInput):
        service.consistency_proof(db_session, 2, 9)
    with pytest.raises(NotFound):
        service.get_leaf(db_session, 3)
    with pytest.raises(InvalidInput, match="kind"):
        service.append_leaf(db_session, "Bad Kind", b"x")
    with pytest.raises(InvalidInput, match="canonical JSON"):
        service.append_leaf(db_session, "trace", {"kg": float("nan")})


def test_checkpoints_are_signed_consistent_and_reused(db_session: Session) -> None:
    signer = note.generate_signer("liangshan.test/log")
    empty = service.sign_checkpoint(db_session, signer)
    assert (empty.tree_size, bytes(empty.root_hash)) == (0, merkle.EMPTY_ROOT)
    hashes = _fill(db_session, 5)
    cp = service.sign_checkpoint(db_session, signer)
    db_session.commit()
    assert service.sign_checkpoint(db_session, signer).id == cp.id  # no growth, no new head
    opened = note.open_checkpoint(cp.note, signer.verifier())
    assert (opened.origin, opened.size) == ("liangshan.test/log", 5)
    assert opened.root_hash == merkle.root_from_leaf_hashes(hashes)
    assert service.latest_checkpoint(db_session).tree_size == 5


def test_signing_key_is_generated_once_into_the_data_directory(db_session: Session) -> None:
    path = keys.key_dir() / keys.SIGNER_FILE
    assert not path.exists()
    first = service.current_checkpoint(db_session)
    signer = keys.load_signer()
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.load_signer().seed == signer.seed  # loaded, not regenerated
    assert keys.load_verifier() == signer.verifier()
    assert note.open_checkpoint(first.note, signer.verifier()).size == 0


def test_proof_bundle_verifies_offline_and_detects_tampering(db_session: Session) -> None:
    _fill(db_session, 11)
    bundle = service.proof_bundle(db_session, 7)
    db_session.commit()
    verifier = keys.load_verifier()
    cp, payload = service.verify_bundle(bundle, verifier)
    assert (cp.size, payload) == (11, canonical_json({"event": "harvest", "batch": "B007",
                                                      "kg": 7}))
    forged = dict(bundle, payload=base64.b64encode(b'{"batch":"B007","event":"harvest",'
                                                   b'"kg":700}').decode())
    with pytest.raises(merkle.ProofError):
        service.verify_bundle(forged, verifier)
    with pytest.raises(note.NoteError):
        service.verify_bundle(bundle, note.generate_signer(verifier.name).verifier())
    with pytest.raises(InvalidInput, match="malformed"):
        service.verify_bundle({"index": 7}, verifier)


def test_workers_racing_to_create_the_key_end_with_one_key(tmp_path) -> None:
    with ThreadPoolExecutor(4) as pool:
        signers = list(pool.map(lambda _: keys.load_signer(tmp_path / "k"), range(8)))
    assert len({s.seed for s in signers}) == 1
    assert keys.load_verifier(tmp_path / "k") == signers[0].verifier()


def test_empty_log_verifies_and_has_the_empty_root(db_session: Session) -> None:
    assert service.verify_log(db_session) == []
    assert service.root_hash(db_session) == merkle.EMPTY_ROOT
    assert service.log_size(db_session) == 0
