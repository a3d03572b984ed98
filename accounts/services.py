"""Accounts: users, bearer tokens, login throttling and devices."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import ROLES, AccessToken, Creditor, CreditorGrant, Device, LoginFailure, User
from core.actor import Actor
from core.clock import utcnow
from core.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated, ValidationFailed
from core.signing import key_id, parse_ed25519_public_key

# OWASP's argon2id baseline (19 MiB, t=2, p=1): about 80 ms here, where argon2-cffi's
# default (64 MiB, p=4) costs 500 ms on two cores and would make login a DoS lever.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verifying against a fixed hash when the user is unknown keeps the timing the same,
# so response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not a real password")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: User


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise ValidationFailed("password too short", {"password": ["must be at least 8 characters"]})


def create_user(session: Session, *, username: str, role: str, password: str, display_name: str = "",
                locale: str | None = None, creditor_ids: list[str] | None = None) -> User:
    if role not in ROLES:
        raise ValidationFailed("unknown role", {"role": [f"must be one of {', '.join(ROLES)}"]})
    _check_password_strength(password)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"username {username!r} is taken")
    user = User(username=username, role=role, display_name=display_name or username,
                password_hash=_hasher.hash(password), locale=locale)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"username {username!r} is taken") from None
    if creditor_ids is None:
        only = session.scalars(select(Creditor.id).limit(2)).all()
        creditor_ids = only if len(only) == 1 else []  # one creditor: everyone works for it
    set_grants(session, user, creditor_ids)
    return user


def update_user(session: Session, user_id: str, *, role: str | None = None, active: bool | None = None,
                display_name: str | None = None, password: str | None = None, locale: str | None = None,
                creditor_ids: list[str] | None = None,
                precondition: Callable[[User], None] | None = None) -> User:
    """`precondition` sees the user as it stands, locked, before any change (the API's If-Match)."""
    user = get_user(session, user_id, lock=True)
    if precondition is not None:
        precondition(user)
    if creditor_ids is not None:
        set_grants(session, user, creditor_ids)
    if role is not None:
        if role not in ROLES:
            raise ValidationFailed("unknown role", {"role": [f"must be one of {', '.join(ROLES)}"]})
        user.role = role
    if active is not None:
        user.active = active
        if not active:
            _revoke_all(session, user.id)
    if display_name is not None:
        user.display_name = display_name
    if locale is not None:
        user.locale = locale
    if password is not None:
        _check_password_strength(password)
        user.password_hash = _hasher.hash(password)
        _revoke_all(session, user.id)
    session.flush()
    return user


# --- creditors and grants -------------------------------------------------------------------


def set_grants(session: Session, user: User, creditor_ids: list[str]) -> None:
    """Replace the creditors `user` is granted. Cached actors of the user are dropped (the user row
    changes, which the token cache treats like a role change)."""
    wanted = set(creditor_ids)
    known = set(session.scalars(select(Creditor.id).where(Creditor.id.in_(wanted)))) if wanted else set()
    if wanted - known:
        raise ValidationFailed("unknown creditor", {"creditor_ids": [f"no such creditor: {sorted(wanted - known)[0]}"]})
    held = {grant.creditor_id for grant in user.grants}
    if held == wanted:
        return
    user.grants = [g for g in user.grants if g.creditor_id in wanted] + [
        CreditorGrant(user_id=user.id, creditor_id=c) for c in sorted(wanted - held)]
    user.updated_at = utcnow()


def creditor_scope(user: User) -> frozenset[str] | None:
    """What an actor of `user` may see: None (every creditor) for admins, else the grants."""
    return None if user.role == "admin" else frozenset(user.creditor_ids)


def create_creditor(session: Session, actor: Actor, *, code: str, name: str) -> Creditor:
    if actor.role != "admin":
        raise Forbidden("only admins manage creditors")
    if session.scalar(select(Creditor.id).where(Creditor.code == code)):
        raise Conflict(f"a creditor with code {code!r} exists")
    creditor = Creditor(code=code, name=name)
    session.add(creditor)
    session.flush()
    return creditor


def visible_creditors(actor: Actor) -> Select:
    query = select(Creditor).order_by(Creditor.code, Creditor.id)
    if actor.creditor_ids is not None:
        query = query.where(Creditor.id.in_(sorted(actor.creditor_ids)))
    return query


def get_creditor(session: Session, actor: Actor, creditor_id: str) -> Creditor:
    creditor = session.scalar(visible_creditors(actor).where(Creditor.id == creditor_id))
    if creditor is None:
        raise NotFound("no such creditor")
    return creditor


def get_user(session: Session, user_id: str, *, lock: bool = False) -> User:
    user = session.get(User, user_id, with_for_update=lock or None)
    if user is None:
        raise NotFound("no such user")
    return user


def names_of(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """Each user's display name (else username), in one query: for pages that name many people."""
    ids = sorted({i for i in user_ids if i})
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {id_: display or username for id_, display, username in rows}


def list_users(session: Session, *, role: str | None = None, updated_since: datetime | None = None):
    query = select(User).order_by(User.username, User.id)
    if role:
        query = query.where(User.role == role)
    if updated_since:
        query = query.where(User.updated_at >= updated_since)
    return query


def issue_token(session: Session, *, username: str, password: str, remote_addr: str,
                ttl_seconds: int, max_failures: int, window_seconds: int) -> IssuedToken:
    """Password login. After `max_failures` failures for a username (or from one address)
    within the window, further attempts are refused before the password is even checked."""
    now = utcnow()
    since = now - timedelta(seconds=window_seconds)
    session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    recent_for_user = session.scalar(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.at >= since))
    recent_from_addr = session.scalar(
        select(func.count()).where(LoginFailure.remote_addr == remote_addr, LoginFailure.at >= since))
    if recent_for_user >= max_failures or recent_from_addr >= max_failures * 4:
        raise RateLimited("too many failed logins; try again later", retry_after=window_seconds)

    user = session.scalar(select(User).where(User.username == username))
    if not _password_matches(user, password) or not user.active:
        session.add(LoginFailure(username=username[:64], remote_addr=remote_addr[:64], at=now))
        # The request fails, but the failure must count: commit it before refusing.
        session.commit()
        raise Unauthenticated("wrong username or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)

    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(AccessToken(token_hash=hash_token(token), user_id=user.id, issued_at=now, expires_at=expires_at))
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, user=user)


def _password_matches(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def actor_for_token(session: Session, token: str) -> Actor:
    return verify_token(session, token)[0]


def verify_token(session: Session, token: str) -> tuple[Actor, datetime]:
    """The token's actor and when the token expires (callers that keep the answer need both)."""
    row = session.execute(
        select(AccessToken, User).join(User, User.id == AccessToken.user_id)
        .where(AccessToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise Unauthenticated("unknown token")
    access, user = row
    if access.revoked_at is not None:
        raise Unauthenticated("token revoked")
    if access.expires_at <= utcnow():
        raise Unauthenticated("token expired")
    if not user.active:
        raise Unauthenticated("account disabled")
    return actor_of(session, user), access.expires_at


def actor_of(session: Session, user: User) -> Actor:
    return Actor(id=user.id, role=user.role, username=user.username, creditor_ids=creditor_scope(user))


def revoke_token(session: Session, token: str) -> None:
    access = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token)))
    if access is not None and access.revoked_at is None:
        access.revoked_at = utcnow()


def _revoke_all(session: Session, user_id: str) -> None:
    for access in session.scalars(select(AccessToken).where(AccessToken.user_id == user_id,
                                                             AccessToken.revoked_at.is_(None))):
        access.revoked_at = utcnow()


def register_device(session: Session, actor: Actor, *, label: str, public_key: str) -> Device:
    if not actor.is_collector:
        raise Forbidden("only collectors register devices")
    raw = parse_ed25519_public_key(public_key).public_bytes_raw()
    if session.scalar(select(Device.id).where(Device.public_key == public_key)):
        raise Conflict("this public key is already registered")
    device = Device(user_id=actor.id, label=label, public_key=public_key, key_id=key_id(raw))
    session.add(device)
    session.flush()
    return device


def list_devices(session: Session, actor: Actor, *, updated_since: datetime | None = None):
    query = select(Device).order_by(Device.created_at, Device.id)
    if actor.role != "admin":
        query = query.where(Device.user_id == actor.id)
    if updated_since:
        query = query.where(Device.updated_at >= updated_since)
    return query
