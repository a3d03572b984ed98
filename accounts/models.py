"""Users, their bearer tokens, their devices, and failed logins (for throttling)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, Timestamped, uuid_pk

ROLES = ("admin", "supervisor", "collector", "legal", "auditor")


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[str] = uuid_pk()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # None: no preference, the console follows the browser's language.
    locale: Mapped[str | None] = mapped_column(String(8))

    grants: Mapped[list[CreditorGrant]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                       order_by="CreditorGrant.creditor_id")

    @property
    def creditor_ids(self) -> list[str]:
        return [grant.creditor_id for grant in self.grants]


class Creditor(Timestamped, Base):
    """A bank that places accounts with the agency; users see only the creditors they are granted."""

    __tablename__ = "creditors"

    id: Mapped[str] = uuid_pk()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class CreditorGrant(Base):
    """A user may see and work the cases of this creditor (admins see every creditor)."""

    __tablename__ = "creditor_grants"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessToken(Base):
    """An opaque bearer token; only its SHA-256 is stored, so a database leak yields no tokens."""

    __tablename__ = "access_tokens"

    id: Mapped[str] = uuid_pk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Device(Timestamped, Base):
    """A collector's phone; its Ed25519 key signs what it captures."""

    __tablename__ = "devices"

    id: Mapped[str] = uuid_pk()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """One failed login; counted per username and per client address within a window."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
