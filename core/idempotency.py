"""Stored first responses for `Idempotency-Key` replays (kept 24 hours)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select, text
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


def remember(session: Session, owner: str, key: str, response: StoredResponse) -> None:
    now = utcnow()
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    session.add(IdempotencyRecord(owner=owner, key=key, fingerprint=response.fingerprint, status=response.status,
                                  content_type=response.content_type, location=response.location,
                                  body=response.body, created_at=now, expires_at=now + KEEP_FOR))
