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
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

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


class _SQL(NamedTuple):
    """A statement for the driver: its text, and `args`, which makes the driver's parameters of a
    mapping of bind names to values (the mapping itself where the driver binds by name)."""

    text: str
    args: Callable[[Mapping[str, Any]], Any]


def _by_name(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return values


def _in_order(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    pick = itemgetter(*names)
    return pick if len(names) > 1 else lambda values: (pick(values),)


def _sql(statement, dialect) -> _SQL:
    compiled = statement.compile(dialect=dialect)
    return _SQL(str(compiled), _in_order(compiled.positiontup) if compiled.positional else _by_name)


def _execute(cursor, sql: _SQL, values: Mapping[str, Any]) -> None:
    cursor.execute(sql.text, sql.args(values))


def _executemany(cursor, sql: _SQL, rows: Iterable[Mapping[str, Any]]) -> None:
    cursor.executemany(sql.text, map(sql.args, rows))


class _Statements:
    """The append's statements for one kind of database, run on the session's own DBAPI cursor.

    Why not `Connection.execute`: the append is the hottest write, and SQLAlchemy's per-execution
    work (execution context, result objects) cost it more than the database's own. SQLAlchemy
    still writes the SQL (compiled from Core statements, in the driver's own paramstyle) and
    converts the values (each column type's `dialect_impl(...).bind_processor`), so a row is what
    the ORM writes; the cursor belongs to the session's transaction, so it all commits or rolls
    back with the caller. Values are kept by name and put in order only for the driver (`_SQL`):
    SQLite's binds by position, where a named parameter cost it a string and a lookup per
    parameter and execution (about a third of an event's insert).
    """

    def __init__(self, dialect):
        head, events, nodes, queue = (LedgerHead.__table__, CustodyEvent.__table__, LedgerNode.__table__,
                                      QueuedCustodyEvent.__table__)
        where = head.c.id == bindparam("head_id")
        self.select_head = _sql(select(head.c.size, head.c.last_leaf_hash).where(where).with_for_update(), dialect)
        self.update_head = _sql(update(head).where(where).values(size=bindparam("size"),
                                                                 last_leaf_hash=bindparam("last_leaf_hash")), dialect)
        self.insert_event = _sql(insert(events), dialect)
        self.insert_node = _sql(insert(nodes), dialect)
        # PostgreSQL: a batch's rows as one statement over arrays, one executor run for them all
        self.bulk_event = _unnest_insert(events, dialect) if dialect.name == "postgresql" else None
        self.bulk_node = _unnest_insert(nodes, dialect) if dialect.name == "postgresql" else None
        self.event_columns = [column.name for column in events.columns]
        queued = [column for column in queue.columns if column.name != "id"]
        self.enqueue = _sql(insert(queue).values({column.name: bindparam(column.name) for column in queued}), dialect)
        self.queue_columns = [column.name for column in queue.columns]
        in_order = select(*queue.columns).order_by(queue.c.id).compile(dialect=dialect)
        self.select_queue = (_SQL(f"{in_order} LIMIT ?", _in_order(["limit"])) if in_order.positional
                             else _SQL(f"{in_order} LIMIT %(limit)s", _by_name))
        self.head_and_queued = _sql(select(head.c.size, head.c.last_leaf_hash, select(queue.c.id).exists())
                                    .where(where), dialect)
        self.dequeue_at_once = dialect.name == "postgresql"  # all ids as one array; else one execution each
        self.delete_queued = (_SQL("DELETE FROM custody_queue WHERE id = ANY(%(ids)s::bigint[])", _by_name)
                              if self.dequeue_at_once else _sql(delete(queue).where(queue.c.id == bindparam("id")),
                                                                dialect))
        self.convert = _bind_processors(events.columns, dialect)
        self.convert_queued = _bind_processors(queued, dialect)
        self.read_queued = [(column.name, process) for column in queue.columns
                            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))]
        self.dbapi_error = dialect.loaded_dbapi.Error
        self.pipelined = dialect.driver == "psycopg"  # statements sent without waiting for each reply

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


def _bind_processors(columns, dialect) -> list[tuple[str, Any, Any]]:
    """(column, its type's bind processor, what that processor makes of None): most of an event's
    optional columns are None, and a processor's answer for None never changes."""
    return [(column.name, process, process(None)) for column in columns
            if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]


def _convert(row: dict[str, Any], processors) -> dict[str, Any]:
    converted = dict(row)
    for name, process, if_none in processors:
        value = converted[name]
        converted[name] = if_none if value is None else process(value)
    return converted


_STATEMENTS: dict[Any, _Statements] = {}


class _cursor:  # noqa: N801 - used as `with _cursor(connection) as (cursor, statements)`
    """The DBAPI cursor of the session's transaction and the statements for its dialect; driver
    errors come out as SQLAlchemy's. A class, not `@contextmanager`: entered once per append."""

    __slots__ = ("dialect", "cursor", "statements")

    def __init__(self, connection: Connection):
        self.dialect = dialect = connection.dialect
        key = (type(dialect), dialect.server_version_info)
        self.statements = _STATEMENTS.get(key) or _STATEMENTS.setdefault(key, _Statements(dialect))
        self.cursor = connection.connection.cursor()

    def __enter__(self) -> tuple[Any, _Statements]:
        return self.cursor, self.statements

    def __exit__(self, kind, error, _traceback) -> None:
        self.cursor.close()
        if kind is not None and issubclass(kind, self.statements.dbapi_error):
            raise DBAPIError.instance(None, None, error, self.statements.dbapi_error, dialect=self.dialect) from error


def lock_head(session: Session) -> tuple[int, str]:
    """Take the append lock: the head row FOR UPDATE (SQLite already holds BEGIN IMMEDIATE).

    Gives (size, last_leaf_hash). The row is created on first use, race-free, so an emptied
    database needs no seeding.
    """
    connection = session.connection()
    with _cursor(connection) as (cursor, statements):
        return _lock_head(connection, cursor, statements)


def _lock_head(connection: Connection, cursor, statements: _Statements) -> tuple[int, str]:
    _execute(cursor, statements.select_head, {"head_id": HEAD_ID})
    row = cursor.fetchone()
    if row is None:
        upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(upsert(LedgerHead).values(id=HEAD_ID, size=0, last_leaf_hash=ZERO_HASH_HEX)
                           .on_conflict_do_nothing())
        _execute(cursor, statements.select_head, {"head_id": HEAD_ID})
        row = cursor.fetchone()
    return row[0], row[1]


def _write(cursor, statements: _Statements, rows: list[dict[str, Any]], nodes: list[tuple[int, int, bytes]],
           size: int, last_leaf_hash: str, dequeued: list[int]) -> None:
    """The batch's writes: its events, the complete subtrees they close, the head, and the queued
    rows it integrated gone; on PostgreSQL in psycopg's pipeline mode (sent without waiting for
    each reply: one round trip)."""
    with cursor.connection.pipeline() if statements.pipelined else nullcontext():
        if dequeued:
            if statements.dequeue_at_once:
                _execute(cursor, statements.delete_queued, {"ids": dequeued})
            else:
                _executemany(cursor, statements.delete_queued, [{"id": queue_id} for queue_id in dequeued])
        nodes = [{"position": node_position(level, index), "level": level, "node_index": index, "hash": node}
                 for level, index, node in nodes]
        if len(rows) == 1:
            _execute(cursor, statements.insert_event, statements.event(rows[0]))
        elif statements.bulk_event is not None:
            converted = [statements.event(row) for row in rows]
            cursor.execute(statements.bulk_event, {name: [row[name] for row in converted]
                                                   for name in statements.event_columns})
        else:
            _executemany(cursor, statements.insert_event, [statements.event(row) for row in rows])
        if len(nodes) > 1 and statements.bulk_node is not None:
            cursor.execute(statements.bulk_node, {name: [node[name] for node in nodes] for name in nodes[0]})
        else:
            _executemany(cursor, statements.insert_node, nodes)
        _execute(cursor, statements.update_head, {"size": size, "last_leaf_hash": last_leaf_hash, "head_id": HEAD_ID})


def _stored(cursor, dialect: str, keys: list[tuple[int, int]], size: int, last_leaf_hash: str):
    """The nodes an append reads, as `merkle`'s node getter (refusing a missing one). The last
    leaf's own node is its leaf hash, which the head just gave: it is not read again, so a single
    append reads stored nodes only when its index is 3 mod 4 (one in four, where it was one in two)."""
    def query(sql: str, parameters) -> list:
        cursor.execute(sql, parameters)
        return cursor.fetchall()

    last = (0, size - 1)
    wanted = [key for key in keys if key != last]
    nodes = read_nodes(query, dialect, wanted) if wanted else {}
    if size:
        nodes[last] = bytes.fromhex(last_leaf_hash)

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
    leaf = _leaf(index, prev_leaf_hash, type=type, evidence_id=evidence_id, subject_id=subject_id,
                 actor_id=actor_id, at=at, sha256=sha256, case_id=case_id, details=details)
    return {"ledger_index": index, "type": type, "evidence_id": evidence_id, "subject_id": subject_id,
            "case_id": case_id, "actor_id": actor_id, "at": at, "sha256": sha256, "details": details or None,
            "leaf": leaf.decode("utf-8"), "leaf_hash": leaf_hash_hex(leaf), "prev_leaf_hash": prev_leaf_hash,
            "event_id": event_id or new_event_id(), "queued_at": queued_at,
            "integrated_at": integrated_at}


def _leaf(index: int, prev_leaf_hash: str, **fields) -> bytes:
    """An event's canonical leaf; one that cannot be a leaf is refused as the caller's error."""
    try:
        return canonical_leaf(leaf_event(index=index, prev_leaf_hash=prev_leaf_hash, **fields))
    except LeafFormatError as exc:
        raise ValidationFailed(str(exc), errors={"custody_event": [str(exc)]}) from exc


def _left_siblings(index: int) -> list[tuple[int, int]]:
    """The stored nodes appending leaf `index` reads: one left sibling per trailing one bit."""
    return [(level, (index >> level) - 1) for level in range((~index & (index + 1)).bit_length() - 1)]


def _frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of `size` leaves ends in: every left sibling later leaves read."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


# the variant's hex digit (binary 10xx) from a random hex digit's top two bits
_VARIANT = {digit: "89ab"[int(digit, 16) >> 2] for digit in "0123456789abcdef"}


def new_event_id() -> str:
    """A time-ordered UUID (version 7 layout: 48 bits of Unix milliseconds, then 74 random bits),
    so the unique index on event ids grows at its end like the log does, not at a random page.

    Written as text from the clock's and 80 random bits' hex digits (one of them dropped for the
    version, two bits of another for the variant): one per event, and `uuid.UUID(int=...)` cost
    twice as much.
    """
    digits = (time.time_ns() // 1_000_000).to_bytes(6, "big").hex() + os.urandom(10).hex()
    return f"{digits[:8]}-{digits[8:12]}-7{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"


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


def _check_subject(evidence_id: Any, subject_id: Any) -> None:
    if evidence_id is not None and subject_id is not None:
        raise TypeError("a custody event is about an evidence item or another subject, not both")


def _check_fields(fields: Mapping[str, Any]) -> None:
    _check_type(fields.get("type"))
    if set(fields) - _FIELDS or "actor_id" not in fields:
        raise TypeError(f"a custody event takes {', '.join(sorted(_FIELDS))}, with type and actor_id"
                        f" required; got {', '.join(sorted(fields))}")
    _check_subject(fields.get("evidence_id"), fields.get("subject_id"))


def record_custody_event(session: Session, *, type: str, actor_id: str, evidence_id: str | None = None,
                         subject_id: str | None = None, sha256: str | None = None, case_id: str | None = None,
                         details: dict | None = None, at: datetime | None = None) -> RecordedEvent:
    """Record a custody event in the caller's transaction (the caller commits).

    `evidence_id` names an evidence item; `subject_id` anything else the event is about (a
    packet, a signing key, a verification run). The event is integrated in this transaction
    (holding the head lock until the commit) unless the engine queues events: then it is
    queued, and a sequencer integrates it after the commit, within the merge delay.
    """
    _check_type(type)  # the keywords are the fields: only their values are left to check
    _check_subject(evidence_id, subject_id)
    fields = {"type": type, "actor_id": actor_id, "evidence_id": evidence_id, "subject_id": subject_id,
              "sha256": sha256, "case_id": case_id, "details": details, "at": at}
    return _record(session, [fields])[0]


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
    return _record(session, events)


def commit_custody_event(engine: Engine, *, type: str, actor_id: str, evidence_id: str | None = None,
                         subject_id: str | None = None, sha256: str | None = None, case_id: str | None = None,
                         details: dict | None = None, at: datetime | None = None) -> RecordedEvent:
    """Record one custody event in a transaction of its own, committed when this returns.

    For a request whose only write is its event (a read of bytes): it reads on the readers'
    pool and needs no unit of work of the ORM's, whose session cost a queued event more Python
    than the insert itself. The event is integrated or queued exactly as `record_custody_event`
    does it, through the same statements.
    """
    _check_type(type)
    _check_subject(evidence_id, subject_id)
    fields = {"type": type, "actor_id": actor_id, "evidence_id": evidence_id, "subject_id": subject_id,
              "sha256": sha256, "case_id": case_id, "details": details, "at": at}
    with engine.begin() as connection:
        recorded, wake = _record_on(connection, [fields])
    if wake is not None:
        wake()
    return recorded[0]


def _record(session: Session, events: list[Mapping[str, Any]]) -> list[RecordedEvent]:
    """Integrate or queue checked events in the session's transaction; a queued event wakes the
    sequencer once the session commits."""
    session.flush()  # the caller's pending rows go first, so the lock is taken in a clean state
    recorded, wake = _record_on(session.connection(), events)
    if wake is not None:
        session.info[_WAKE] = wake
    return recorded


def _record_on(connection: Connection, events: list[Mapping[str, Any]]
               ) -> tuple[list[RecordedEvent], Callable[[], None] | None]:
    """Integrate or queue checked events, as the engine is set to; with the sequencer's wake-up
    to run after the commit when they were queued."""
    wake = _QUEUEING.get(connection.engine)
    with _cursor(connection) as (cursor, statements):
        if wake is None:
            rows = _integrate(connection, cursor, statements, events, limit=QUEUE_BATCH)
            return [RecordedEvent(row["event_id"], row["ledger_index"]) for row in rows[-len(events):]], None
        return _enqueue(cursor, statements, events), wake


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
        _leaf(0, ZERO_HASH_HEX, **{key: row[key] for key in _FIELDS})  # built to be refused now, not kept
        rows.append(row)
    if len(rows) == 1:
        _execute(cursor, statements.enqueue, statements.queued(rows[0]))
    else:
        _executemany(cursor, statements.enqueue, [statements.queued(row) for row in rows])
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
    if not statements.pipelined:  # SQLite: BEGIN IMMEDIATE took the lock; whether anything is queued comes with the head
        _execute(cursor, statements.head_and_queued, {"head_id": HEAD_ID})
        head = cursor.fetchone()
        if head is None:
            head = (*_lock_head(connection, cursor, statements), True)
        if not head[2]:
            return head[0], head[1], []
        _execute(cursor, statements.select_queue, {"limit": limit})
        return head[0], head[1], cursor.fetchall()
    queue_cursor = cursor.connection.cursor()
    try:
        with cursor.connection.pipeline():
            _execute(cursor, statements.select_head, {"head_id": HEAD_ID})
            _execute(queue_cursor, statements.select_queue, {"limit": limit})
        head = cursor.fetchone()
        queued = queue_cursor.fetchall()
        if head is None:  # a new ledger: the head row is made and locked, and the queue read again under it
            head = _lock_head(connection, cursor, statements)
            _execute(queue_cursor, statements.select_queue, {"limit": limit})
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
    queued, pending = [], own  # own: integrated by the transaction that records them, no merge delay
    if queued_values:
        now = utcnow()
        queued = [statements.from_queue(values) for values in queued_values]
        pending = [{**{key: row[key] for key in _FIELDS}, "event_id": row["event_id"], "queued_at": row["queued_at"],
                    "integrated_at": now} for row in queued] + list(own)
    if not pending:
        return []
    if len(pending) == 1:  # most transactions: one event, no cache of a batch's own nodes to keep
        row = _event_row(first, previous, **pending[0])
        written = completed_subtrees(first, bytes.fromhex(row["leaf_hash"]),
                                     _stored(cursor, connection.dialect.name, _left_siblings(first), first, previous))
        _write(cursor, statements, [row], written, first + 1, row["leaf_hash"], [event["id"] for event in queued])
        return [row]
    stored = _stored(cursor, connection.dialect.name, _frontier(first), first, previous)
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


def oldest_queued_at(session: Session) -> datetime | None:
    """When the first event in queue order was queued (None when nothing waits): one index probe,
    which a standby sequencer asks on every turn."""
    return session.scalar(select(QueuedCustodyEvent.queued_at).order_by(QueuedCustodyEvent.id).limit(1))


def queue_state(session: Session) -> tuple[int, datetime | None]:
    """How many events wait to be integrated, and since when the oldest has waited."""
    count, oldest = session.execute(select(func.count(), func.min(QueuedCustodyEvent.queued_at))).one()
    return count, oldest
