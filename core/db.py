"""Database base, engine and sessions.

Every model of every package derives from `Base`, so one metadata describes the whole
schema and Alembic can compare it with the migrated database.
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.clock import new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores UTC, returns aware UTC datetimes on every back end (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Timestamped:
    """Rows the mobile app syncs carry `updated_at` for `updated_since` filters."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


def uuid_pk() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


# A WAL checkpoint (copy the log's pages into the database, fdatasync both) every this many WAL
# pages (4 KiB each), instead of SQLite's 1,000: each custody append writes ~8 pages, so the default
# checkpointed every ~125 appends and its two fdatasyncs were the append's largest single wait; at
# 20,000 the same hot pages (head, right edges of the indexes) are copied once per ~2,500 appends.
WAL_AUTOCHECKPOINT_PAGES = 20_000
# The WAL file is reused from its start after each checkpoint, so it normally stays at ~80 MB; a
# reader that pins it can make it grow past that, and it is cut back to this size at the next reset.
WAL_SIZE_LIMIT_BYTES = 128 << 20


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL, with `synchronous=NORMAL`: a commit is durable once in the OS (a crash of the process
    loses nothing), but only fdatasynced at checkpoints, so a power loss can take back the
    transactions committed since the last one (docs/architecture.md, "Integrity (as built)")."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cursor.close()


def _sqlite_query_only(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def _in_memory(url: str) -> bool:
    """An in-memory SQLite database lives in its one connection's pool: a second engine would
    open another, empty one."""
    database = make_url(url).database
    return not database or database == ":memory:" or "mode=memory" in url


def sync_committed(session: Session) -> None:
    """Make every transaction committed so far durable against power loss, not only a crash.

    SQLite here (WAL, `synchronous=NORMAL`) fdatasyncs only at WAL checkpoints; this fdatasyncs
    the WAL file, which holds every commit since the last checkpoint (whose own sync made the rest
    durable). PostgreSQL commits are durable already. Called before handing out what vouches for
    committed rows, a signed tree head: a power loss must not take back leaves a head covers.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    files = {name: path for _seq, name, path in
             connection.connection.dbapi_connection.execute("PRAGMA database_list").fetchall()}
    if not files.get("main"):
        return  # in memory: nothing to make durable
    try:
        fd = os.open(files["main"] + "-wal", os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: everything committed was checkpointed (and synced) already
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


def make_engine(url: str, *, read_only: bool = False, **kwargs) -> Engine:
    """`read_only` (SQLite; PostgreSQL's readers are set up by `Database`): connections SQLite
    itself keeps from writing (`query_only`), each statement on its own, with no BEGIN at all."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite defers BEGIN until the first write, so two writers can both read the
        # ledger's last index and one then fails to upgrade its lock. BEGIN IMMEDIATE takes
        # the write lock up front: writers queue (busy_timeout), and readers, on connections of
        # their own that never begin a transaction, still run beside them (WAL).
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        if read_only:
            event.listen(engine, "connect", _sqlite_query_only)
            return engine

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # Straight on the driver: every write transaction (each custody append) begins here,
            # and `exec_driver_sql`'s execution context cost more than SQLite's BEGIN itself.
            dbapi_connection = conn.connection.dbapi_connection
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), error, sqlite3.Error, dialect=conn.dialect) from error

        return engine
    if read_only:
        raise ValueError("PostgreSQL's readers are made by Database: autocommit, read-only by the server")
    # Room for every gunicorn thread of a worker (deploy/gunicorn.conf.py: 16) in each of the two
    # pools (writers, readers); docs/deploy.md counts the connections this takes.
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 12)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled connection that went unused this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """`pool_pre_ping`, but only for connections idle past PING_AFTER_IDLE_S.

    The ping is a round trip on every checkout, i.e. on every request, where it was one of the
    list endpoint's five. Connections die while idle (server restart, failover, idle timeouts in
    between); one in use a moment ago is almost surely alive. If it is not, the request fails with
    503 and SQLAlchemy invalidates the whole pool on that disconnect, so the next checkouts reconnect.
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("ping failed")


def release_reader(session: Session) -> None:
    """Hand back a reader's connection before the request writes on its own (a read of bytes'
    custody event, `custody.append.commit_custody_event`). A writer's session is refused: its
    reads would hold a transaction, on SQLite the write lock, that the write then waits behind.
    For the readers' autocommit connections this ends nothing; in memory, it frees SQLite's one
    connection for the write."""
    if not session.info.get("read_only"):
        raise TypeError("access was checked on a writer's session: mark the view @reads_and_records")
    session.commit()


def _refuse_writes(session: Session, *_args) -> None:
    raise RuntimeError("a read-only request tried to write; mark its view as writing, not @reads_only")


class Database:
    """Engine plus session factories, made by the app factory (never at import).

    `sessions`: units of work (a transaction each). `readers`: for requests that only read — on
    PostgreSQL a second, small pool of autocommit connections that the server itself holds to
    `default_transaction_read_only`, so a read costs its queries only (no BEGIN, no COMMIT round
    trips) and a write through it fails loudly instead of committing piecemeal. Each statement sees
    committed data as of its start, as in a READ COMMITTED transaction. On SQLite the same, for
    a reason of its own: every writer's transaction begins IMMEDIATE (the write lock), so readers
    that shared their pool would queue behind every write and hold writes back while they read; on
    connections of their own, in autocommit and `query_only`, they run beside the one writer (WAL).
    The session refuses ORM writes either way.
    """

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.reader_engine = self.engine
        if self.engine.dialect.name == "postgresql":
            # UTC as the session's time zone: psycopg then hands out datetimes in `timezone.utc`,
            # which UTCDateTime keeps as they are, instead of converting each to the server's zone
            # (a ZoneInfo) and UTCDateTime back to UTC. No query depends on the session's zone.
            connect_args = {**engine_kwargs.pop("connect_args", {}),
                            "options": "-c default_transaction_read_only=on -c TimeZone=UTC"}
            # No rollback when a connection goes back to the pool: in autocommit there is no
            # transaction to end, and the call was a tenth of a list request.
            self.reader_engine = make_engine(url, isolation_level="AUTOCOMMIT", connect_args=connect_args,
                                             pool_reset_on_return=None, **engine_kwargs)
        elif not _in_memory(url):
            self.reader_engine = make_engine(url, read_only=True, **engine_kwargs)
        self.readers = sessionmaker(self.reader_engine, expire_on_commit=False, info={"read_only": True})
        event.listen(self.readers, "before_flush", _refuse_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader_engine is not self.engine:
            self.reader_engine.dispose()
