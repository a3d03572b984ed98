"""GET /reports/visits: per collector, as JSON and as CSV; refusals counted per rule id."""
import csv
import io

import pytest

from tests.api.visit_helpers import (HOME, check_in, check_out, local, make_world, moved,  # noqa: F401
                                     schedule, scheduled)


@pytest.fixture
def activity(client, factory, clock):
    """One collector's two days: a refused attempt, a visit outside the geofence that ends in a
    promise, a visit inside it where nobody was home, and one still scheduled."""
    world = make_world(factory)
    refused = schedule(client, world, local(1, 21), local(1, 23), second=False)
    assert refused.status_code == 422
    first = scheduled(client, world, local(1, 10), local(1, 12))
    second = scheduled(client, world, local(2, 10), local(2, 12))
    scheduled(client, world, local(3, 10), local(3, 12))
    clock.now = local(1, 10, 5)
    check_in(client, world.collector, first["id"], clock.now, moved(HOME, 400))
    check_out(client, world.collector, first["id"], clock.now, "promise_to_pay",
              promise={"amount": "10.00", "due_date": local(5, 0).date().isoformat()})
    clock.now = local(2, 10, 5)
    check_in(client, world.collector, second["id"], clock.now, HOME)
    check_out(client, world.collector, second["id"], clock.now, "not_home")
    return world


def _report(client, world, days=(1, 3), **headers):
    query = {"from": local(days[0], 0).date().isoformat(), "to": local(days[1], 0).date().isoformat()}
    return client.get("/api/v1/reports/visits", query_string=query, headers={**world.supervisor.headers, **headers})


def test_report_counts_per_collector(client, activity):
    response = _report(client, activity)
    assert response.status_code == 200
    body = response.get_json()
    assert body["from"] == local(1, 0).date().isoformat()
    [row] = body["collectors"]
    assert row["collector_id"] == activity.collector.id
    assert (row["scheduled"], row["checked_in"], row["completed"], row["outside_geofence"]) == (3, 2, 2, 1)
    assert row["refused_attempts"] == 1
    assert row["refused_by_rule"] == {"hours.local": 1, "team.size": 1}
    assert row["outcomes"]["promise_to_pay"] == 1 and row["outcomes"]["not_home"] == 1
    assert row["outcomes"]["met_debtor"] == 0


def test_report_period_is_by_local_day(client, activity):
    [row] = _report(client, activity, days=(2, 2)).get_json()["collectors"]
    assert (row["scheduled"], row["completed"], row["refused_attempts"]) == (1, 1, 0)
    assert _report(client, activity, days=(10, 12)).get_json()["collectors"] == []


def test_report_as_csv(client, activity):
    response = _report(client, activity, Accept="text/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["collector_id"] == activity.collector.id
    assert rows[0]["refused.hours.local"] == "1" and rows[0]["refused.frequency.visits"] == "0"
    assert rows[0]["outcome.promise_to_pay"] == "1" and rows[0]["outside_geofence"] == "1"


def test_report_refuses_a_reversed_period_and_collectors(client, activity):
    assert _report(client, activity, days=(3, 1)).status_code == 422
    query = {"from": local(1, 0).date().isoformat(), "to": local(2, 0).date().isoformat()}
    assert client.get("/api/v1/reports/visits", query_string=query,
                      headers=activity.collector.headers).status_code == 403


def test_refusal_survives_the_rolled_back_request(client, factory):
    world = make_world(factory, flags={"cease_contact": True, "attorney_represented": False,
                                       "workplace_contact_prohibited": False})
    for _ in range(2):
        assert schedule(client, world, local(1, 10), local(1, 11)).status_code == 422
    [row] = _report(client, world, days=(1, 1)).get_json()["collectors"]
    assert row["refused_attempts"] == 2 and row["refused_by_rule"] == {"contact.cease": 2}
    assert row["scheduled"] == 0
