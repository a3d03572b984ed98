"""Stored first responses for `Idempotency-Key` replays (kept 24 hours)."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import Base

KEEP_FOR = timedelta(hours=24)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_idempotency_owner_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    content_type: str
    location: str | None
    body: bytes


def _serialise_on_key(session: Session, owner: str, key: str) -> None:
    """A retry that arrives while its first attempt still runs must wait for it, then replay.

    On PostgreSQL a transaction-scoped advisory lock on (owner, key) does that; SQLite
    transactions here are BEGIN IMMEDIATE, which already serialises writers.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"{owner}\n{key}".encode()).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": int.from_bytes(digest[:8], "big", signed=True)})


def find(session: Session, owner: str, key: str) -> StoredResponse | None:
    _serialise_on_key(session, owner, key)
    record = session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.owner == owner, IdempotencyRecord.key == key, IdempotencyRecord.expires_at > utcnow()))
    if record is None:
        return None
    return StoredResponse(record.fingerprint, record.status, record.content_type, record.location, record.body)


PURGE_EVERY_S = 600.0
_next_purge = 0.0


def remember(session: Session, owner: str, key: str, response: StoredResponse) -> bool:
    """Store the first response for (owner, key), over an expired record of the same key.

    One statement (an upsert that touches only an expired row), because it runs just before the
    request's COMMIT, when the request may hold the ledger head lock: every round trip here is
    time other writers wait. False when a live record exists, i.e. another request with the key
    committed first. Other expired records are purged at most every PURGE_EVERY_S per process.
    """
    global _next_purge
    now = utcnow()
    if time.monotonic() >= _next_purge:
        _next_purge = time.monotonic() + PURGE_EVERY_S
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    table = IdempotencyRecord.__table__
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = upsert(table).values(
        owner=owner, key=key, fingerprint=response.fingerprint, status=response.status,
        content_type=response.content_type, location=response.location, body=response.body,
        created_at=now, expires_at=now + KEEP_FOR)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.owner, table.c.key],
        set_={name: statement.excluded[name] for name in
              ("fingerprint", "status", "content_type", "location", "body", "created_at", "expires_at")},
        where=table.c.expires_at <= now,
    ).returning(table.c.id)
    return session.execute(statement).first() is not None
