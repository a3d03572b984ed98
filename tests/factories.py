"""Factories for users, tokens and cases: tests build what they need, nothing shared."""
from __future__ import annotations

import itertools
import secrets
from functools import lru_cache

from argon2 import PasswordHasher

from sqlalchemy import select

from accounts.models import AccessToken, Creditor, CreditorGrant, User
from cases.models import Portfolio
from accounts.services import hash_token
from core.clock import utcnow

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)


def grant_every_creditor(session, user) -> None:
    session.add_all(CreditorGrant(user_id=user.id, creditor_id=c) for c in session.scalars(select(Creditor.id)))


def default_portfolio_id(db) -> str:
    with db.transaction() as session:
        return session.scalar(select(Portfolio.id).join(Creditor, Creditor.id == Portfolio.creditor_id)
                              .where(Creditor.code == "DEFAULT", Portfolio.code == "DEFAULT"))


class Factory:
    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.db = app.extensions["fieldproof"].db

    def user(self, role: str, username: str | None = None, creditors: list[str] | None = None) -> User:
        """A user with a token; granted `creditors` (ids), by default every creditor that exists."""
        from datetime import timedelta

        with self.db.transaction() as session:
            user = User(username=username or f"{role}{next(_counter)}", role=role, display_name=role.title(),
                        password_hash=_password_hash())
            session.add(user)
            session.flush()
            if creditors is None:
                grant_every_creditor(session, user)
            else:
                session.add_all(CreditorGrant(user_id=user.id, creditor_id=c) for c in creditors)
            token = secrets.token_urlsafe(24)
            session.add(AccessToken(token_hash=hash_token(token), user_id=user.id,
                                    expires_at=utcnow() + timedelta(hours=1)))
        user.token = token
        user.headers = {"Authorization": f"Bearer {token}"}
        return user

    def case_payload(self, collector_id: str | None = None, **overrides) -> dict:
        n = next(_counter)
        payload = {
            "reference": f"CASE-{n:05d}",
            "debtor": {"name": "Li Wei", "national_id": f"11010119850101{n:04d}", "phone": f"+86 138 0013 {n:04d}"},
            "card_last4": "4321",
            "currency": "CNY",
            "amount_overdue": "12345.67",
            "days_past_due": 95,
            "jurisdiction": "CN",
            "flags": {"cease_contact": False, "attorney_represented": False, "workplace_contact_prohibited": False},
            "assigned_collector_id": collector_id,
            "addresses": [
                {"kind": "home", "line": "88 Century Avenue", "city": "Shanghai", "country": "CN",
                 "lat": 31.2354, "lon": 121.5055},
                {"kind": "workplace", "line": "1 Lujiazui Ring Road", "city": "Shanghai", "country": "CN",
                 "lat": 31.2397, "lon": 121.4998},
            ],
        }
        payload.update(overrides)
        return payload

    def case(self, collector=None, supervisor=None, **overrides) -> dict:
        supervisor = supervisor or self.user("supervisor")
        response = self.client.post("/api/v1/cases", json=self.case_payload(collector.id if collector else None,
                                                                             **overrides),
                                    headers=supervisor.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()
