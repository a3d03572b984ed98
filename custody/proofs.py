"""Proofs from the stored tree: which complete subtrees a proof reads, fetched in one query.

Every proof and root reads only the stored complete subtrees it needs (O(log n) nodes), never a
scan of the events.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.errors import IntegrityFailure, ValidationFailed
from custody.ledger import merkle
from custody.models import HEAD_ID, node_position

_PLACEHOLDER = bytes(merkle.HASH_SIZE)


class LedgerCorrupted(IntegrityFailure):
    """A stored node a proof needs is missing: the node table no longer matches the log."""

    title = "Ledger storage is inconsistent"


# --- reading stored nodes ---------------------------------------------------------------------


def _needed_nodes(compute: Callable[[merkle.GetNode], Any]) -> set[tuple[int, int]]:
    """Which stored nodes `compute` reads; the tree shape, not the hashes, decides them."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _PLACEHOLDER

    compute(record)
    return wanted


_NODE_CHUNK = 500  # positions per SQLite statement, under every SQLite's parameter limit
_PG_FETCH = "SELECT position, hash FROM ledger_nodes WHERE position = ANY(%s::bigint[])"
_SQLITE_FETCH: dict[int, str] = {}


def _sqlite_fetch(count: int) -> str:
    """`position IN (?, ...)`: rowid lookups; one statement text per count (SQLite's statement cache)."""
    sql = _SQLITE_FETCH.get(count)
    if sql is None:
        marks = ", ".join(["?"] * count)
        sql = _SQLITE_FETCH[count] = f"SELECT position, hash FROM ledger_nodes WHERE position IN ({marks})"
    return sql


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored nodes by (level, index): one key lookup query (per 500 wanted on SQLite).

    Plain SQL on the session's connection: a proof needs a few dozen primary-key lookups, and
    building and compiling a SQLAlchemy expression for them cost several times the lookups.
    """
    connection = session.connection()
    return read_nodes(lambda sql, params: connection.exec_driver_sql(sql, params).fetchall(),
                      connection.dialect.name, keys)


def read_nodes(query: Callable[[str, Any], list], dialect: str,
               keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """`fetch_nodes` through `query(sql, parameters) -> rows`, which runs the driver's own SQL.

    PostgreSQL takes the positions as one array, one statement text whatever the count, so
    psycopg prepares it once. Rows are matched to what was asked by position (`node_position`).
    """
    wanted = {node_position(level, index): (level, index) for level, index in set(keys)}
    if not wanted:
        return {}
    positions = sorted(wanted)
    if dialect == "postgresql":
        return {wanted[position]: bytes(node) for position, node in query(_PG_FETCH, (positions,))}
    nodes: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(positions), _NODE_CHUNK):
        chunk = tuple(positions[start:start + _NODE_CHUNK])
        nodes.update((wanted[position], bytes(node)) for position, node in query(_sqlite_fetch(len(chunk)), chunk))
    return nodes


def with_stored_nodes(session: Session, compute: Callable[[merkle.GetNode], Any],
                      also: Iterable[tuple[int, int]] = (), *, keys: Iterable[tuple[int, int]] | None = None) -> Any:
    """Run a Merkle computation over stored nodes with one batched read (plus nodes `also` wanted).

    `keys`, when the caller knows them, are the nodes `compute` reads; otherwise a dry run of
    `compute` finds them.
    """
    wanted = set(_needed_nodes(compute) if keys is None else keys)
    wanted.update(also)
    nodes = fetch_nodes(session, wanted)

    def get_node(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LedgerCorrupted(f"stored ledger node ({level}, {index}) is missing") from None

    return compute(get_node)


# --- which stored nodes a proof reads: merkle.py's recursion, without the hashing ---------------
# Each mirrors the function of merkle.py it names; tests hold them to the dry run of that function.


def _subtree_keys(start: int, end: int, keys: list[tuple[int, int]]) -> None:
    """merkle.subtree_root(start, end): the complete subtrees named by the digits of the length."""
    count = end - start
    position = start
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            keys.append((level, position >> level))
            position += 1 << level


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_keys(index: int, size: int) -> list[tuple[int, int]]:
    """The stored nodes merkle.inclusion_proof(index, size) reads (none for arguments it refuses)."""
    keys: list[tuple[int, int]] = []
    if not (_is_size(index) and _is_size(size) and index < size):
        return keys
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            _subtree_keys(start + k, end, keys)
            end = start + k
        else:
            _subtree_keys(start, start + k, keys)
            start += k
    return keys


def consistency_keys(first: int, second: int) -> list[tuple[int, int]]:
    """The stored nodes merkle.consistency_proof(first, second) reads (none for arguments it refuses)."""
    keys: list[tuple[int, int]] = []
    if not (_is_size(first) and _is_size(second)) or first == 0 or first >= second:
        return keys
    start, end, remaining, on_left_edge = 0, second, first, True
    while remaining != end - start:
        k = _split(end - start)
        if remaining <= k:
            _subtree_keys(start + k, end, keys)
            end = start + k
        else:
            _subtree_keys(start, start + k, keys)
            start += k
            remaining -= k
            on_left_edge = False
    if not on_left_edge:
        _subtree_keys(start, end, keys)
    return keys


# --- tree heads and proofs --------------------------------------------------------------------


def tree_size(session: Session) -> int:
    """The number of leaves appended and committed (0 for a new ledger)."""
    connection = session.connection()
    placeholder = "%s" if connection.dialect.name == "postgresql" else "?"
    row = connection.exec_driver_sql(f"SELECT size FROM ledger_head WHERE id = {placeholder}", (HEAD_ID,)).first()
    return (row[0] if row is not None else 0) or 0


def stored_root(session: Session, size: int) -> bytes:
    return with_stored_nodes(session, lambda get: merkle.tree_root(get, size))


def _check_size(name: str, value: int, current: int) -> None:
    if value > current:
        raise ValidationFailed(f"{name} {value} is beyond the ledger's size {current}",
                               errors={name: [f"at most the current tree size, {current}"]})


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[str]


def inclusion_proof(session: Session, index: int, size: int | None = None) -> InclusionProof:
    """Audit path for leaf `index` in the tree of `size` leaves (the current tree by default)."""
    current = tree_size(session)
    size = current if size is None else size
    _check_size("tree_size", size, current)
    if index >= size:
        raise ValidationFailed(f"index {index} is not below tree size {size}",
                               errors={"index": [f"must be below tree_size ({size})"]})
    leaf, path = with_stored_nodes(
        session, lambda get: (get(0, index), merkle.inclusion_proof(get, index, size)), also=[(0, index)],
        keys=inclusion_keys(index, size))
    return InclusionProof(index=index, tree_size=size, leaf_hash=leaf.hex(), audit_path=[node.hex() for node in path])


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """RFC 9162 proof that the tree of `second` leaves extends the tree of `first`."""
    current = tree_size(session)
    second = current if second is None else second
    _check_size("second", second, current)
    if first > second:
        raise ValidationFailed(f"first {first} is beyond second {second}", errors={"first": ["at most second"]})
    proof = with_stored_nodes(session, lambda get: merkle.consistency_proof(get, first, second),
                              keys=consistency_keys(first, second))
    return ConsistencyProof(first=first, second=second, proof=[node.hex() for node in proof])

