"""RFC 9162 (RFC 6962) Merkle tree hashing, proofs and their verification.

Pure functions, no storage. Three separate concerns, as in transparency-dev/merkle:

* **hashing** sits behind :class:`Hasher` (SHA-256 with the RFC's domain-separation
  prefixes: ``0x00`` for leaves, ``0x01`` for interior nodes);
* **which nodes?** — :func:`inclusion_ranges`, :func:`consistency_ranges` and
  :func:`perfect_subtrees` only do index arithmetic. A proof element is the Merkle
  tree hash of a leaf range ``[begin, end)``; every such range is a run of
  *perfect* (complete) subtrees, addressed as ``(level, index)``: the subtree at
  ``(level, index)`` covers leaves ``[index·2^level, (index+1)·2^level)``. A store
  keeps perfect-subtree hashes and never needs to rehash leaf payloads;
* **verify these hashes** — :func:`verify_inclusion` and :func:`verify_consistency`
  need nothing but the proof, the leaf hash, the tree sizes and the roots; they
  follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

Sizes and indices are counts of leaves (integers ≥ 0); hashes are 32-byte
``bytes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from liangshan.errors import InvalidInput

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32

Node = tuple[int, int]
"""A perfect subtree ``(level, index)``; it covers leaves [index·2^level, (index+1)·2^level)."""

LeafRange = tuple[int, int]
"""A half-open range of leaf indices ``[begin, end)``."""


class ProofError(InvalidInput):
    """A proof that does not check out (wrong length, wrong sizes, wrong root)."""

    code = "proof_invalid"


class RootMismatch(ProofError):
    """The proof is well formed but recomputes another root than the one expected."""

    code = "root_mismatch"

    def __init__(self, computed: bytes, expected: bytes, *, what: str) -> None:
        self.computed = computed
        self.expected = expected
        super().__init__(
            f"{what}: the proof gives root {computed.hex()} but the expected root is "
            f"{expected.hex()}",
            hint="the entry is not in this tree, or the proof, sizes or root were altered",
        )


@dataclass(frozen=True)
class Hasher:
    """RFC 6962 hashing: SHA-256 with leaf prefix 0x00 and node prefix 0x01."""

    name: str = "sha256"

    @property
    def size(self) -> int:
        return hashlib.new(self.name).digest_size

    def empty_root(self) -> bytes:
        """MTH({}) = HASH() — the hash of the empty string."""
        return hashlib.new(self.name).digest()

    def hash_leaf(self, data: bytes) -> bytes:
        """MTH({d0}) = HASH(0x00 || d0)."""
        return hashlib.new(self.name, LEAF_PREFIX + data).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """HASH(0x01 || left || right)."""
        return hashlib.new(self.name, NODE_PREFIX + left + right).digest()


RFC6962 = Hasher()
EMPTY_ROOT = RFC6962.empty_root()


def hash_leaf(data: bytes) -> bytes:
    """RFC 6962 leaf hash of ``data`` (SHA-256 of 0x00 || data), 32 bytes."""
    return RFC6962.hash_leaf(data)


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash (SHA-256 of 0x01 || left || right), 32 bytes."""
    return RFC6962.hash_children(left, right)


# ---------------------------------------------------------------- which nodes?


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(index: int, size: int, *, what: str) -> None:
    if size < 0 or index < 0:
        raise ProofError(f"{what}: negative index {index} or size {size}",
                         hint="leaf indices and tree sizes count leaves from 0")


def perfect_subtrees(begin: int, end: int) -> list[Node]:
    """The perfect subtrees ``(level, index)`` that tile ``[begin, end)``, left to right.

    Precondition: ``begin`` is a multiple of the largest power of two ≤ end − begin,
    which holds for the tree itself (begin = 0) and for every range a proof names.
    The Merkle tree hash of the range folds their hashes from the right
    (:func:`fold_right`).
    """
    if not 0 <= begin <= end:
        raise ProofError(f"leaf range [{begin}, {end}) is not a range",
                         hint="give 0 ≤ begin ≤ end")
    nodes: list[Node] = []
    pos, remaining = begin, end - begin
    while remaining:
        level = remaining.bit_length() - 1
        if pos % (1 << level):
            raise ProofError(f"leaf range [{begin}, {end}) is not aligned to the tree",
                             hint="only ranges that occur in RFC 9162 proofs are supported")
        nodes.append((level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return nodes


def fold_right(hashes: Sequence[bytes], hasher: Hasher = RFC6962) -> bytes:
    """Combine the hashes of consecutive perfect subtrees (largest first) into one root."""
    if not hashes:
        return hasher.empty_root()
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hasher.hash_children(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """Leaf ranges whose tree hashes form PATH(index, D[size]) (RFC 9162 §2.1.3.1).

    Ordered from the leaf up to the root, as the proof is. Requires 0 ≤ index < size.
    """
    _check_size(index, size, what="inclusion proof")
    if index >= size:
        raise ProofError(f"inclusion proof: leaf index {index} is not below tree size {size}",
                         hint="ask for a tree size larger than the index")
    ranges: list[LeafRange] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[LeafRange]:
    """Leaf ranges whose tree hashes form PROOF(first, D[second]) (RFC 9162 §2.1.4.1).

    Requires 0 ≤ first ≤ second; the proof is empty when first is 0 or equals second.
    """
    _check_size(first, second, what="consistency proof")
    if first > second:
        raise ProofError(f"consistency proof: first size {first} exceeds second size {second}",
                         hint="the first tree must be the older, smaller one")
    if first in (0, second):
        return []
    ranges: list[LeafRange] = []
    m, begin, end, whole = first, 0, second, True
    while True:
        n = end - begin
        if m == n:
            if not whole:
                ranges.append((begin, end))
            break
        k = _split(n)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            m -= k
            begin += k
            whole = False
    ranges.reverse()
    return ranges


# ------------------------------------------------- proofs over an in-memory tree


def subtree_hashes_from_leaves(
    leaf_hashes: Sequence[bytes], hasher: Hasher = RFC6962
) -> Callable[[int, int], bytes]:
    """A ``(level, index) -> hash`` lookup over leaf hashes held in memory (memoised)."""
    memo: dict[Node, bytes] = {}

    def node(level: int, index: int) -> bytes:
        if level == 0:
            return leaf_hashes[index]
        key = (level, index)
        if key not in memo:
            memo[key] = hasher.hash_children(node(level - 1, 2 * index),
                                             node(level - 1, 2 * index + 1))
        return memo[key]

    return node


def range_hash(begin: int, end: int, node: Callable[[int, int], bytes],
               hasher: Hasher = RFC6962) -> bytes:
    """Merkle tree hash of leaves [begin, end) from a perfect-subtree lookup."""
    return fold_right([node(lv, ix) for lv, ix in perfect_subtrees(begin, end)], hasher)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes], hasher: Hasher = RFC6962) -> bytes:
    """MTH(D[n]) of a tree given its leaf hashes (32 bytes each)."""
    # A stack of (level, hash) of the perfect subtrees so far: O(log n) memory.
    stack: list[tuple[int, bytes]] = []
    for h in leaf_hashes:
        level = 0
        while stack and stack[-1][0] == level:
            h = hasher.hash_children(stack.pop()[1], h)
            level += 1
        stack.append((level, h))
    return fold_right([h for _, h in stack], hasher)


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes],
                    hasher: Hasher = RFC6962) -> list[bytes]:
    """PATH(index, D[n]) for the tree of ``leaf_hashes`` (n = its length)."""
    node = subtree_hashes_from_leaves(leaf_hashes, hasher)
    return [range_hash(b, e, node, hasher) for b, e in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(first: int, leaf_hashes: Sequence[bytes],
                      hasher: Hasher = RFC6962) -> list[bytes]:
    """PROOF(first, D[n]) for the tree of ``leaf_hashes`` (n = its length)."""
    node = subtree_hashes_from_leaves(leaf_hashes, hasher)
    return [range_hash(b, e, node, hasher)
            for b, e in consistency_ranges(first, len(leaf_hashes))]


# ----------------------------------------------------------- verify these hashes


def _check_hashes(proof: Sequence[bytes], hasher: Hasher, *, what: str) -> None:
    size = hasher.size
    for i, h in enumerate(proof):
        if not isinstance(h, bytes | bytearray) or len(h) != size:
            raise ProofError(f"{what}: proof element {i} is not a {size}-byte hash",
                             hint="decode each proof hash from base64 or hex to raw bytes")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes],
                              hasher: Hasher = RFC6962) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1–5)."""
    what = f"inclusion proof of leaf {index} in tree size {size}"
    _check_size(index, size, what=what)
    if index >= size:
        raise ProofError(f"{what}: the index is not below the size",
                         hint="a tree of size n holds leaves 0 … n−1")
    _check_hashes([leaf_hash, *proof], hasher, what=what)
    expected = len(inclusion_ranges(index, size))
    if len(proof) != expected:
        raise ProofError(f"{what}: the proof has {len(proof)} hashes, expected {expected}",
                         hint="the proof was truncated, padded, or made for another size")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError(f"{what}: the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = hasher.hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hasher.hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{what}: the proof is shorter than the path to the root")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes],
                     root: bytes, hasher: Hasher = RFC6962) -> None:
    """Check that the leaf with hash ``leaf_hash`` sits at ``index`` in the tree ``root``.

    Raises :class:`ProofError` (or :class:`RootMismatch`) if it does not; returns None.
    """
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof, hasher)
    if computed != root:
        raise RootMismatch(computed, bytes(root),
                           what=f"inclusion proof of leaf {index} in tree size {size}")


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes,
                       second_root: bytes, hasher: Hasher = RFC6962) -> None:
    """Check that the tree ``second_root`` (size ``second``) extends ``first_root``.

    RFC 9162 §2.1.4.2, with the edge cases first: second < first is refused; equal
    sizes need an empty proof and equal roots; a first size of 0 needs an empty proof.
    Raises :class:`ProofError` (or :class:`RootMismatch`); returns None.
    """
    what = f"consistency proof from size {first} to size {second}"
    _check_size(first, second, what=what)
    if second < first:
        raise ProofError(f"{what}: the second tree is smaller than the first",
                         hint="a log only grows; give the older, smaller tree first")
    _check_hashes(proof, hasher, what=what)
    if first == second:
        if proof:
            raise ProofError(f"{what}: equal sizes need an empty proof, got {len(proof)} hashes")
        if first_root != second_root:
            raise RootMismatch(bytes(second_root), bytes(first_root), what=what)
        return
    if first == 0:
        if proof:
            raise ProofError(f"{what}: a proof from the empty tree must be empty")
        return
    expected = len(consistency_ranges(first, second))
    if len(proof) != expected:
        raise ProofError(f"{what}: the proof has {len(proof)} hashes, expected {expected}",
                         hint="the proof was truncated, padded, or made for other sizes")
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: a power of two is itself a node of the new tree
        path.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"{what}: the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = hasher.hash_children(c, fr)
            sr = hasher.hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hasher.hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{what}: the proof is shorter than the path to the root")
    if fr != first_root:
        raise RootMismatch(fr, bytes(first_root), what=f"{what} (first tree)")
    if sr != second_root:
        raise RootMismatch(sr, bytes(second_root), what=f"{what} (second tree)")
