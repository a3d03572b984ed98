"""Cancelling and rescheduling a visit: supervisors only, with a reason, on the timeline and in the ledger."""
import hashlib

import pytest
from sqlalchemy import select

from custody.models import CustodyEvent
from tests.api.visit_helpers import HOME, check_in, local, make_world, rules_of, scheduled, timeline


@pytest.fixture
def world(factory):
    return make_world(factory)


def cancel(client, user, visit_id, reason="debtor asked for another day", **headers):
    return client.post(f"/api/v1/visits/{visit_id}/cancel", json={"reason": reason},
                       headers={**user.headers, **headers})


def reschedule(client, user, visit_id, start, end, reason="debtor asked for the afternoon", **headers):
    body = {"window_start": start.isoformat(), "window_end": end.isoformat(), "reason": reason}
    return client.post(f"/api/v1/visits/{visit_id}/reschedule", json=body, headers={**user.headers, **headers})


def custody_events(app, visit_id):
    with app.extensions["fieldproof"].db.transaction() as session:
        return [(e.type, e.case_id, e.sha256, e.details) for e in session.scalars(
            select(CustodyEvent).where(CustodyEvent.subject_id == visit_id).order_by(CustodyEvent.ledger_index))]


def visit_of(client, world, visit_id):
    return client.get(f"/api/v1/visits/{visit_id}", headers=world.supervisor.headers).get_json()


# --- cancelling -----------------------------------------------------------------------------


def test_cancel_records_status_reason_timeline_and_custody_event(app, client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    response = cancel(client, world.supervisor, visit["id"], reason="  debtor in hospital  ")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["reason"] == "debtor in hospital"
    assert body["cancellation"]["by"] == world.supervisor.id
    assert visit_of(client, world, visit["id"])["status"] == "cancelled"
    events = [e for e in timeline(client, world) if e["type"] == "visit_cancelled"]
    assert len(events) == 1 and events[0]["subject_id"] == visit["id"]
    assert events[0]["details"]["reason"] == "debtor in hospital"
    [(kind, case_id, digest, details)] = custody_events(app, visit["id"])
    assert (kind, case_id) == ("visit_cancelled", world.case["id"])
    assert digest == hashlib.sha256(b"debtor in hospital").hexdigest()
    assert "hospital" not in str(details)  # the ledger proves the reason without repeating it


def test_a_fresh_visit_has_no_cancellation(client, world):
    assert scheduled(client, world, local(1, 10), local(1, 12))["cancellation"] is None


def test_cancelled_visit_cannot_be_checked_in(client, world, clock):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    assert cancel(client, world.supervisor, visit["id"]).status_code == 200
    clock.now = local(1, 10, 5)
    response = check_in(client, world.collector, visit["id"], clock.now, HOME)
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "urn:fieldproof:problem:visit-cancelled"
    assert visit_of(client, world, visit["id"])["check_in"] is None


def test_cancelling_twice_is_a_conflict_and_records_nothing_more(app, client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    assert cancel(client, world.supervisor, visit["id"], reason="first").status_code == 200
    again = cancel(client, world.supervisor, visit["id"], reason="second")
    assert again.status_code == 409
    assert again.get_json()["type"] == "urn:fieldproof:problem:visit-cancelled"
    assert visit_of(client, world, visit["id"])["cancellation"]["reason"] == "first"
    assert len(custody_events(app, visit["id"])) == 1
    assert len([e for e in timeline(client, world) if e["type"] == "visit_cancelled"]) == 1


@pytest.mark.parametrize("action", ["cancel", "reschedule"])
def test_a_visit_checked_in_cannot_be_cancelled_or_rescheduled(client, world, clock, action):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    clock.now = local(1, 10, 5)
    assert check_in(client, world.collector, visit["id"], clock.now, HOME).status_code == 200
    if action == "cancel":
        response = cancel(client, world.supervisor, visit["id"])
    else:
        response = reschedule(client, world.supervisor, visit["id"], local(2, 10), local(2, 11))
    assert response.status_code == 409
    assert response.get_json()["type"] == "urn:fieldproof:problem:visit-underway"
    assert visit_of(client, world, visit["id"])["status"] == "checked_in"


def test_a_cancelled_visit_cannot_be_rescheduled(client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    assert cancel(client, world.supervisor, visit["id"]).status_code == 200
    response = reschedule(client, world.supervisor, visit["id"], local(2, 10), local(2, 11))
    assert response.status_code == 409
    assert response.get_json()["type"] == "urn:fieldproof:problem:visit-cancelled"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required_and_bounded(client, world, reason):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    response = cancel(client, world.supervisor, visit["id"], reason=reason)
    assert response.status_code == 422
    assert "reason" in response.get_json()["errors"]
    missing = client.post(f"/api/v1/visits/{visit['id']}/reschedule", json={
        "window_start": local(2, 10).isoformat(), "window_end": local(2, 11).isoformat()},
        headers=world.supervisor.headers)
    assert missing.status_code == 422 and "reason" in missing.get_json()["errors"]
    assert visit_of(client, world, visit["id"])["status"] == "scheduled"


@pytest.mark.parametrize("role,status", [("collector", 403), ("legal", 403), ("auditor", 403), ("admin", 200)])
def test_only_the_scheduling_roles_cancel(client, factory, world, role, status):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    user = world.collector if role == "collector" else factory.user(role)
    assert cancel(client, user, visit["id"]).status_code == status
    assert reschedule(client, user, visit["id"], local(2, 10), local(2, 11)).status_code == (
        403 if status == 403 else 409)


def test_an_unknown_visit_is_404(client, world):
    assert cancel(client, world.supervisor, "no-such-visit").status_code == 404
    assert reschedule(client, world.supervisor, "no-such-visit", local(2, 10), local(2, 11)).status_code == 404


def test_a_cancelled_visit_frees_its_day_for_another(client, world):
    """Cancelled visits leave the frequency count: the day can be scheduled again."""
    visit = scheduled(client, world, local(1, 10), local(1, 11))
    assert cancel(client, world.supervisor, visit["id"]).status_code == 200
    assert scheduled(client, world, local(1, 15), local(1, 16))["status"] == "scheduled"


def test_cancel_replays_with_the_same_idempotency_key(app, client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    first = cancel(client, world.supervisor, visit["id"], **{"Idempotency-Key": "cancel-1"})
    again = cancel(client, world.supervisor, visit["id"], **{"Idempotency-Key": "cancel-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(custody_events(app, visit["id"])) == 1


# --- rescheduling ---------------------------------------------------------------------------


def test_reschedule_moves_the_window_and_records_it(app, client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    response = reschedule(client, world.supervisor, visit["id"], local(3, 14), local(3, 15))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "scheduled"
    assert body["window_start"] == local(3, 6).strftime("%Y-%m-%dT%H:%M:%SZ")  # 14:00 +08:00 in UTC
    assert body["local_date"] == local(3, 14).date().isoformat()
    [event] = [e for e in timeline(client, world) if e["type"] == "visit_rescheduled"]
    assert event["details"]["previous_window_start"] == visit["window_start"]
    assert event["details"]["window_start"] == body["window_start"]
    assert event["details"]["reason"] == "debtor asked for the afternoon"
    [(kind, case_id, digest, details)] = custody_events(app, visit["id"])
    assert kind == "visit_rescheduled" and case_id == world.case["id"]
    assert details["window_end"] == body["window_end"] and details["previous_window_end"] == visit["window_end"]
    assert digest == hashlib.sha256(b"debtor asked for the afternoon").hexdigest()


def test_reschedule_refused_by_the_scheduling_rules_lists_every_violation_and_changes_nothing(app, client, factory):
    world = make_world(factory)
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    with app.extensions["fieldproof"].db.transaction() as session:  # the case changes after scheduling
        from cases.models import Case

        session.get(Case, world.case["id"]).attorney_represented = True
    response = reschedule(client, world.supervisor, visit["id"], local(2, 21, 30), local(2, 22, 30))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert sorted(rules_of(response)) == ["contact.represented", "hours.local"]
    after = visit_of(client, world, visit["id"])
    assert (after["window_start"], after["window_end"], after["updated_at"]) == (
        visit["window_start"], visit["window_end"], visit["updated_at"])
    assert [e for e in timeline(client, world) if e["type"] == "visit_rescheduled"] == []
    assert custody_events(app, visit["id"]) == []


def test_reschedule_judges_the_frequency_limit_without_counting_the_visit_itself(client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 11))
    other = scheduled(client, world, local(2, 10), local(2, 11))
    # Moving within its own day is lawful; onto the other visit's day breaks the daily limit.
    assert reschedule(client, world.supervisor, visit["id"], local(1, 15), local(1, 16)).status_code == 200
    clash = reschedule(client, world.supervisor, visit["id"], local(2, 15), local(2, 16))
    assert rules_of(clash) == ["frequency.visits"]
    assert visit_of(client, world, other["id"])["status"] == "scheduled"


def test_reschedule_window_must_be_ordered_and_in_the_future(client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 11))
    backwards = reschedule(client, world.supervisor, visit["id"], local(2, 11), local(2, 10))
    assert backwards.status_code == 422 and "window_end" in backwards.get_json()["errors"]
    past = reschedule(client, world.supervisor, visit["id"], local(-2, 10), local(-2, 11))
    assert past.status_code == 422 and "window_end" in past.get_json()["errors"]


def test_reschedule_replays_with_the_same_idempotency_key(app, client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    first = reschedule(client, world.supervisor, visit["id"], local(2, 10), local(2, 11),
                       **{"Idempotency-Key": "move-1"})
    again = reschedule(client, world.supervisor, visit["id"], local(2, 10), local(2, 11),
                       **{"Idempotency-Key": "move-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert len(custody_events(app, visit["id"])) == 1


def test_the_sync_listing_shows_cancelled_visits_as_cancelled(client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    before = visit_of(client, world, visit["id"])["updated_at"]
    assert cancel(client, world.supervisor, visit["id"]).status_code == 200
    synced = client.get("/api/v1/visits", query_string={"updated_since": before},
                        headers=world.collector.headers).get_json()
    assert [(v["id"], v["status"]) for v in synced] == [(visit["id"], "cancelled")]
