"""RFC 9162 Merkle tree: published vectors, a literal reading of the RFC, properties.

Vectors: the 8-leaf tree shared by certificate-transparency and
transparency-dev/merkle (``testonly/constants.go``: leaf inputs, node hashes and
root hashes; ``proof/verify_test.go``: inclusion and consistency proofs).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liangshan.ledger import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (0-based leaf index, tree size, proof) from transparency-dev/merkle proof/verify_test.go
INCLUSION = [
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
CONSISTENCY = [
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]


# ------------------------------------ a literal reading of RFC 9162 §2.1, for tests


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 writes it (recursive, on leaf inputs)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# -------------------------------------------------------------- published vectors


def test_empty_root_is_sha256_of_nothing() -> None:
    """RFC 9162 §2.1.1: MTH({}) = SHA-256() = e3b0c442…b855."""
    assert ROOTS[0] == merkle.EMPTY_ROOT
    assert merkle.root_from_leaf_hashes([]) == ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_published_tree(size: int) -> None:
    """Roots of the first 0…8 leaves equal transparency-dev/merkle RootHashes()."""
    leaf_hashes = [merkle.hash_leaf(x) for x in LEAVES[:size]]
    assert merkle.root_from_leaf_hashes(leaf_hashes) == ROOTS[size]
    assert ref_mth(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    leaf_hashes = [merkle.hash_leaf(x) for x in LEAVES[:size]]
    assert merkle.inclusion_proof(index, leaf_hashes) == proof
    merkle.verify_inclusion(index, size, leaf_hashes[index], proof, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_published_consistency_proofs(first: int, second: int, proof: list[bytes]) -> None:
    leaf_hashes = [merkle.hash_leaf(x) for x in LEAVES[:second]]
    assert merkle.consistency_proof(first, leaf_hashes) == proof
    merkle.verify_consistency(first, second, proof, ROOTS[first], ROOTS[second])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_probes_fail(index: int, size: int, proof: list[bytes]) -> None:
    """The probes of transparency-dev's corruptInclusionProof: every one must fail."""
    leaf = merkle.hash_leaf(LEAVES[index])
    root = ROOTS[size]
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, root, leaf, proof), (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof), (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof), (index, size, root, b"WrongLeaf", proof),
        (index, size, ROOTS[0], leaf, proof), (index, size, some, leaf, proof),
        (index, size, root, leaf, [*proof, b""]), (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]), (index, size, root, leaf, [root, *proof]),
        (index, size, root, leaf, proof[:-1]), (index, size, root, leaf, [proof[0], some,
                                                                          *proof[1:]]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, root, leaf, bad))
    for p_index, p_size, p_root, p_leaf, p_proof in probes:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(p_index, p_size, p_leaf, p_proof, p_root)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_corrupted_consistency_probes_fail(first: int, second: int, proof: list[bytes]) -> None:
    """The probes of transparency-dev's corruptConsistencyProof: every one must fail."""
    r1, r2 = ROOTS[first], ROOTS[second]
    probes = [
        (first - 1, second, r1, r2, proof), (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof), (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof), (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof), (first, second, r2, r1, proof),
        (first, second, r1, r2, []), (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]), (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]), (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]), (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    for p in probes:
        if p[0] == p[1] == 0 or (p[0] == 0 and not p[4]):
            continue  # trivially consistent by definition, not a corruption
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(p[0], p[1], p[4], p[2], p[3])


def test_consistency_edge_cases() -> None:
    """Edge cases of transparency-dev TestVerifyConsistency."""
    merkle.verify_consistency(0, 0, [], ROOTS[0], ROOTS[0])
    merkle.verify_consistency(0, 1, [], b"don't care 1", b"don't care 2")
    merkle.verify_consistency(1, 1, [], ROOTS[1], ROOTS[1])
    for first, second, r1, r2, proof in [
        (0, 0, b"r1", b"r2", []), (1, 1, b"r1", b"r2", []), (1, 0, b"r1", b"r2", []),
        (2, 1, b"r1", b"r2", []), (1, 2, b"r1", b"r2", []),
        (0, 0, ROOTS[0], ROOTS[0], [ROOTS[0]]), (0, 1, ROOTS[0], ROOTS[0], [ROOTS[0]]),
        (1, 1, ROOTS[0], ROOTS[0], [ROOTS[0]]),
    ]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(first, second, proof, r1, r2)


def test_out_of_range_index_names_index_and_size() -> None:
    with pytest.raises(merkle.ProofError, match="leaf index 8 is not below tree size 8"):
        merkle.inclusion_ranges(8, 8)


# ------------------------------------------------------------------ properties


def _tree(size: int) -> tuple[list[bytes], list[bytes]]:
    data = [i.to_bytes(4, "big") for i in range(size)]
    return data, [merkle.hash_leaf(x) for x in data]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_matches_the_rfc_and_verifies(case: tuple[int, int]) -> None:
    size, index = case
    data, leaf_hashes = _tree(size)
    proof = merkle.inclusion_proof(index, leaf_hashes)
    assert proof == ref_path(index, data)
    merkle.verify_inclusion(index, size, leaf_hashes[index], proof, ref_mth(data))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_every_consistency_proof_matches_the_rfc_and_verifies(case: tuple[int, int]) -> None:
    second, first = case
    data, leaf_hashes = _tree(second)
    proof = merkle.consistency_proof(first, leaf_hashes)
    assert proof == ref_subproof(first, data, True)
    merkle.verify_consistency(first, second, proof, ref_mth(data[:first]), ref_mth(data))


def test_all_small_trees_exhaustively() -> None:
    """Every (index, size) and every (first, second) up to 33 leaves verifies."""
    _, leaf_hashes = _tree(33)
    roots = [merkle.root_from_leaf_hashes(leaf_hashes[:n]) for n in range(34)]
    for n in range(1, 34):
        for i in range(n):
            merkle.verify_inclusion(i, n, leaf_hashes[i],
                                    merkle.inclusion_proof(i, leaf_hashes[:n]), roots[n])
        for m in range(0, n + 1):
            merkle.verify_consistency(m, n, merkle.consistency_proof(m, leaf_hashes[:n]),
                                      roots[m], roots[n])


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n - 1), st.integers(0, 10_000), st.integers(0, 7))))
def test_flipping_any_bit_of_an_inclusion_proof_fails(case: tuple[int, int, int, int]) -> None:
    size, index, pos, bit = case
    _, leaf_hashes = _tree(size)
    proof = merkle.inclusion_proof(index, leaf_hashes)
    root = merkle.root_from_leaf_hashes(leaf_hashes)
    blob = bytearray(b"".join([leaf_hashes[index], *proof, root]))
    blob[pos % len(blob)] ^= 1 << bit
    parts = [bytes(blob[i:i + 32]) for i in range(0, len(blob), 32)]
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, parts[0], parts[1:-1], parts[-1])


@settings(max_examples=80, deadline=None)
@given(st.integers(3, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, n - 1), st.integers(0, 10_000), st.integers(0, 7))))
def test_flipping_any_bit_of_a_consistency_proof_fails(case: tuple[int, int, int, int]) -> None:
    second, first, pos, bit = case
    _, leaf_hashes = _tree(second)
    proof = merkle.consistency_proof(first, leaf_hashes)
    r1 = merkle.root_from_leaf_hashes(leaf_hashes[:first])
    r2 = merkle.root_from_leaf_hashes(leaf_hashes)
    blob = bytearray(b"".join([r1, *proof, r2]))
    blob[pos % len(blob)] ^= 1 << bit
    parts = [bytes(blob[i:i + 32]) for i in range(0, len(blob), 32)]
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first, second, parts[1:-1], parts[0], parts[-1])


def test_perfect_subtrees_tile_the_range() -> None:
    assert merkle.perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(merkle.ProofError, match="not aligned"):
        merkle.perfect_subtrees(1, 5)
