"""GET /collectors/{id}/route: the day's visits in order, from the first check-in or the base."""
from datetime import datetime

import pytest

from tests.api.visit_helpers import HOME, check_in, local, make_world, moved, scheduled  # noqa: F401


@pytest.fixture
def day(client, factory):
    """Four home visits in Shanghai tomorrow, on four cases, all 10:00–16:00 except one that
    must come last (15:00–16:00)."""
    world = make_world(factory)
    points = [moved(HOME, 3000, 0), moved(HOME, 6000, 0), moved(HOME, 1000, 180), moved(HOME, 9000, 0)]
    visits = []
    for n, point in enumerate(points):
        case = factory.case(collector=world.collector, supervisor=world.supervisor, addresses=[
            {"kind": "home", "line": f"{n} Test Road", "city": "Shanghai", "country": "CN",
             "lat": point[0], "lon": point[1]}])
        start, end = (local(1, 15), local(1, 16)) if n == 2 else (local(1, 10), local(1, 16))
        visits.append(scheduled(client, world, start, end, case=case))
    return world, visits, points


def _route(client, user, collector_id, date):
    return client.get(f"/api/v1/collectors/{collector_id}/route", query_string={"date": date.isoformat()},
                      headers=user.headers)


def test_route_orders_the_days_visits_and_honours_windows(client, day):
    world, visits, points = day
    response = _route(client, world.supervisor, world.collector.id, local(1, 0).date())
    assert response.status_code == 200
    body = response.get_json()
    assert body["start"]["source"] == "first_visit"
    order = [s["visit_id"] for s in body["stops"]]
    assert sorted(order) == sorted(v["id"] for v in visits)
    assert order[-1] == visits[2]["id"]  # its window opens last
    assert [s["order"] for s in body["stops"]] == [1, 2, 3, 4]
    assert body["total_distance_m"] == pytest.approx(sum(s["leg_distance_m"] for s in body["stops"]), abs=1)
    arrivals = [datetime.fromisoformat(s["arrival_estimate"].replace("Z", "+00:00")) for s in body["stops"]]
    assert arrivals == sorted(arrivals)
    assert body["missed_windows"] == 0 and not any(s["late"] for s in body["stops"])


def test_route_starts_at_the_first_check_in_of_the_day(client, day, clock):
    world, visits, points = day
    clock.now = local(1, 10, 5)
    assert check_in(client, world.collector, visits[1]["id"], clock.now, points[1]).status_code == 200
    body = _route(client, world.collector, world.collector.id, local(1, 0).date()).get_json()
    assert body["start"] == {"lat": points[1][0], "lon": points[1][1], "source": "first_check_in"}
    assert body["stops"][0]["visit_id"] == visits[1]["id"] and body["stops"][0]["leg_distance_m"] == 0


def test_route_of_another_collector_is_not_found_for_a_collector(client, factory, day):
    world, _, _ = day
    assert _route(client, factory.user("collector"), world.collector.id, local(1, 0).date()).status_code == 404
    assert _route(client, world.supervisor, world.supervisor.id, local(1, 0).date()).status_code == 404


def test_a_day_without_visits_is_an_empty_route(client, day):
    world, _, _ = day
    body = _route(client, world.collector, world.collector.id, local(5, 0).date()).get_json()
    assert body["stops"] == [] and body["total_distance_m"] == 0


class TestConfiguredBase:
    @pytest.fixture
    def settings(self, settings):
        return settings.with_overrides(route_base_lat=31.2304, route_base_lon=121.4737, route_speed_kmh=20)

    def test_route_starts_at_the_configured_base(self, client, day):
        world, _, _ = day
        body = _route(client, world.supervisor, world.collector.id, local(1, 0).date()).get_json()
        assert body["start"] == {"lat": 31.2304, "lon": 121.4737, "source": "base"}
        assert body["stops"][0]["leg_distance_m"] > 1000
