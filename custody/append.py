"""The append service: custody events are recorded in the caller's transaction, and integrated.

The log is one sequence over the whole organisation. An event exists exactly when the work it
records was committed. Where the database serialises writers anyway (SQLite's one write lock)
the recording transaction integrates its events itself; elsewhere (`queue_events`: PostgreSQL)
it only queues them, without the head lock, and a sequencer batch (`integrate_queued`, run by
`custody.sequencer`) integrates them later. Both run one function, `_integrate`: under the
one-row `LedgerHead` lock it takes the queued events in queue order, then the caller's own,
gives them consecutive indexes, chains and hashes their leaves and writes the nodes they
complete. Indexes are gap-free because a rolled-back batch rolls back its indexes too.
The leaf is `canonical_leaf` (RFC 8785 through `core.canonical`); the statements are
SQLAlchemy's, run on the session's cursor (`_Statements`).
"""
from __future__ import annotations

import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ValidationFailed
from custody.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, canonical_leaf, leaf_hash_hex
from custody.ledger.merkle import completed_subtrees
from custody.models import (
    EVENT_TYPES,
    HEAD_ID,
    CustodyEvent,
    LedgerHead,
    LedgerNode,
    QueuedCustodyEvent,
    node_position,
)
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


# The columns `rebuild_leaf` reads: a sweep over the whole log selects just these (plain rows, no ORM
# objects) and takes the leaf's bytes from the entry bundles.
LEAF_COLUMNS = (CustodyEvent.ledger_index, CustodyEvent.type, CustodyEvent.evidence_id, CustodyEvent.subject_id,
                CustodyEvent.actor_id, CustodyEvent.at, CustodyEvent.sha256, CustodyEvent.prev_leaf_hash,
                CustodyEvent.case_id, CustodyEvent.details)


def rebuild_leaf(event: CustodyEvent) -> bytes:
    """The canonical leaf the stored columns imply (`LEAF_COLUMNS` of an event or a row); differs
    from `event.leaf` if a column was edited."""
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
        head, events, nodes, queue = (LedgerHead.__table__, CustodyEvent.__table__, LedgerNode.__table__,
                                      QueuedCustodyEvent.__table__)
        where = head.c.id == bindparam("head_id")
        self.select_head = str(select(head.c.size, head.c.last_leaf_hash).where(where).with_for_update()
                               .compile(dialect=named))
        self.update_head = str(update(head).where(where).values(size=bindparam("size"),
                                                                last_leaf_hash=bindparam("last_leaf_hash"))
                               .compile(dialect=named))
        self.insert_event = str(insert(events).compile(dialect=named))
        self.insert_node = str(insert(nodes).compile(dialect=named))
        # PostgreSQL: a batch's rows as one statement over arrays, one executor run for them all
        self.bulk_event = _unnest_insert(events, dialect) if dialect.name == "postgresql" else None
        self.bulk_node = _unnest_insert(nodes, dialect) if dialect.name == "postgresql" else None
        self.event_columns = [column.name for column in events.columns]
        queued = [column for column in queue.columns if column.name != "id"]
        self.enqueue = str(insert(queue).values({column.name: bindparam(column.name) for column in queued})
                           .compile(dialect=named))
        self.queue_columns = [column.name for column in queue.columns]
        limit = ":limit" if named.paramstyle == "named" else "%(limit)s"
        self.select_queue = f"{select(*queue.columns).order_by(queue.c.id).compile(dialect=named)} LIMIT {limit}"
        self.head_and_queued = str(select(head.c.size, head.c.last_leaf_hash, select(queue.c.id).exists())
                                   .where(where).compile(dialect=named))
        if dialect.name == "postgresql":
            self.delete_queued = "DELETE FROM custody_queue WHERE id = ANY(%(ids)s::bigint[])"
        else:
            self.delete_queued = str(delete(queue).where(queue.c.id == bindparam("id")).compile(dialect=named))
        self.convert = _bind_processors(events.columns, dialect)
        self.convert_queued = _bind_processors(queued, dialect)
        self.read_queued = [(column.name, process) for column in queue.columns
                            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))]
        self.dbapi_error = dialect.loaded_dbapi.Error

    def event(self, row: dict[str, Any]) -> dict[str, Any]:
        return _convert(row, self.convert)

    def queued(self, row: dict[str, Any]) -> dict[str, Any]:
        return _convert(row, self.convert_queued)

    def from_queue(self, values) -> dict[str, Any]:
        row = dict(zip(self.queue_columns, values))
        for name, process in self.read_queued:
            row[name] = process(row[name])
        return row


def _unnest_insert(table, dialect) -> str:
    """`INSERT INTO t (a, b) SELECT * FROM unnest(%(a)s::A[], %(b)s::B[])`: each parameter a list."""
    names = [column.name for column in table.columns]
    # %(x)b: sent in binary (an array in text form is escaped element by element, several times slower)
    arrays = ", ".join(f"%({column.name})b::{column.type.compile(dialect=dialect)}[]" for column in table.columns)
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"


def _bind_processors(columns, dialect) -> list[tuple[str, Any]]:
    return [(column.name, process) for column in columns
            if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]


def _convert(row: dict[str, Any], processors) -> dict[str, Any]:
    converted = dict(row)
    for name, process in processors:
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
           size: int, last_leaf_hash: str, dequeued: list[int]) -> None:
    """The batch's writes: its events, the complete subtrees they close, the head, and the queued
    rows it integrated gone; on PostgreSQL in psycopg's pipeline mode (sent without waiting for
    each reply: one round trip)."""
    pipeline = getattr(cursor.connection, "pipeline", None)
    with pipeline() if pipeline is not None else nullcontext():
        if dequeued:
            if "ANY" in statements.delete_queued:
                cursor.execute(statements.delete_queued, {"ids": dequeued})
            else:
                cursor.executemany(statements.delete_queued, [{"id": queue_id} for queue_id in dequeued])
        nodes = [{"position": node_position(level, index), "level": level, "node_index": index, "hash": node}
                 for level, index, node in nodes]
        if len(rows) == 1:
            cursor.execute(statements.insert_event, statements.event(rows[0]))
        elif statements.bulk_event is not None:
            converted = [statements.event(row) for row in rows]
            cursor.execute(statements.bulk_event, {name: [row[name] for row in converted]
                                                   for name in statements.event_columns})
        else:
            cursor.executemany(statements.insert_event, [statements.event(row) for row in rows])
        if len(nodes) > 1 and statements.bulk_node is not None:
            cursor.execute(statements.bulk_node, {name: [node[name] for node in nodes] for name in nodes[0]})
        else:
            cursor.executemany(statements.insert_node, nodes)
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
               details: dict | None = None, at: datetime | None = None, event_id: str | None = None,
               queued_at: datetime | None = None, integrated_at: datetime | None = None) -> dict[str, Any]:
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
            "leaf": leaf.decode("utf-8"), "leaf_hash": leaf_hash_hex(leaf), "prev_leaf_hash": prev_leaf_hash,
            "event_id": event_id or new_event_id(), "queued_at": queued_at,
            "integrated_at": integrated_at}


def _left_siblings(index: int) -> list[tuple[int, int]]:
    """The stored nodes appending leaf `index` reads: one left sibling per trailing one bit."""
    return [(level, (index >> level) - 1) for level in range((~index & (index + 1)).bit_length() - 1)]


def _frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of `size` leaves ends in: every left sibling later leaves read."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


def new_event_id() -> str:
    """A time-ordered UUID (version 7 layout: 48 bits of Unix milliseconds, then 74 random bits),
    so the unique index on event ids grows at its end like the log does, not at a random page."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis & (1 << 48) - 1) << 80 | 0x7 << 76 | (random >> 68 & 0xFFF) << 64 | 0b10 << 62 | random & (1 << 62) - 1
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class RecordedEvent:
    """What recording an event gives back: its id always, its index once integrated."""

    event_id: str
    ledger_index: int | None

    @property
    def ledger_status(self) -> str:
        return "pending" if self.ledger_index is None else "integrated"


# --- where events go: integrated by the writer, or queued for a sequencer ---------------------

_QUEUEING: weakref.WeakKeyDictionary[Engine, Callable[[], None]] = weakref.WeakKeyDictionary()
_WAKE = "custody.wake_sequencer"


def queue_events(engine: Engine, wake: Callable[[], None]) -> None:
    """From now on events recorded through `engine` are queued, and `wake` runs after each commit
    that queued some (the sequencer's wake-up); before this, and after `integrate_in_writers`,
    the recording transaction integrates its events itself."""
    if not event.contains(Session, "after_commit", _wake_sequencer):  # wired on first use, not at import
        event.listen(Session, "after_commit", _wake_sequencer)
        event.listen(Session, "after_soft_rollback", _nothing_queued)
    _QUEUEING[engine] = wake


def integrate_in_writers(engine: Engine) -> None:
    _QUEUEING.pop(engine, None)


def _wake_sequencer(session: Session) -> None:
    wake = session.info.pop(_WAKE, None)
    if wake is not None:
        wake()


def _nothing_queued(session: Session, _transaction) -> None:
    if not session.in_transaction():
        session.info.pop(_WAKE, None)


def _check_fields(fields: Mapping[str, Any]) -> None:
    _check_type(fields.get("type"))
    if set(fields) - _FIELDS or "actor_id" not in fields:
        raise TypeError(f"a custody event takes {', '.join(sorted(_FIELDS))}, with type and actor_id"
                        f" required; got {', '.join(sorted(fields))}")
    if fields.get("evidence_id") is not None and fields.get("subject_id") is not None:
        raise TypeError("a custody event is about an evidence item or another subject, not both")


def record_custody_event(session: Session, *, type: str, actor_id: str, evidence_id: str | None = None,
                         subject_id: str | None = None, sha256: str | None = None, case_id: str | None = None,
                         details: dict | None = None, at: datetime | None = None) -> RecordedEvent:
    """Record a custody event in the caller's transaction (the caller commits).

    `evidence_id` names an evidence item; `subject_id` anything else the event is about (a
    packet, a signing key, a verification run). The event is integrated in this transaction
    (holding the head lock until the commit) unless the engine queues events: then it is
    queued, and a sequencer integrates it after the commit, within the merge delay.
    """
    fields = {"type": type, "actor_id": actor_id, "evidence_id": evidence_id, "subject_id": subject_id,
              "sha256": sha256, "case_id": case_id, "details": details, "at": at}
    return record_custody_events(session, [fields])[0]


def record_custody_events(session: Session, events: Iterable[Mapping[str, Any]]) -> list[RecordedEvent]:
    """Record several custody events, in order, in the caller's transaction (the caller commits).

    Each mapping takes `record_custody_event`'s keyword arguments. Integrated here, the leaves,
    their chain and the stored nodes are exactly those of recording the events one by one: the
    head is locked once, the frontier of complete subtrees read once, rows inserted in bulk.
    Queued, they are inserted in bulk and keep their order. All or nothing: an invalid event
    refuses the whole batch before anything is written.

    The rows are not loaded into the session (a bulk append would fill its identity map for
    nothing); read them back with `session.get(CustodyEvent, index)` when needed.
    """
    events = list(events)
    if not events:
        return []
    for fields in events:  # refuse before taking the lock or queuing anything
        _check_fields(fields)
    session.flush()  # the caller's pending rows go first, so the lock is taken in a clean state
    connection = session.connection()
    wake = _QUEUEING.get(connection.engine)
    with _cursor(connection) as (cursor, statements):
        if wake is None:
            rows = _integrate(connection, cursor, statements, events, limit=QUEUE_BATCH)
            return [RecordedEvent(row["event_id"], row["ledger_index"]) for row in rows[-len(events):]]
        recorded = _enqueue(cursor, statements, events)
    session.info[_WAKE] = wake
    return recorded


QUEUE_BATCH = 2000  # queued events one batch integrates at most: one transaction of a few MB at most


def _enqueue(cursor, statements: _Statements, events: list[Mapping[str, Any]]) -> list[RecordedEvent]:
    """Queue the events: no lock, one insert. Each leaf is built once here (index 0) so an event
    that could never become a leaf is refused now, not found by the sequencer later."""
    now = utcnow()
    rows = []
    for fields in events:
        row = {"type": fields["type"], "actor_id": fields["actor_id"], "evidence_id": fields.get("evidence_id"),
               "subject_id": fields.get("subject_id"), "sha256": fields.get("sha256"),
               "case_id": fields.get("case_id"), "details": fields.get("details") or None,
               "at": (fields.get("at") or now).astimezone(UTC), "event_id": new_event_id(), "queued_at": now}
        _event_row(0, ZERO_HASH_HEX, **{key: row[key] for key in _FIELDS})
        rows.append(row)
    if len(rows) == 1:
        cursor.execute(statements.enqueue, statements.queued(rows[0]))
    else:
        cursor.executemany(statements.enqueue, [statements.queued(row) for row in rows])
    return [RecordedEvent(row["event_id"], None) for row in rows]


def integrate_queued(session: Session, limit: int = QUEUE_BATCH) -> list[dict[str, Any]]:
    """One sequencer batch in the caller's transaction: up to `limit` queued events, in queue
    order, given the next indexes under the head lock (the caller commits). Returns the rows
    written (empty when nothing was queued)."""
    session.flush()
    connection = session.connection()
    with _cursor(connection) as (cursor, statements):
        return _integrate(connection, cursor, statements, [], limit=limit)


def _lock_and_read_queue(connection: Connection, cursor, statements: _Statements, limit: int):
    """The head locked, then the queue read under the lock: (size, last leaf hash, queued rows).
    On PostgreSQL both go in one pipeline (one round trip); the server runs them in order, and
    READ COMMITTED gives the queue's SELECT a snapshot taken after the lock was granted."""
    pipeline = getattr(cursor.connection, "pipeline", None)
    if pipeline is None:  # SQLite: BEGIN IMMEDIATE took the lock; whether anything is queued comes with the head
        cursor.execute(statements.head_and_queued, {"head_id": HEAD_ID})
        head = cursor.fetchone()
        if head is None:
            head = (*_lock_head(connection, cursor, statements), True)
        if not head[2]:
            return head[0], head[1], []
        cursor.execute(statements.select_queue, {"limit": limit})
        return head[0], head[1], cursor.fetchall()
    queue_cursor = cursor.connection.cursor()
    try:
        with pipeline():
            cursor.execute(statements.select_head, {"head_id": HEAD_ID})
            queue_cursor.execute(statements.select_queue, {"limit": limit})
        head = cursor.fetchone()
        queued = queue_cursor.fetchall()
        if head is None:  # a new ledger: the head row is made and locked, and the queue read again under it
            head = _lock_head(connection, cursor, statements)
            queue_cursor.execute(statements.select_queue, {"limit": limit})
            queued = queue_cursor.fetchall()
        return head[0], head[1], queued
    finally:
        queue_cursor.close()


def integrate_everything_queued(session: Session) -> int:
    """Integrate, in the caller's transaction, every event queued so far, its own included: what
    a packet build does before it signs the head its proofs are read from. Returns how many."""
    count = 0
    while rows := integrate_queued(session):
        count += len(rows)
        if len(rows) < QUEUE_BATCH:
            break
    return count


def _integrate(connection: Connection, cursor, statements: _Statements, own: list[Mapping[str, Any]], *,
               limit: int) -> list[dict[str, Any]]:
    """Under the head lock: the queued events (oldest first, at most `limit`), then `own`, appended.

    The queue is read after the lock is taken, so two batches never see the same queued row;
    deleting it in this transaction makes integrating it once and only once one commit.
    """
    first, previous, queued_values = _lock_and_read_queue(connection, cursor, statements, limit)
    queued = [statements.from_queue(values) for values in queued_values]
    now = utcnow()
    pending: list[dict[str, Any]] = []
    for row in queued:
        fields = {key: row[key] for key in _FIELDS}
        fields.update(event_id=row["event_id"], queued_at=row["queued_at"], integrated_at=now)
        pending.append(fields)
    pending.extend(own)  # integrated by the transaction that records them: never queued, no merge delay
    if not pending:
        return []
    stored = _stored(cursor, connection.dialect.name, _left_siblings(first) if len(pending) == 1 else _frontier(first))
    nodes: dict[tuple[int, int], bytes] = {}
    rows, written = [], []
    index = first
    for fields in pending:
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
    _write(cursor, statements, rows, written, index, previous, [row["id"] for row in queued])
    return rows


def custody_for_evidence(session: Session, evidence_id: str, *,
                         pending: bool = False) -> list[CustodyEvent | QueuedCustodyEvent]:
    """Every integrated custody event about one item, in ledger order, then (with `pending`) the
    ones still queued, in queue order (GET /evidence/{id}/custody shows both)."""
    events: list[CustodyEvent | QueuedCustodyEvent] = list(session.scalars(
        select(CustodyEvent).where(CustodyEvent.evidence_id == evidence_id).order_by(CustodyEvent.ledger_index)
    ))
    if pending:
        events.extend(session.scalars(select(QueuedCustodyEvent).where(QueuedCustodyEvent.evidence_id == evidence_id)
                                      .order_by(QueuedCustodyEvent.id)))
    return events


def custody_event(session: Session, event_id: str) -> CustodyEvent | QueuedCustodyEvent | None:
    """One event by its id: integrated, or still queued (None when there is no such event)."""
    integrated = session.scalars(select(CustodyEvent).where(CustodyEvent.event_id == event_id)).first()
    if integrated is not None:
        return integrated
    return session.scalars(select(QueuedCustodyEvent).where(QueuedCustodyEvent.event_id == event_id)).first()


def queue_state(session: Session) -> tuple[int, datetime | None]:
    """How many events wait to be integrated, and since when the oldest has waited."""
    count, oldest = session.execute(select(func.count(), func.min(QueuedCustodyEvent.queued_at))).one()
    return count, oldest
