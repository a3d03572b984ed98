from datetime import timedelta

from sqlalchemy import func, select, update

from cases.models import Case
from core.clock import utcnow
from core.idempotency import IdempotencyRecord
from tests.api.test_errors import assert_problem


def count(app, model):
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_replay_returns_the_first_response_and_creates_nothing(app, client, factory):
    supervisor = factory.user("supervisor")
    payload = factory.case_payload()
    headers = {**supervisor.headers, "Idempotency-Key": "open-case-1"}
    first = client.post("/api/v1/cases", json=payload, headers=headers)
    second = client.post("/api/v1/cases", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(app, Case) == 1


def test_same_json_with_other_key_order_and_spacing_is_the_same_request(app, client, factory):
    supervisor = factory.user("supervisor")
    payload = factory.case_payload()
    headers = {**supervisor.headers, "Idempotency-Key": "k-order"}
    import json

    assert client.post("/api/v1/cases", json=payload, headers=headers).status_code == 201
    reordered = json.dumps(dict(reversed(list(payload.items()))), indent=2)
    again = client.post("/api/v1/cases", data=reordered, content_type="application/json", headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert count(app, Case) == 1


def test_same_key_with_another_body_is_409(app, client, factory):
    supervisor = factory.user("supervisor")
    headers = {**supervisor.headers, "Idempotency-Key": "k1"}
    assert client.post("/api/v1/cases", json=factory.case_payload(), headers=headers).status_code == 201
    assert_problem(client.post("/api/v1/cases", json=factory.case_payload(), headers=headers), 409)
    assert count(app, Case) == 1


def test_keys_belong_to_their_user(app, client, factory):
    a, b = factory.user("supervisor"), factory.user("supervisor")
    assert client.post("/api/v1/cases", json=factory.case_payload(),
                       headers={**a.headers, "Idempotency-Key": "shared"}).status_code == 201
    response = client.post("/api/v1/cases", json=factory.case_payload(),
                           headers={**b.headers, "Idempotency-Key": "shared"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(app, Case) == 2


def test_failed_requests_are_not_remembered(app, client, factory):
    supervisor = factory.user("supervisor")
    headers = {**supervisor.headers, "Idempotency-Key": "retry-after-fix"}
    assert client.post("/api/v1/cases", json=factory.case_payload(jurisdiction="FR"),
                       headers=headers).status_code == 422
    assert client.post("/api/v1/cases", json=factory.case_payload(), headers=headers).status_code == 201
    assert count(app, IdempotencyRecord) == 1


def test_keys_expire_after_24_hours(app, client, factory):
    supervisor = factory.user("supervisor")
    payload = factory.case_payload()
    headers = {**supervisor.headers, "Idempotency-Key": "old"}
    client.post("/api/v1/cases", json=payload, headers=headers)
    with app.extensions["fieldproof"].db.transaction() as session:
        record = session.scalar(select(IdempotencyRecord))
        assert timedelta(hours=23) < record.expires_at - record.created_at <= timedelta(hours=24)
        session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    # the key is free again: the same body is now a new request (the duplicate reference is refused)
    assert_problem(client.post("/api/v1/cases", json=payload, headers=headers), 409)


def test_invalid_key_is_422(client, factory):
    headers = {**factory.user("supervisor").headers, "Idempotency-Key": "x" * 300}
    assert_problem(client.post("/api/v1/cases", json=factory.case_payload(), headers=headers), 422)
