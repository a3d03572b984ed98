"""Visits over HTTP: lawful scheduling, check-in (geofence, clock, travel), check-out, promises."""
from datetime import timedelta

import pytest

from tests.api.visit_helpers import (HOME, WORK, check_in, check_out, local, make_world, moved,  # noqa: F401
                                     rules_of, schedule, scheduled, timeline)


@pytest.fixture
def world(factory):
    return make_world(factory)


# --- scheduling -----------------------------------------------------------------------------


def test_refused_schedule_lists_every_violated_rule_at_once(client, factory):
    world = make_world(factory, flags={"cease_contact": True, "attorney_represented": True,
                                       "workplace_contact_prohibited": False})
    response = schedule(client, world, local(1, 21, 30), local(1, 22, 30), second=False)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert sorted(rules_of(response)) == ["contact.cease", "contact.represented", "hours.local", "team.size"]
    assert all(v["detail"] for v in response.get_json()["violations"])
    assert client.get("/api/v1/visits", headers=world.supervisor.headers).get_json() == []


def test_workplace_visit_refused_when_workplace_contact_is_prohibited(client, factory):
    world = make_world(factory, flags={"cease_contact": False, "attorney_represented": False,
                                       "workplace_contact_prohibited": True})
    response = schedule(client, world, local(1, 10), local(1, 11), kind="workplace", second=False)
    assert rules_of(response) == ["place.workplace"]
    assert schedule(client, world, local(1, 10), local(1, 11), kind="home").status_code == 201


def test_window_ending_at_closing_time_is_lawful_and_one_minute_later_is_not(client, world):
    assert schedule(client, world, local(1, 21), local(1, 22)).status_code == 201
    late = schedule(client, world, local(2, 21), local(2, 22, 1))
    assert rules_of(late) == ["hours.local"]


def test_second_visit_on_the_same_local_day_breaks_the_frequency_limit(client, world):
    scheduled(client, world, local(1, 9), local(1, 10))
    response = schedule(client, world, local(1, 15), local(1, 16), kind="workplace")
    assert rules_of(response) == ["frequency.visits"]


def test_schedule_records_the_visit_and_a_timeline_event_without_personal_data(client, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    assert visit["status"] == "scheduled"
    assert visit["time_zone"] == "Asia/Shanghai"
    assert visit["local_date"] == local(1, 10).date().isoformat()
    assert visit["window_start"] == local(1, 2).strftime("%Y-%m-%dT%H:%M:%SZ")  # 10:00 +08:00 in UTC
    assert visit["check_in"] is None and visit["check_out"] is None
    events = [e for e in timeline(client, world) if e["type"] == "visit_scheduled"]
    assert len(events) == 1 and events[0]["subject_id"] == visit["id"]
    assert "Century" not in str(events[0]["details"]) and "Li Wei" not in str(events[0]["details"])


@pytest.mark.parametrize("change,field", [
    ({"address_id": "not-an-address"}, "address_id"),
    ({"collector_id": "nobody"}, "collector_id"),
    ({"window_end": None}, "window_end"),
])
def test_bad_references_are_422_with_the_field(client, world, change, field):
    body = {"case_id": world.case["id"], "address_id": world.address("home")["id"], "collector_id": world.collector.id,
            "second_collector_id": world.second.id, "window_start": local(1, 10).isoformat(),
            "window_end": local(1, 11).isoformat()}
    if change.get("window_end", "") is None:
        body["window_end"] = local(1, 9).isoformat()
    else:
        body.update(change)
    response = client.post("/api/v1/visits", json=body, headers=world.supervisor.headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_only_supervisors_and_admins_schedule(client, factory, world):
    body = {"case_id": world.case["id"], "address_id": world.address("home")["id"], "collector_id": world.collector.id,
            "window_start": local(1, 10).isoformat(), "window_end": local(1, 11).isoformat()}
    for role, status in (("collector", 403), ("legal", 403), ("auditor", 403)):
        assert client.post("/api/v1/visits", json=body, headers=factory.user(role).headers).status_code == status


def test_collectors_read_only_their_own_visits(client, factory, world):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    stranger = factory.user("collector")
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=world.collector.headers).status_code == 200
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=world.second.headers).status_code == 200
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=stranger.headers).status_code == 404
    assert client.get("/api/v1/visits", headers=stranger.headers).get_json() == []
    listed = client.get("/api/v1/visits", headers=world.collector.headers).get_json()
    assert [v["id"] for v in listed] == [visit["id"]]


def test_list_filters_by_local_date_status_and_updated_since(client, world):
    first = scheduled(client, world, local(1, 10), local(1, 12))
    second = scheduled(client, world, local(2, 10), local(2, 12))
    headers = world.supervisor.headers
    by_day = client.get(f"/api/v1/visits?date={local(2, 10).date()}", headers=headers).get_json()
    assert [v["id"] for v in by_day] == [second["id"]]
    assert client.get("/api/v1/visits?status=completed", headers=headers).get_json() == []
    since = client.get("/api/v1/visits", query_string={"updated_since": second["updated_at"]}, headers=headers)
    assert first["id"] not in [v["id"] for v in since.get_json()]
    assert second["id"] in [v["id"] for v in since.get_json()]


# --- check-in -------------------------------------------------------------------------------


def _visit_tomorrow(client, world, clock, minutes_in=5):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    clock.now = local(1, 10, minutes_in)
    return visit


def test_check_in_inside_the_geofence(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    response = check_in(client, world.collector, visit["id"], clock.now, moved(HOME, 40), accuracy_m=8)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "checked_in"
    check = body["check_in"]
    assert check["within_geofence"] is True
    assert 39 < check["distance_m"] < 41
    assert check["accuracy_m"] == 8 and check["outside_window"] is False
    assert check["device_at"].endswith("+08:00")
    events = [e for e in timeline(client, world) if e["type"] == "visit_checked_in"]
    assert events[0]["details"]["within_geofence"] is True
    assert "lat" not in events[0]["details"] and "lon" not in events[0]["details"]


@pytest.mark.parametrize("metres,accuracy,inside", [
    (99, None, True), (120, None, False), (140, 45, True), (149, 400, True), (160, 400, False), (500, 10, False),
])
def test_geofence_is_radius_plus_accuracy_capped_at_50_m(client, world, clock, metres, accuracy, inside):
    visit = _visit_tomorrow(client, world, clock)
    response = check_in(client, world.collector, visit["id"], clock.now, moved(HOME, metres), accuracy_m=accuracy)
    assert response.status_code == 200
    assert response.get_json()["check_in"]["within_geofence"] is inside


def test_second_check_in_is_a_conflict(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    assert check_in(client, world.collector, visit["id"], clock.now, HOME).status_code == 200
    again = check_in(client, world.collector, visit["id"], clock.now, HOME)
    assert again.status_code == 409


def test_check_in_outside_lawful_hours_is_refused_naming_the_rule(client, world, clock):
    visit = scheduled(client, world, local(1, 20), local(1, 22))
    clock.now = local(1, 22, 5)
    response = check_in(client, world.collector, visit["id"], local(1, 22), HOME)
    assert response.status_code == 422
    assert rules_of(response) == ["hours.local"]
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=world.collector.headers).get_json()["status"] == "scheduled"
    lawful = check_in(client, world.collector, visit["id"], local(1, 21, 59), HOME)
    assert lawful.status_code == 200


def test_check_in_in_the_future_beyond_the_allowed_skew_is_refused(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    assert rules_of(check_in(client, world.collector, visit["id"], clock.now + timedelta(minutes=6), HOME)) == [
        "time.clock_skew"]
    within = check_in(client, world.collector, visit["id"], clock.now + timedelta(minutes=4), HOME)
    assert within.status_code == 200
    assert within.get_json()["check_in"]["clock_skew_s"] == pytest.approx(240, abs=1)


def test_check_in_before_the_visit_was_scheduled_is_refused(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    response = check_in(client, world.collector, visit["id"], local(-1, 10), HOME)
    assert response.status_code == 422
    assert "time.order" in rules_of(response)


@pytest.mark.parametrize("offset_hours", [-1, 3])
def test_device_clock_far_from_the_server_is_accepted_and_recorded_as_skew(client, world, clock, offset_hours):
    """The phone's clock is off by hours: its `at` and `sent_at` are both on that clock."""
    visit = _visit_tomorrow(client, world, clock)
    device_now = clock.now + timedelta(hours=offset_hours)
    response = check_in(client, world.collector, visit["id"], device_now - timedelta(minutes=2), HOME,
                        sent_at=device_now.isoformat())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["check_in"]["clock_skew_s"] == pytest.approx(offset_hours * 3600, abs=1)
    assert body["flags"]["clock_skew"] is True


def test_check_in_outside_the_window_but_within_lawful_hours_is_flagged(client, world, clock):
    visit = scheduled(client, world, local(1, 10), local(1, 12))
    clock.now = local(1, 14)
    response = check_in(client, world.collector, visit["id"], clock.now, HOME)
    assert response.status_code == 200
    assert response.get_json()["check_in"]["outside_window"] is True


def test_impossible_travel_between_consecutive_check_ins_is_flagged(client, factory, world, clock):
    beijing = factory.case(collector=world.collector, supervisor=world.supervisor, addresses=[
        {"kind": "home", "line": "1 Dongzhimen South Street", "city": "Beijing", "country": "CN",
         "lat": 39.9388, "lon": 116.4345}])
    shanghai_visit = scheduled(client, world, local(1, 10), local(1, 12))
    beijing_visit = scheduled(client, world, local(1, 10), local(1, 12), case=beijing)
    clock.now = local(1, 11)
    assert check_in(client, world.collector, shanghai_visit["id"], local(1, 10, 0), HOME).status_code == 200
    response = check_in(client, world.collector, beijing_visit["id"], local(1, 10, 30), (39.9388, 116.4345))
    assert response.status_code == 200
    body = response.get_json()
    assert body["check_in"]["impossible_travel"] is True
    assert body["flags"]["impossible_travel_with"] == [shanghai_visit["id"]]
    first = client.get(f"/api/v1/visits/{shanghai_visit['id']}", headers=world.collector.headers).get_json()
    assert first["check_in"]["impossible_travel"] is False


def test_only_the_visits_collectors_check_in(client, factory, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    assert check_in(client, world.supervisor, visit["id"], clock.now, HOME).status_code == 403
    assert check_in(client, factory.user("collector"), visit["id"], clock.now, HOME).status_code == 404


# --- check-out, promises ----------------------------------------------------------------------


def test_check_out_requires_a_check_in_and_happens_once(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    assert check_out(client, world.collector, visit["id"], clock.now, "not_home").status_code == 409
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    clock.now += timedelta(minutes=20)
    done = check_out(client, world.collector, visit["id"], clock.now, "not_home", summary="nobody answered")
    assert done.status_code == 200
    assert done.get_json()["status"] == "completed"
    assert done.get_json()["check_out"]["outcome"] == "not_home"
    assert check_out(client, world.collector, visit["id"], clock.now, "not_home").status_code == 409


def test_a_check_in_in_whole_seconds_within_the_second_it_was_scheduled_is_accepted(app, client, world, clock):
    """The phone sends whole seconds; the visit was scheduled later within that second."""
    from visits.models import Visit

    visit = _visit_tomorrow(client, world, clock, minutes_in=1)
    with app.extensions["fieldproof"].db.transaction() as session:  # scheduled at 10:00:00.4 that day
        session.get(Visit, visit["id"]).created_at = local(1, 10) + timedelta(milliseconds=400)
    response = check_in(client, world.collector, visit["id"], local(1, 10), HOME)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["flags"].get("clock_skew") is True
    assert check_in(client, world.collector, visit["id"], local(1, 10), HOME).status_code == 409


def test_a_check_out_a_little_before_the_check_in_is_flagged_not_refused(client, world, clock):
    visit = _visit_tomorrow(client, world, clock, minutes_in=30)
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    response = check_out(client, world.collector, visit["id"], clock.now - timedelta(minutes=2), "met_debtor")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["flags"]["clock_skew"] is True


def test_check_out_before_the_check_in_is_refused(client, world, clock):
    visit = _visit_tomorrow(client, world, clock, minutes_in=30)
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    response = check_out(client, world.collector, visit["id"], clock.now - timedelta(minutes=10), "met_debtor")
    assert rules_of(response) == ["time.order"]


@pytest.mark.parametrize("outcome,promise,field", [
    ("promise_to_pay", None, "promise"),
    ("not_home", {"amount": "100.00", "due_date": "DAY"}, "promise"),
    ("promise_to_pay", {"amount": "100.00", "due_date": "PAST"}, "promise.due_date"),
])
def test_promise_must_fit_the_outcome_and_the_calendar(client, world, clock, outcome, promise, field):
    visit = _visit_tomorrow(client, world, clock)
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    extra = {}
    if promise is not None:
        day = local(1, 10).date() + (timedelta(days=-1) if promise["due_date"] == "PAST" else timedelta(days=7))
        extra["promise"] = {**promise, "due_date": day.isoformat()}
    response = check_out(client, world.collector, visit["id"], clock.now, outcome, **extra)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_outcome_promise_broken_promise_report(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    due = local(4, 0).date()
    clock.now += timedelta(minutes=15)
    response = check_out(client, world.collector, visit["id"], clock.now, "promise_to_pay",
                         promise={"amount": "500.00", "due_date": due.isoformat()})
    assert response.status_code == 200
    case = client.get(f"/api/v1/cases/{world.case['id']}", headers=world.supervisor.headers).get_json()
    assert case["status"] == "promise"
    made = [e for e in timeline(client, world) if e["type"] == "promise_made"]
    assert made[0]["details"]["currency"] == "CNY" and made[0]["details"]["amount"] == "500.00"

    report = "/api/v1/reports/promises"
    clock.now = local(4, 23, 59)  # the last minute of the due date at the address: still due
    assert client.get(report, headers=world.supervisor.headers).get_json() == []
    clock.now = local(5, 0)
    broken = client.get(report, headers=world.supervisor.headers).get_json()
    assert [(p["case_id"], p["status"], p["amount"], p["due_date"]) for p in broken] == [
        (world.case["id"], "broken", "500.00", due.isoformat())]
    assert broken[0]["visit_id"] == visit["id"] and broken[0]["collector_id"] == world.collector.id
    again = client.get(report, headers=world.supervisor.headers).get_json()
    assert len(again) == 1
    assert [e["type"] for e in timeline(client, world)].count("promise_broken") == 1


def test_a_payment_before_the_due_date_keeps_the_promise(client, world, clock):
    visit = _visit_tomorrow(client, world, clock)
    check_in(client, world.collector, visit["id"], clock.now, HOME)
    check_out(client, world.collector, visit["id"], clock.now + timedelta(minutes=5), "promise_to_pay",
              promise={"amount": "80.50", "currency": "USD", "due_date": local(3, 0).date().isoformat()})
    second = scheduled(client, world, local(2, 10), local(2, 12))
    clock.now = local(2, 10, 10)
    check_in(client, world.collector, second["id"], clock.now, HOME)
    paid = check_out(client, world.collector, second["id"], clock.now + timedelta(minutes=5), "payment_received")
    assert paid.status_code == 200
    clock.now = local(9, 12)
    assert client.get("/api/v1/reports/promises", headers=world.supervisor.headers).get_json() == []
    assert "promise_kept" in [e["type"] for e in timeline(client, world)]


def test_collectors_cannot_read_reports(client, world):
    assert client.get("/api/v1/reports/promises", headers=world.collector.headers).status_code == 403
