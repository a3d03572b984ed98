"""Verified bearer tokens, kept for a few seconds so a read need not look its token up again.

Revocation stays immediate. Every change that can end a token — logout (`revoked_at`), an account
disabled, a password or role changed, a creditor granted or withdrawn — is announced with PostgreSQL `NOTIFY` in the transaction that makes
it, so it reaches every API process when that transaction commits. Each process listens on a
connection of its own and empties its cache on every announcement; while that connection is down
(or before it is up, or on SQLite, which has no such channel) nothing is served from the cache.
A lookup that raced an announcement is not kept (generation check). Expiry is checked on every hit.
The one path this cannot see is a change made to the database by hand; `TTL_S` bounds that.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from accounts.models import AccessToken, CreditorGrant, User
from accounts.services import hash_token, verify_token
from core.actor import Actor
from core.clock import utcnow

log = logging.getLogger("fieldproof.tokens")

CHANNEL = "fieldproof_token_revocations"
TTL_S = 10.0
MAX_ENTRIES = 50_000


class VerifiedTokens:
    """token hash → (actor, token expiry, kept until); served only while `live`."""

    def __init__(self, ttl_s: float = TTL_S):
        self.ttl_s = ttl_s
        self.live = False
        self._entries: dict[str, tuple[Actor, datetime, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Actor | None:
        if not self.live:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        actor, expires_at, kept_until = entry
        if time.monotonic() >= kept_until or utcnow() >= expires_at:
            self._entries.pop(token_hash, None)
            return None
        return actor

    @property
    def generation(self) -> int:
        return self._generation

    def put(self, token_hash: str, actor: Actor, expires_at: datetime, generation: int) -> None:
        """Keep a lookup made at `generation`, unless a revocation was announced since."""
        with self._lock:
            if not self.live or generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = (actor, expires_at, time.monotonic() + self.ttl_s)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class RevocationListener(threading.Thread):
    """LISTENs on CHANNEL; the cache is live only while this connection is."""

    def __init__(self, database_url: str, tokens: VerifiedTokens):
        super().__init__(name="fieldproof-token-revocations", daemon=True)
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.tokens = tokens
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.tokens.forget_all()  # announcements may have been missed while down
                    self.tokens.live = True
                    while not self.stopping.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self.tokens.forget_all()
            except Exception as error:  # noqa: BLE001 - any failure: stop serving from the cache, retry
                log.warning("token revocation channel down; not caching tokens",
                            extra={"error_type": type(error).__name__})
            finally:
                self.tokens.live = False
                self.tokens.forget_all()
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()


class TokenCache:
    """One per app: the cache, its listener (started lazily, once per process: gunicorn forks)."""

    def __init__(self, database_url: str, enabled: bool):
        self.database_url = database_url
        self.enabled = enabled
        self.tokens = VerifiedTokens()
        self._listener: RevocationListener | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start this process's listener now rather than on the first lookup (a worker's warm-up)."""
        if self.enabled:
            self._ensure_listener()

    def _ensure_listener(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self.tokens = VerifiedTokens()
                self._listener = RevocationListener(self.database_url, self.tokens)
                self._listener.start()
                self._pid = os.getpid()

    def verify(self, session: Session, token: str) -> Actor:
        """The token's actor: from the cache while it is live, else looked up (and kept, unless a
        revocation was announced since the lookup began)."""
        if not self.enabled:
            return verify_token(session, token)[0]
        self._ensure_listener()
        token_hash, generation = hash_token(token), self.tokens.generation
        actor = self.tokens.get(token_hash)
        if actor is None:
            actor, expires_at = verify_token(session, token)
            self.tokens.put(token_hash, actor, expires_at, generation)
        return actor

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()


def _ends_tokens(session: Session) -> bool:
    for obj in session.dirty:
        if isinstance(obj, AccessToken) and session.is_modified(obj) and obj.revoked_at is not None:
            return True
        if isinstance(obj, User) and session.is_modified(obj):
            return True  # active, password or role changed: cached actors may be stale
    # A grant given or withdrawn (`accounts.services.set_grants`) also touches its user, above; a
    # new user's first grants need no announcement: no token of theirs can be cached yet.
    return any(isinstance(obj, (AccessToken, User, CreditorGrant)) for obj in session.deleted)


def announce_revocations(sessions, cache: TokenCache) -> None:
    """Sessions from `sessions` NOTIFY CHANNEL (PostgreSQL) in the transaction that ends tokens,
    and empty this process's cache as soon as it commits."""

    @event.listens_for(sessions, "before_flush")
    def _announce(session: Session, _context, _instances):
        if session.bind is not None and session.bind.dialect.name == "postgresql" and _ends_tokens(session):
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
            session.info["tokens_revoked"] = True

    @event.listens_for(sessions, "after_commit")
    def _forget(session: Session):
        if session.info.pop("tokens_revoked", False):
            cache.tokens.forget_all()
