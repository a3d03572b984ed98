"""Custody events as the leaves of the Merkle ledger, its stored nodes, checkpoints and signing keys.

The log is one sequence over the whole organisation. `record_custody_event` appends a leaf
inside the caller's transaction, so an event exists exactly when the work it records was
committed, and the one-row `LedgerHead` serialises writers: indices are gap-free because a
rolled-back caller also rolls back its index.
"""
from __future__ import annotations

import builtins
import json
import json.encoder
from hashlib import sha256 as _sha256
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text, bindparam, insert, select, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, configure_mappers, mapped_column
from sqlalchemy.orm.attributes import instance_state

from core.canonical import SAFE_INT as _SAFE_INT
from core.canonical import plain_json
from core.clock import utcnow
from core.db import Base
from core.errors import ValidationFailed
from evidence.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, canonical_leaf
from evidence.ledger.leaf import _check_event  # noqa: PLC2701 - the very checks canonical_leaf makes
from evidence.ledger.merkle import completed_subtrees

EVENT_TYPES = frozenset({
    "created", "sealed", "viewed", "downloaded", "derived", "packeted", "exported",
    "legal_hold_set", "legal_hold_released", "verified",
    # events about what is not an evidence item: a packet assembled, a checkpoint key rotated
    "packet_built", "key_rotated",
})

HEAD_ID = 1
builtins_type = builtins.type  # `type` is a field name in the functions below


def sha256_hex(data: bytes) -> str:
    return _sha256(data).hexdigest()


class CustodyEvent(Base):
    """One leaf of the ledger; the row keeps the exact leaf text that was hashed."""

    __tablename__ = "custody_events"

    ledger_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32))
    evidence_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict | None] = mapped_column(JSON)
    leaf: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    prev_leaf_hash: Mapped[str] = mapped_column(String(64))


NODE_LEVELS = 64  # a level fits in the low 6 bits of a node's position


def node_position(level: int, index: int) -> int:
    """Where a stored node sits: (its last leaf) · 64 + level.

    Why not (level, index): the nodes one append completes (its leaf and the parents it closes)
    are then neighbours at the end of one B-tree, and the whole table is in the order it was
    written, so an append writes one index page where a (level, index) key wrote one per level.
    A node covers leaves beyond a log of n leaves exactly when its position is >= n · 64.
    """
    return (((index + 1) << level) - 1) * NODE_LEVELS + level


class LedgerNode(Base):
    """A complete subtree's hash: leaves [index·2^level, (index+1)·2^level); written once."""

    __tablename__ = "ledger_nodes"
    __table_args__ = (
        CheckConstraint("position = (((CAST(node_index AS BIGINT) + 1) << level) - 1) * 64 + level", name="position"),
    )

    # INTEGER on SQLite, where that makes it the rowid: one B-tree, no separate key index
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=False)
    level: Mapped[int] = mapped_column(Integer)
    index: Mapped[int] = mapped_column("node_index", Integer)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHead(Base):
    """The single row every append locks: the log's size and its last leaf hash."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    last_leaf_hash: Mapped[str] = mapped_column(String(64))


class SigningKey(Base):
    """A public checkpoint key, kept after retirement so old checkpoints still verify.

    The private key lives in a file (FIELDPROOF_SIGNING_KEY_FILE), never here.
    """

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="ed25519")
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class Checkpoint(Base):
    """A signed tree head as issued; every one is kept so rollbacks can be caught later."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.key_id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def format_at(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds: what both databases keep, so leaves rebuild exactly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused: custody times are aware")
    moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y does not pad on every platform: keep its answer
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # the same text as "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", written by datetime's C code
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def leaf_bytes(event: dict[str, Any]) -> bytes:
    """`canonical_leaf(event)`, byte for byte, without rfc8785's pure-Python walk when it can.

    The append is the hottest write; RFC 8785 output for plain JSON (see `core.canonical.plain_json`) is
    what the standard library's C encoder writes with sorted keys and no spaces. The leaf's
    checks are leaf.py's own, and anything else (or a string that is not valid UTF-8) goes
    to `canonical_leaf`. The verifier rebuilds leaves with `canonical_leaf` only, so a
    divergence here could never pass unnoticed.
    """
    if plain_json(event):
        _check_event(event)
        try:
            return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: canonical_leaf refuses it with its own error
    return canonical_leaf(event)


def leaf_event(*, index: int, type: str, evidence_id: str | None, actor_id: str, at: datetime,
               sha256: str | None, prev_leaf_hash: str, case_id: str | None = None,
               details: dict | None = None) -> dict[str, Any]:
    """The fields that enter a leaf, from an event's columns (also used to re-check stored leaves)."""
    event: dict[str, Any] = {
        "index": index, "type": type, "evidence_id": evidence_id, "actor_id": actor_id,
        "at": format_at(at), "sha256": sha256, "prev_leaf_hash": prev_leaf_hash,
    }
    if case_id is not None:
        event["case_id"] = case_id
    if details:
        event["details"] = details
    return event


def rebuild_leaf(event: CustodyEvent) -> bytes:
    """The canonical leaf the stored columns imply; differs from `event.leaf` if a column was edited."""
    return canonical_leaf(leaf_event(
        index=event.ledger_index, type=event.type, evidence_id=event.evidence_id,
        actor_id=event.actor_id, at=event.at, sha256=event.sha256,
        prev_leaf_hash=event.prev_leaf_hash, case_id=event.case_id, details=event.details,
    ))


_EVENTS = CustodyEvent.__table__
_NODES = LedgerNode.__table__
_HEAD = LedgerHead.__table__
_EVENT_COLUMNS = ("ledger_index", "type", "evidence_id", "case_id", "actor_id", "at", "sha256", "details",
                  "leaf", "leaf_hash", "prev_leaf_hash")
_SELECT_HEAD = select(_HEAD.c.size, _HEAD.c.last_leaf_hash).where(_HEAD.c.id == HEAD_ID)
_SELECT_HEAD_FOR_UPDATE = _SELECT_HEAD.with_for_update()
_INSERT_EVENT = insert(_EVENTS).values({name: bindparam(name) for name in _EVENT_COLUMNS})
_INSERT_NODE = insert(_NODES).values(position=bindparam("position"), level=bindparam("level"),
                                     node_index=bindparam("node_index"), hash=bindparam("hash"))
_UPDATE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(
    size=bindparam("new_size"), last_leaf_hash=bindparam("new_last"))


class _Prepared:
    """A Core statement compiled once per dialect, run on the session's DBAPI cursor.

    The append is the hottest write in the system, and SQLAlchemy's per-execute work (cache
    lookup, execution context, result wrapping) costs more than SQLite's own. The SQL text and
    the bind processors are SQLAlchemy's own, from compiling the statement for the dialect, so
    the stored values (times, JSON) are byte for byte what the ORM would have written; the
    statement runs on the connection of the session's transaction, so it commits or rolls back
    with the caller's work.
    """

    __slots__ = ("sql", "names", "defaults", "processed", "positional")

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        self.names = tuple(compiled.positiontup) if self.positional else tuple(compiled.bind_names.values())
        # a bound literal (`id == 1`) keeps its value; the others come with each execution
        self.defaults = {name: compiled.binds[name].value for name in self.names if not compiled.binds[name].required}
        processors = compiled._bind_processors  # noqa: SLF001 - what Connection.execute applies
        self.processed = tuple((position, processors[name]) for position, name in enumerate(self.names)
                               if name in processors)

    def parameters(self, values: dict[str, Any]):
        if self.defaults:
            values = {**self.defaults, **values}
        params = [values[name] for name in self.names]
        for position, process in self.processed:
            params[position] = process(params[position])
        return params if self.positional else dict(zip(self.names, params))

    def execute(self, cursor, values: dict[str, Any] | None = None):
        cursor.execute(self.sql, self.parameters(values or {}))
        return cursor

    def executemany(self, cursor, rows: list[dict[str, Any]]) -> None:
        if len(rows) == 1:
            cursor.execute(self.sql, self.parameters(rows[0]))
        elif rows:
            cursor.executemany(self.sql, [self.parameters(row) for row in rows])


class _Statements:
    """The append's statements for one dialect, plus the sibling reads by depth."""

    def __init__(self, dialect):
        self.dialect = dialect
        self.select_head = _Prepared(_SELECT_HEAD_FOR_UPDATE, dialect)
        self.insert_event = _Prepared(_INSERT_EVENT, dialect)
        self.insert_node = _Prepared(_INSERT_NODE, dialect)
        self.update_head = _Prepared(_UPDATE_HEAD, dialect)
        self._nodes: dict[int, _Prepared] = {}

    def select_nodes(self, count: int) -> _Prepared:
        """(position, hash) of `count` nodes named by their positions p0, p1, ...: key lookups."""
        statement = self._nodes.get(count)
        if statement is None:
            statement = _Prepared(select(_NODES.c.position, _NODES.c.hash).where(
                _NODES.c.position.in_([bindparam(f"p{n}") for n in range(count)])), self.dialect)
            self._nodes[count] = statement
        return statement


_STATEMENTS: dict[tuple, _Statements] = {}


def _statements(connection) -> _Statements:
    """The compiled statements for this connection's kind of database (shared by its engines)."""
    dialect = connection.dialect
    key = (type(dialect), dialect.paramstyle, dialect.server_version_info)
    statements = _STATEMENTS.get(key)
    if statements is None:
        statements = _STATEMENTS[key] = _Statements(dialect)
    return statements


@dataclass(frozen=True)
class HeadState:
    size: int
    last_leaf_hash: str


def lock_head(session: Session) -> HeadState:
    """Take the append lock: the head row FOR UPDATE (SQLite already holds BEGIN IMMEDIATE).

    The row is created on first use, race-free, so an emptied database needs no seeding.
    """
    connection = session.connection()
    statements = _statements(connection)
    with _cursor(connection) as cursor:
        return _lock_head(connection, statements, cursor)


def _lock_head(connection, statements: _Statements, cursor) -> HeadState:
    row = statements.select_head.execute(cursor).fetchone()
    if row is None:
        upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(upsert(_HEAD).values(id=HEAD_ID, size=0, last_leaf_hash=ZERO_HASH_HEX)
                           .on_conflict_do_nothing())
        row = statements.select_head.execute(cursor).fetchone()
    return HeadState(row[0], row[1])


def _read_nodes(statements: _Statements, cursor, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    if not keys:
        return {}
    wanted = {node_position(level, index): (level, index) for level, index in keys}
    values = {f"p{n}": position for n, position in enumerate(wanted)}
    rows = statements.select_nodes(len(wanted)).execute(cursor, values).fetchall()
    return {wanted[position]: bytes(node) for position, node in rows}


def _left_siblings(statements: _Statements, cursor, index: int) -> dict[tuple[int, int], bytes]:
    """The stored nodes appending leaf `index` reads: one left sibling per trailing one bit."""
    keys = []
    level, position = 0, index
    while position & 1:
        keys.append((level, position - 1))
        level, position = level + 1, position >> 1
    return _read_nodes(statements, cursor, keys)


def _frontier(statements: _Statements, cursor, size: int) -> dict[tuple[int, int], bytes]:
    """The complete subtrees a tree of `size` leaves ends in: every left sibling later leaves read."""
    return _read_nodes(statements, cursor, [(level, (size >> level) - 1)
                                            for level in range(size.bit_length()) if size >> level & 1])


class LedgerStorageError(KeyError):
    """A left sibling an append needs is not stored: the node table was damaged behind our back."""


def _stored_node(nodes: dict[tuple[int, int], bytes]):
    def get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LedgerStorageError(f"stored ledger node ({level}, {index}) is missing: cannot append") from None
    return get


@contextmanager
def _cursor(connection) -> Iterator[Any]:
    """A DBAPI cursor on the connection of the session's transaction, closed after use.

    Driver errors come out as SQLAlchemy's (IntegrityError and the rest), as they would from
    `Connection.execute`: callers catch those.
    """
    dbapi_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dbapi_error as error:
        raise DBAPIError.instance(None, None, error, dbapi_error, dialect=connection.dialect) from error
    finally:
        cursor.close()


def _pipelined(cursor):
    """psycopg's pipeline mode when the cursor has it (statements sent without waiting for each
    reply, errors raised when it ends), else nothing: SQLite runs in-process."""
    pipeline = getattr(getattr(cursor, "connection", None), "pipeline", None)
    return pipeline() if pipeline is not None else nullcontext()


def _make_event(row: dict[str, Any]) -> CustodyEvent:
    """A persistent-to-be CustodyEvent from the row just inserted, without the ORM's attribute events.

    Loaded the way the ORM loads a row (values straight into the instance dict) and given its
    identity key, so `session.add` attaches it as persistent and clean. This is what
    `make_transient_to_detached` does for an instance with every column set and no history
    (nothing to commit, nothing unloaded to expire), at a seventh of its cost.
    """
    mapper = CustodyEvent.__mapper__
    if not mapper.configured:  # what the ORM's constructor would do first
        configure_mappers()
    event = mapper.class_manager.new_instance()
    event.__dict__.update(row)
    instance_state(event).key = mapper.identity_key_from_primary_key((row["ledger_index"],))
    return event


def _new_row(index: int, prev_leaf_hash: str, *, type: str, evidence_id: str | None, actor_id: str,
             sha256: str | None, case_id: str | None, details: dict | None, at: datetime | None) -> dict[str, Any]:
    if type not in EVENT_TYPES:
        raise ValidationFailed(f"unknown custody event type {type!r}", errors={"type": ["unknown event type"]})
    at = (at or utcnow()).astimezone(UTC)
    text = _templated_leaf(index, type, evidence_id, actor_id, at, sha256, prev_leaf_hash, case_id, details)
    data = None
    if text is not None:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            text = None  # a lone surrogate: leaf_bytes refuses it with its own error
    if text is None:
        try:
            data = leaf_bytes(leaf_event(
                index=index, type=type, evidence_id=evidence_id, actor_id=actor_id, at=at, sha256=sha256,
                prev_leaf_hash=prev_leaf_hash, case_id=case_id, details=details,
            ))
        except LeafFormatError as exc:
            raise ValidationFailed(str(exc), errors={"custody_event": [str(exc)]}) from exc
        text = data.decode("utf-8")
    return {"ledger_index": index, "type": type, "evidence_id": evidence_id, "case_id": case_id,
            "actor_id": actor_id, "at": at, "sha256": sha256, "details": details or None,
            "leaf": text, "leaf_hash": sha256_hex(b"\x00" + data), "prev_leaf_hash": prev_leaf_hash}


_json_string = json.encoder.encode_basestring  # json.dumps(ensure_ascii=False)'s own C escaper
_EVENT_TYPE_JSON = {name: _json_string(name) for name in EVENT_TYPES}


def _is_hex64(value: Any) -> bool:
    return type(value) is str and len(value) == 64 and not value.strip("0123456789abcdef")


def _templated_leaf(index: int, type: str, evidence_id: Any, actor_id: Any, at: datetime, sha256: Any,
                    prev_leaf_hash: Any, case_id: Any, details: Any) -> str | None:
    """The leaf text of the common event, written field by field in RFC 8785 key order; else None.

    Why: the append is the hottest write, and building a dict for `json.dumps(sort_keys=True)`
    to sort again cost more than the rest of the leaf. This writes exactly what `leaf_bytes`
    would for events whose fields are plain strings (or null) and whose details, if any, are
    plain JSON (`plain_json`); it makes `_check_event`'s checks itself. Anything else returns
    None and takes `leaf_bytes`, so a field this does not know can never slip through. A test
    holds the two equal over generated events.
    """
    if not (builtins_type(index) is int and 0 <= index <= _SAFE_INT and _is_hex64(prev_leaf_hash)
            and (sha256 is None or _is_hex64(sha256)) and builtins_type(actor_id) is str
            and (evidence_id is None or builtins_type(evidence_id) is str)
            and (case_id is None or builtins_type(case_id) is str)):
        return None
    if index == 0 and prev_leaf_hash != ZERO_HASH_HEX:
        return None  # leaf_bytes refuses it with its own message
    parts = ['{"actor_id":', _json_string(actor_id), ',"at":"', format_at(at), '"']
    if case_id is not None:
        parts += [',"case_id":', _json_string(case_id)]
    if details:
        if not plain_json(details) or builtins_type(details) is not dict:
            return None
        parts += [',"details":', json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"))]
    parts += [',"evidence_id":', "null" if evidence_id is None else _json_string(evidence_id),
              ',"index":', str(index), ',"prev_leaf_hash":"', prev_leaf_hash,
              '","sha256":', "null" if sha256 is None else f'"{sha256}"',
              ',"type":', _EVENT_TYPE_JSON[type], "}"]
    return "".join(parts)


def record_custody_event(session: Session, *, type: str, evidence_id: str | None, actor_id: str,
                         sha256: str | None = None, case_id: str | None = None,
                         details: dict | None = None, at: datetime | None = None) -> CustodyEvent:
    """Append a custody event to the ledger in the caller's transaction (the caller commits).

    Holds the head lock until that commit, so concurrent writers get consecutive indices and
    each leaf names its true predecessor. The returned event is attached to the session.
    """
    if type not in EVENT_TYPES:
        raise ValidationFailed(f"unknown custody event type {type!r}", errors={"type": ["unknown event type"]})
    session.flush()  # the caller's pending rows go first, so the lock is taken in a clean state
    connection = session.connection()
    statements = _statements(connection)
    with _cursor(connection) as cursor:
        head = _lock_head(connection, statements, cursor)
        index = head.size
        row = _new_row(index, head.last_leaf_hash, type=type, evidence_id=evidence_id, actor_id=actor_id,
                       sha256=sha256, case_id=case_id, details=details, at=at)
        digest = row["leaf_hash"]
        siblings = _left_siblings(statements, cursor, index)
        nodes = completed_subtrees(index, bytes.fromhex(digest), _stored_node(siblings))
        with _pipelined(cursor):  # the writes need no answers: one round trip on PostgreSQL
            statements.insert_event.execute(cursor, row)
            statements.insert_node.executemany(cursor, [
                {"position": node_position(level, i), "level": level, "node_index": i, "hash": node}
                for level, i, node in nodes])
            statements.update_head.execute(cursor, {"new_size": index + 1, "new_last": digest})
    event = _make_event(row)
    session.add(event)
    return event


def record_custody_events(session: Session, events: Iterable[Mapping[str, Any]]) -> range:
    """Append several custody events, in order, in the caller's transaction (the caller commits).

    Each mapping takes `record_custody_event`'s keyword arguments. The leaves, their chain and
    the stored nodes are exactly those of appending the events one by one; the head is locked
    once, the frontier of complete subtrees read once, and rows inserted in bulk. All or
    nothing: an invalid event refuses the whole batch before anything is written.

    Returns the consecutive ledger indices the events received. The rows are not loaded into
    the session (a bulk append would fill its identity map for nothing); read them back with
    `custody_events_range` or `session.get(CustodyEvent, index)` when needed.
    """
    events = list(events)
    if not events:
        return range(0)
    for fields in events:  # refuse before taking the lock
        if fields.get("type") not in EVENT_TYPES:
            raise ValidationFailed(f"unknown custody event type {fields.get('type')!r}",
                                   errors={"type": ["unknown event type"]})
    session.flush()
    connection = session.connection()
    statements = _statements(connection)
    with _cursor(connection) as cursor:
        head = _lock_head(connection, statements, cursor)
        nodes = _frontier(statements, cursor, head.size)
        get_node = _stored_node(nodes)
        rows, node_rows = [], []
        index, previous = head.size, head.last_leaf_hash
        for fields in events:
            unknown = set(fields) - _BATCH_FIELDS
            if unknown or "actor_id" not in fields:
                raise TypeError(f"a custody event takes {', '.join(sorted(_BATCH_FIELDS))}, with type and actor_id"
                                f" required; got {', '.join(sorted(fields))}")
            row = _new_row(index, previous, type=fields["type"], evidence_id=fields.get("evidence_id"),
                           actor_id=fields["actor_id"], sha256=fields.get("sha256"), case_id=fields.get("case_id"),
                           details=fields.get("details"), at=fields.get("at"))
            for level, i, node in completed_subtrees(index, bytes.fromhex(row["leaf_hash"]), get_node):
                nodes[(level, i)] = node
                node_rows.append({"position": node_position(level, i), "level": level, "node_index": i, "hash": node})
                if level:  # children of a completed parent are never read again
                    nodes.pop((level - 1, 2 * i), None)
                    nodes.pop((level - 1, 2 * i + 1), None)
            rows.append(row)
            index, previous = index + 1, row["leaf_hash"]
        with _pipelined(cursor):
            statements.insert_event.executemany(cursor, rows)
            statements.insert_node.executemany(cursor, node_rows)
            statements.update_head.execute(cursor, {"new_size": index, "new_last": previous})
    return range(head.size, index)


_BATCH_FIELDS = frozenset({"type", "evidence_id", "actor_id", "sha256", "case_id", "details", "at"})


def custody_for_evidence(session: Session, evidence_id: str) -> list[CustodyEvent]:
    """Every custody event about one item, in ledger order (for GET /evidence/{id}/custody)."""
    return list(session.scalars(
        select(CustodyEvent).where(CustodyEvent.evidence_id == evidence_id).order_by(CustodyEvent.ledger_index)
    ))
