"""The append service: custody events enter the ledger inside the caller's transaction.

The log is one sequence over the whole organisation. An event exists exactly when the work it
records was committed, and the one-row `LedgerHead` serialises writers: indices are gap-free
because a rolled-back caller also rolls back its index. The leaf is `canonical_leaf` (RFC 8785
through `core.canonical`); the statements are SQLAlchemy's, run on the session's cursor (`_Statements`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ValidationFailed
from custody.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, canonical_leaf, leaf_hash_hex
from custody.ledger.merkle import completed_subtrees
from custody.models import EVENT_TYPES, HEAD_ID, CustodyEvent, LedgerHead, LedgerNode, node_position
from custody.proofs import LedgerCorrupted, read_nodes

_FIELDS = frozenset({"type", "evidence_id", "subject_id", "actor_id", "sha256", "case_id", "details", "at"})


def format_at(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds: what both databases keep, so leaves rebuild exactly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused: custody times are aware")
    moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y does not pad on every platform: keep its answer
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def leaf_event(*, index: int, type: str, evidence_id: str | None, actor_id: str, at: datetime,
               sha256: str | None, prev_leaf_hash: str, case_id: str | None = None,
               details: dict | None = None, subject_id: str | None = None) -> dict[str, Any]:
    """The fields that enter a leaf, from an event's columns (also used to re-check stored leaves).

    The leaf's `evidence_id` is the evidence item's id, or else the event's other subject (a
    packet, a key, a run): one field, as in every leaf written before the columns were split.
    """
    event: dict[str, Any] = {
        "index": index, "type": type, "evidence_id": subject_id if evidence_id is None else evidence_id,
        "actor_id": actor_id, "at": format_at(at), "sha256": sha256, "prev_leaf_hash": prev_leaf_hash,
    }
    if case_id is not None:
        event["case_id"] = case_id
    if details:
        event["details"] = details
    return event


def rebuild_leaf(event: CustodyEvent) -> bytes:
    """The canonical leaf the stored columns imply; differs from `event.leaf` if a column was edited."""
    return canonical_leaf(leaf_event(
        index=event.ledger_index, type=event.type, evidence_id=event.evidence_id, subject_id=event.subject_id,
        actor_id=event.actor_id, at=event.at, sha256=event.sha256,
        prev_leaf_hash=event.prev_leaf_hash, case_id=event.case_id, details=event.details,
    ))


class _Statements:
    """The append's statements for one kind of database, run on the session's own DBAPI cursor.

    Why not `Connection.execute`: the append is the hottest write, and SQLAlchemy's per-execution
    work (execution context, result objects) cost it more than the database's own. SQLAlchemy
    still writes the SQL (compiled from Core statements, with named parameters) and converts the
    values (each column type's `dialect_impl(...).bind_processor`), so a row is what the ORM writes;
    the cursor belongs to the session's transaction, so it all commits or rolls back with the caller.
    """

    def __init__(self, dialect):
        named = type(dialect)(paramstyle="named") if dialect.paramstyle in ("qmark", "format") else dialect
        head, events, nodes = LedgerHead.__table__, CustodyEvent.__table__, LedgerNode.__table__
        where = head.c.id == bindparam("head_id")
        self.select_head = str(select(head.c.size, head.c.last_leaf_hash).where(where).with_for_update()
                               .compile(dialect=named))
        self.update_head = str(update(head).where(where).values(size=bindparam("size"),
                                                                last_leaf_hash=bindparam("last_leaf_hash"))
                               .compile(dialect=named))
        self.insert_event = str(insert(events).compile(dialect=named))
        self.insert_node = str(insert(nodes).compile(dialect=named))
        self.convert = [(column.name, process) for column in events.columns
                        if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        self.dbapi_error = dialect.loaded_dbapi.Error

    def event(self, row: dict[str, Any]) -> dict[str, Any]:
        converted = dict(row)
        for name, process in self.convert:
            converted[name] = process(converted[name])
        return converted


_STATEMENTS: dict[Any, _Statements] = {}


@contextmanager
def _cursor(connection: Connection) -> Iterator[tuple[Any, _Statements]]:
    """The DBAPI cursor of the session's transaction; driver errors come out as SQLAlchemy's."""
    key = (type(connection.dialect), connection.dialect.server_version_info)
    statements = _STATEMENTS.get(key) or _STATEMENTS.setdefault(key, _Statements(connection.dialect))
    cursor = connection.connection.cursor()
    try:
        yield cursor, statements
    except statements.dbapi_error as error:
        raise DBAPIError.instance(None, None, error, statements.dbapi_error, dialect=connection.dialect) from error
    finally:
        cursor.close()


def lock_head(session: Session) -> tuple[int, str]:
    """Take the append lock: the head row FOR UPDATE (SQLite already holds BEGIN IMMEDIATE).

    Gives (size, last_leaf_hash). The row is created on first use, race-free, so an emptied
    database needs no seeding.
    """
    connection = session.connection()
    with _cursor(connection) as (cursor, statements):
        return _lock_head(connection, cursor, statements)


def _lock_head(connection: Connection, cursor, statements: _Statements) -> tuple[int, str]:
    cursor.execute(statements.select_head, {"head_id": HEAD_ID})
    row = cursor.fetchone()
    if row is None:
        upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(upsert(LedgerHead).values(id=HEAD_ID, size=0, last_leaf_hash=ZERO_HASH_HEX)
                           .on_conflict_do_nothing())
        cursor.execute(statements.select_head, {"head_id": HEAD_ID})
        row = cursor.fetchone()
    return row[0], row[1]


def _write(cursor, statements: _Statements, rows: list[dict[str, Any]], nodes: list[tuple[int, int, bytes]],
           size: int, last_leaf_hash: str) -> None:
    """The append's writes: its events, the complete subtrees they close, the head; on PostgreSQL
    in psycopg's pipeline mode (sent without waiting for each reply: one round trip)."""
    pipeline = getattr(cursor.connection, "pipeline", None)
    with pipeline() if pipeline is not None else nullcontext():
        if len(rows) == 1:
            cursor.execute(statements.insert_event, statements.event(rows[0]))
        else:
            cursor.executemany(statements.insert_event, [statements.event(row) for row in rows])
        cursor.executemany(statements.insert_node, [
            {"position": node_position(level, index), "level": level, "node_index": index, "hash": node}
            for level, index, node in nodes])
        cursor.execute(statements.update_head, {"size": size, "last_leaf_hash": last_leaf_hash, "head_id": HEAD_ID})


def _stored(cursor, dialect: str, keys: list[tuple[int, int]]):
    """The stored nodes an append reads, as `merkle`'s node getter (refusing a missing one)."""
    def query(sql: str, parameters) -> list:
        cursor.execute(sql, parameters)
        return cursor.fetchall()

    nodes = read_nodes(query, dialect, keys)

    def get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LedgerCorrupted(f"stored ledger node ({level}, {index}) is missing: cannot append") from None
    return get


def _check_type(type: Any) -> None:
    if type not in EVENT_TYPES:
        raise ValidationFailed(f"unknown custody event type {type!r}", errors={"type": ["unknown event type"]})


def _event_row(index: int, prev_leaf_hash: str, *, type: str, actor_id: str, evidence_id: str | None = None,
               subject_id: str | None = None, sha256: str | None = None, case_id: str | None = None,
               details: dict | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The custody_events row of one event, its leaf built and hashed."""
    _check_type(type)
    if evidence_id is not None and subject_id is not None:
        raise TypeError("a custody event is about an evidence item or another subject, not both")
    at = (at or utcnow()).astimezone(UTC)
    try:
        leaf = canonical_leaf(leaf_event(index=index, type=type, evidence_id=evidence_id, subject_id=subject_id,
                                         actor_id=actor_id, at=at, sha256=sha256, prev_leaf_hash=prev_leaf_hash,
                                         case_id=case_id, details=details))
    except LeafFormatError as exc:
        raise ValidationFailed(str(exc), errors={"custody_event": [str(exc)]}) from exc
    return {"ledger_index": index, "type": type, "evidence_id": evidence_id, "subject_id": subject_id,
            "case_id": case_id, "actor_id": actor_id, "at": at, "sha256": sha256, "details": details or None,
            "leaf": leaf.decode("utf-8"), "leaf_hash": leaf_hash_hex(leaf), "prev_leaf_hash": prev_leaf_hash}


def _left_siblings(index: int) -> list[tuple[int, int]]:
    """The stored nodes appending leaf `index` reads: one left sibling per trailing one bit."""
    return [(level, (index >> level) - 1) for level in range((~index & (index + 1)).bit_length() - 1)]


def _frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of `size` leaves ends in: every left sibling later leaves read."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


def record_custody_event(session: Session, *, type: str, actor_id: str, evidence_id: str | None = None,
                         subject_id: str | None = None, sha256: str | None = None, case_id: str | None = None,
                         details: dict | None = None, at: datetime | None = None) -> int:
    """Append a custody event to the ledger in the caller's transaction (the caller commits).

    `evidence_id` names an evidence item; `subject_id` anything else the event is about (a
    packet, a signing key, a verification run). Holds the head lock until that commit, so
    concurrent writers get consecutive indices and each leaf names its true predecessor.
    Returns the event's ledger index (`session.get(CustodyEvent, index)` reads it back).
    """
    _check_type(type)
    session.flush()  # the caller's pending rows go first, so the lock is taken in a clean state
    connection = session.connection()
    with _cursor(connection) as (cursor, statements):
        index, previous = _lock_head(connection, cursor, statements)
        row = _event_row(index, previous, type=type, evidence_id=evidence_id, subject_id=subject_id,
                         actor_id=actor_id, sha256=sha256, case_id=case_id, details=details, at=at)
        nodes = completed_subtrees(index, bytes.fromhex(row["leaf_hash"]),
                                   _stored(cursor, connection.dialect.name, _left_siblings(index)))
        _write(cursor, statements, [row], nodes, index + 1, row["leaf_hash"])
    return index


def record_custody_events(session: Session, events: Iterable[Mapping[str, Any]]) -> range:
    """Append several custody events, in order, in the caller's transaction (the caller commits).

    Each mapping takes `record_custody_event`'s keyword arguments. The leaves, their chain and
    the stored nodes are exactly those of appending the events one by one; the head is locked
    once, the frontier of complete subtrees read once, and rows inserted in bulk. All or
    nothing: an invalid event refuses the whole batch before anything is written.

    Returns the consecutive ledger indices the events received. The rows are not loaded into
    the session (a bulk append would fill its identity map for nothing); read them back with
    `session.get(CustodyEvent, index)` when needed.
    """
    events = list(events)
    if not events:
        return range(0)
    for fields in events:  # refuse before taking the lock
        _check_type(fields.get("type"))
        if set(fields) - _FIELDS or "actor_id" not in fields:
            raise TypeError(f"a custody event takes {', '.join(sorted(_FIELDS))}, with type and actor_id"
                            f" required; got {', '.join(sorted(fields))}")
    session.flush()
    connection = session.connection()
    with _cursor(connection) as (cursor, statements):
        return _append_all(connection, cursor, statements, events)


def _append_all(connection: Connection, cursor, statements: _Statements, events: list[Mapping[str, Any]]) -> range:
    first, previous = _lock_head(connection, cursor, statements)
    stored = _stored(cursor, connection.dialect.name, _frontier(first))
    nodes: dict[tuple[int, int], bytes] = {}
    rows, written = [], []
    index = first
    for fields in events:
        row = _event_row(index, previous, **fields)
        for level, i, node in completed_subtrees(index, bytes.fromhex(row["leaf_hash"]),
                                                 lambda level, i: nodes.get((level, i)) or stored(level, i)):
            nodes[(level, i)] = node
            written.append((level, i, node))
            if level:  # children of a completed parent are never read again
                nodes.pop((level - 1, 2 * i), None)
                nodes.pop((level - 1, 2 * i + 1), None)
        rows.append(row)
        index, previous = index + 1, row["leaf_hash"]
    _write(cursor, statements, rows, written, index, previous)
    return range(first, index)


def custody_for_evidence(session: Session, evidence_id: str) -> list[CustodyEvent]:
    """Every custody event about one item, in ledger order (for GET /evidence/{id}/custody)."""
    return list(session.scalars(
        select(CustodyEvent).where(CustodyEvent.evidence_id == evidence_id).order_by(CustodyEvent.ledger_index)
    ))
