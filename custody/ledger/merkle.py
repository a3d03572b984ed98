"""Merkle tree math for the custody ledger, exactly as RFC 9162 section 2.1.

Hashing is domain separated so that a leaf can never be passed off as an
interior node: ``leaf_hash = SHA-256(0x00 || leaf)`` and
``node_hash = SHA-256(0x01 || left || right)``. The tree over ``n`` leaves
splits at ``k``, the largest power of two smaller than ``n``, so every tree
any RFC 6962/9162 verifier builds is the tree built here.

Stored nodes: the (level, index) scheme
---------------------------------------
The server never keeps a whole tree in memory. When a leaf is appended, every
subtree that the new leaf completes is hashed once and stored for good under
``(level, index)``: the hash of the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds the leaf hashes.
Such a node is written once and never changes, because later leaves never
fall inside its range; this is what makes the store append-only.

A tree of ``size`` leaves is not always complete, but its root is always a
short chain over the complete subtrees given by the binary digits of
``size``: for 13 = 8 + 4 + 1 it is
``node_hash(N(3, 0), node_hash(N(2, 2), N(0, 12)))``. The same holds for
every range the RFC recursion visits, so roots, inclusion proofs and
consistency proofs each need only O(log n) reads of stored nodes.

Verification follows transparency-dev/merkle's paired verbs:
``root_from_inclusion_proof`` computes a root, ``verify_inclusion`` compares
it with the expected one (likewise for consistency). Inputs are checked before
any hashing, and every failure is a ``VerificationError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "GetNode",
    "MemoryNodeStore",
    "ProofError",
    "ProofInputError",
    "RootMismatchError",
    "VerificationError",
    "completed_subtrees",
    "consistency_proof",
    "hash_from_hex",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "subtree_root",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

GetNode = Callable[[int, int], bytes]
"""Reads the stored hash of the complete subtree at (level, index)."""


class VerificationError(Exception):
    """Base of every ledger verification failure.

    ``code`` is a stable, machine-readable problem name for reports and
    problem+json bodies; the message is for people.
    """

    code = "verification_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ProofError(VerificationError):
    """A Merkle proof did not hold; carries the roots when they are known."""

    code = "proof_invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        expected_root: bytes | None = None,
        calculated_root: bytes | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.expected_root = expected_root
        self.calculated_root = calculated_root


class ProofInputError(ProofError):
    """Rejected before hashing: bad sizes, index, hash length or proof length."""

    code = "proof_malformed"


class RootMismatchError(ProofError):
    """The root computed from a proof differs from the one that was expected."""

    code = "root_mismatch"

    def __init__(
        self, message: str, *, expected_root: bytes, calculated_root: bytes, code: str | None = None
    ) -> None:
        super().__init__(
            f"{message}: calculated {calculated_root.hex()}, expected {expected_root.hex()}",
            code=code,
            expected_root=expected_root,
            calculated_root=calculated_root,
        )


def leaf_hash(leaf_bytes: bytes) -> bytes:
    """RFC 9162 leaf hash; the 0x00 prefix keeps leaves apart from nodes."""
    return hashlib.sha256(LEAF_PREFIX + bytes(leaf_bytes)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash over two child hashes."""
    return hashlib.sha256(NODE_PREFIX + bytes(left) + bytes(right)).digest()


def hash_from_hex(text: str, *, name: str = "hash") -> bytes:
    """Decode a hash as it travels in the API: exactly 64 lowercase hex digits."""
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE or text.strip("0123456789abcdef"):
        raise ProofInputError(f"{name} must be {2 * HASH_SIZE} lowercase hex digits")
    return bytes.fromhex(text)


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofInputError(f"{name} must be a non-negative integer, got {value!r}")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise ProofInputError(f"{name} must be {HASH_SIZE} bytes, got {got}")


def _check_proof(proof: Sequence[bytes], expected_length: int) -> None:
    if len(proof) != expected_length:
        raise ProofInputError(f"proof has {len(proof)} hashes, expected {expected_length}")
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)


def _read_node(get_node: GetNode, level: int, index: int) -> bytes:
    node = get_node(level, index)
    if not isinstance(node, (bytes, bytearray)) or len(node) != HASH_SIZE:
        raise ValueError(f"stored node ({level}, {index}) is not a {HASH_SIZE}-byte hash")
    return bytes(node)


# --- building: the storage-friendly side ------------------------------------------------


def completed_subtrees(
    leaf_index: int, leaf_hash: bytes, get_node: GetNode
) -> list[tuple[int, int, bytes]]:
    """The (level, index, hash) nodes that appending leaf ``leaf_index`` completes.

    The first is the leaf itself at level 0. While the new node is a right
    child (odd index) its left sibling is already complete and stored, so the
    parent completes too: one read per level, 1 + (trailing one bits of
    ``leaf_index``) nodes in all.
    """
    _check_size("leaf_index", leaf_index)
    _check_hash("leaf_hash", leaf_hash)
    level, index, current = 0, leaf_index, bytes(leaf_hash)
    nodes = [(level, index, current)]
    while index & 1:
        current = node_hash(_read_node(get_node, level, index - 1), current)
        level, index = level + 1, index >> 1
        nodes.append((level, index, current))
    return nodes


def subtree_root(get_node: GetNode, start: int, end: int) -> bytes:
    """Hash of leaves [start, end) in the RFC shape, from stored complete subtrees.

    The range is one the RFC recursion can visit: ``start`` is a multiple of
    the largest power of two not above ``end - start``. It is then a chain of
    the complete subtrees named by the binary digits of its length, read with
    at most log2(n) + 1 calls to ``get_node``.
    """
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        raise ValueError(f"subtree range [{start}, {end}) is empty or negative")
    count = end - start
    top_level = count.bit_length() - 1
    if start % (1 << top_level):
        raise ValueError(f"subtree range [{start}, {end}) is not aligned to 2**{top_level}")
    parts = []
    position = start
    for level in range(top_level, -1, -1):
        if count >> level & 1:
            parts.append(_read_node(get_node, level, position >> level))
            position += 1 << level
    root = parts.pop()
    while parts:
        root = node_hash(parts.pop(), root)
    return root


def tree_root(get_node: GetNode, size: int) -> bytes:
    """Root of the tree holding the first ``size`` leaves (EMPTY_ROOT for 0)."""
    _check_size("size", size)
    return EMPTY_ROOT if size == 0 else subtree_root(get_node, 0, size)


def inclusion_proof(get_node: GetNode, index: int, size: int) -> list[bytes]:
    """RFC 9162 audit path for leaf ``index`` in the tree of ``size``, leaf end first.

    Descends the RFC recursion taking the sibling range at each split. Left
    siblings are complete (one read); only the first right sibling can be a
    right edge, and below it every sibling is complete, so the total stays
    O(log n).
    """
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofInputError(f"index {index} is beyond tree size {size}")
    path = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_root(get_node, start + k, end))
            end = start + k
        else:
            path.append(subtree_root(get_node, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(get_node: GetNode, first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency proof from tree size ``first`` to ``second``.

    Empty when ``first`` is 0 or equals ``second``: every tree extends the
    empty tree and itself.
    """
    _check_size("first", first)
    _check_size("second", second)
    if first > second:
        raise ProofInputError(f"first size {first} is beyond second size {second}")
    if first == 0 or first == second:
        return []
    proof = []
    start, end, remaining, on_left_edge = 0, second, first, True
    while remaining != end - start:
        k = _split(end - start)
        if remaining <= k:
            proof.append(subtree_root(get_node, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(get_node, start, start + k))
            start += k
            remaining -= k
            on_left_edge = False
    if not on_left_edge:
        proof.append(subtree_root(get_node, start, end))
    proof.reverse()
    return proof


class MemoryNodeStore:
    """An in-memory (level, index) node store, for tests and small offline tools."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def get_node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash and store the nodes it completes; returns them."""
        completed = completed_subtrees(self.size, leaf_hash, self.get_node)
        for level, index, node in completed:
            self.nodes[(level, index)] = node
        self.size += 1
        return completed

    def root(self, size: int | None = None) -> bytes:
        return tree_root(self.get_node, self.size if size is None else size)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Root over raw leaf bytes, built through the same store path the server uses."""
    store = MemoryNodeStore()
    for leaf in leaves:
        store.append(leaf_hash(leaf))
    return store.root()


# --- verifying: the auditor's side ------------------------------------------------------


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """Split an audit path into its inner part (below where the paths to
    ``index`` and ``size - 1`` meet) and its border part (left siblings above)."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, path: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(path):
        seed = node_hash(seed, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, path: Sequence[bytes], index: int) -> bytes:
    """Like _chain_inner but only left siblings count: the subtree's older version."""
    for level, sibling in enumerate(path):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, path: Sequence[bytes]) -> bytes:
    for sibling in path:
        seed = node_hash(sibling, seed)
    return seed


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for leaf ``index`` in a tree of ``size``."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofInputError(f"index {index} is beyond tree size {size}")
    _check_hash("leaf_hash", leaf_hash)
    inner, border = _inclusion_shape(index, size)
    _check_proof(proof, inner + border)
    root = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(root, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``proof`` shows leaf ``index`` is in the tree with ``root``."""
    _check_hash("root", root)
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if calculated != root:
        raise RootMismatchError(
            f"inclusion proof for leaf {index} in tree of size {size} does not hold",
            expected_root=bytes(root),
            calculated_root=calculated,
        )


def root_from_consistency_proof(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes
) -> bytes:
    """The root of tree ``second`` that ``proof`` implies from tree ``first``.

    Checks on the way that the proof reproduces ``first_root``. Requires
    0 < first <= second: nothing about a larger tree follows from the empty one.
    """
    _check_size("first", first)
    _check_size("second", second)
    _check_hash("first_root", first_root)
    if first > second:
        raise ProofInputError(f"first size {first} is beyond second size {second}")
    if first == second:
        _check_proof(proof, 0)
        return bytes(first_root)
    if first == 0:
        raise ProofInputError("a consistency proof from the empty tree cannot compute a root")
    inner, border = _inclusion_shape(first - 1, second)
    shift = (first & -first).bit_length() - 1
    inner -= shift
    # Unless ``first`` is itself a power of two (then its root is the seed),
    # the proof opens with the hash of the largest complete subtree it ends in.
    seeded_by_root = first == 1 << shift
    _check_proof(proof, (0 if seeded_by_root else 1) + inner + border)
    seed = bytes(first_root) if seeded_by_root else bytes(proof[0])
    path = proof if seeded_by_root else proof[1:]
    mask = (first - 1) >> shift

    calculated_first = _chain_border_right(_chain_inner_right(seed, path[:inner], mask), path[inner:])
    if calculated_first != first_root:
        raise RootMismatchError(
            f"consistency proof does not reproduce the root of size {first}",
            expected_root=bytes(first_root),
            calculated_root=calculated_first,
        )
    return _chain_border_right(_chain_inner(seed, path[:inner], mask), path[inner:])


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raise unless ``proof`` shows tree ``second`` extends tree ``first``.

    The empty tree is consistent with every tree, with an empty proof, but
    only if its claimed root really is EMPTY_ROOT.
    """
    _check_size("first", first)
    _check_size("second", second)
    _check_hash("first_root", first_root)
    _check_hash("second_root", second_root)
    if first == 0 and second >= first:
        _check_proof(proof, 0)
        if first_root != EMPTY_ROOT:
            raise RootMismatchError(
                "a tree of size 0 must have the empty root",
                expected_root=EMPTY_ROOT,
                calculated_root=bytes(first_root),
            )
        if second == 0 and second_root != EMPTY_ROOT:
            raise RootMismatchError(
                "a tree of size 0 must have the empty root",
                expected_root=EMPTY_ROOT,
                calculated_root=bytes(second_root),
            )
        return
    calculated = root_from_consistency_proof(first, second, proof, first_root)
    if calculated != second_root:
        raise RootMismatchError(
            f"consistency proof from size {first} to {second} does not hold",
            expected_root=bytes(second_root),
            calculated_root=calculated,
        )
