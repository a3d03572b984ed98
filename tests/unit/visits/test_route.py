"""Route order: exact on small instances, windows honoured, clock arithmetic in UTC."""

import itertools
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from visits.geofence import distance_m
from visits.route import Route, Stop, distance_matrix, held_karp, path_length, plan_route

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")
START_TIME = datetime(2026, 5, 4, 9, 0, tzinfo=SH)
CENTRE = (31.2304, 121.4737)


def random_instance(seed, n, spread=0.1):
    rng = random.Random(seed)

    def point():
        return CENTRE[0] + rng.uniform(-spread, spread), CENTRE[1] + rng.uniform(-spread, spread)

    return point(), [Stop(f"s{i}", *point()) for i in range(n)]


def brute_force(matrix):
    n = len(matrix) - 1
    return min(path_length(matrix, order) for order in itertools.permutations(range(1, n + 1)))


@pytest.mark.parametrize("seed, n", [(seed, n) for seed in range(3) for n in (1, 2, 3, 5, 7)])
def test_held_karp_is_exact(seed, n):
    start, stops = random_instance(seed, n)
    matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)], "geodesic")
    length, order = held_karp(matrix)
    assert sorted(order) == list(range(1, n + 1))
    assert length == pytest.approx(path_length(matrix, order))
    assert length == pytest.approx(brute_force(matrix))


def test_held_karp_on_a_line_and_without_stops():
    matrix = [[abs(i - j) for j in range(5)] for i in range(5)]
    assert held_karp(matrix) == (4.0, [1, 2, 3, 4])
    assert held_karp([[0.0]]) == (0.0, [])


@pytest.mark.parametrize("metric", ["geodesic", "great_circle"])
@pytest.mark.parametrize("seed, n", [(seed, n) for seed in range(4) for n in (2, 4, 6, 8, 10, 12)])
def test_small_instances_match_held_karp(seed, n, metric):
    start, stops = random_instance(100 + seed, n)
    geodesic = distance_matrix([start, *((s.lat, s.lon) for s in stops)], "geodesic")
    optimum, _ = held_karp(geodesic)
    route = plan_route(start, stops, 30.0, START_TIME, metric=metric)
    # Reported distances are geodesic whatever matrix ordered the stops.
    assert route.total_distance_m == pytest.approx(optimum, rel=1e-9)


def test_route_output_is_consistent():
    start, stops = random_instance(7, 9)
    route = plan_route(start, stops, 36.0, START_TIME, service_time=timedelta(minutes=20))
    assert isinstance(route, Route)
    assert sorted(s.id for s in route.stops) == sorted(s.id for s in stops)
    assert [s.order for s in route.stops] == list(range(1, 10))
    assert route.total_distance_m == pytest.approx(sum(s.leg_distance_m for s in route.stops))
    first = route.stops[0]
    assert first.leg_distance_m == pytest.approx(distance_m(start, (first.lat, first.lon)))
    clock = START_TIME
    for stop in route.stops:
        clock = clock + timedelta(seconds=stop.leg_distance_m / 10.0)  # 36 km/h = 10 m/s
        assert abs((stop.arrival_estimate - clock).total_seconds()) <= 1
        assert stop.begins_at == stop.arrival_estimate and not stop.late
        clock = stop.arrival_estimate + timedelta(minutes=20)
        assert stop.arrival_estimate.tzinfo is SH
    assert route.missed_windows == 0 and route.total_lateness == timedelta(0)


def east(km):
    """A point ``km`` kilometres east of the centre (close enough for tests)."""
    return CENTRE[0], CENTRE[1] + km / 95.2


def test_a_closing_window_comes_first_even_if_longer():
    start = CENTRE
    far = Stop("far", *east(-3), START_TIME, START_TIME + timedelta(minutes=10))
    near = Stop("near", *east(1), START_TIME, START_TIME + timedelta(hours=4))
    middle = Stop("middle", *east(2), START_TIME, START_TIME + timedelta(hours=4))
    route = plan_route(start, [near, middle, far], 30.0, START_TIME)
    assert [s.id for s in route.stops] == ["far", "near", "middle"]
    assert route.missed_windows == 0
    # without the window the short order wins
    loose = Stop("far", *east(-3))
    assert [s.id for s in plan_route(start, [near, middle, loose], 30.0, START_TIME).stops] == [
        "near", "middle", "far",
    ]


def test_arriving_early_waits_for_the_window():
    stop = Stop("a", *east(1), START_TIME + timedelta(hours=1), START_TIME + timedelta(hours=3))
    later = Stop("b", *east(2), START_TIME, START_TIME + timedelta(hours=5))
    route = plan_route(CENTRE, [stop, later], 30.0, START_TIME)
    a = route.stops[0]
    assert a.id == "a"
    assert a.arrival_estimate < a.begins_at == START_TIME + timedelta(hours=1)
    b = route.stops[1]
    assert b.arrival_estimate - a.begins_at == timedelta(seconds=round(b.leg_distance_m / (30 / 3.6)))


def test_windows_already_closed_are_reported_late():
    closed = Stop("gone", *east(1), START_TIME - timedelta(hours=2), START_TIME - timedelta(hours=1))
    route = plan_route(CENTRE, [closed], 30.0, START_TIME)
    assert route.missed_windows == 1 and route.stops[0].late
    assert route.total_lateness > timedelta(hours=1)


def test_arriving_exactly_at_window_end_is_late():
    # 3 km at 36 km/h takes exactly 300 s of great-circle travel; the window closes then.
    stop = Stop("x", *east(3), START_TIME - timedelta(hours=1), START_TIME + timedelta(hours=2))
    route = plan_route(CENTRE, [stop], 36.0, START_TIME)
    arrival = route.stops[0].arrival_estimate
    exact = plan_route(CENTRE, [Stop("x", *east(3), START_TIME - timedelta(hours=1), arrival)], 36.0, START_TIME)
    assert exact.stops[0].late or exact.stops[0].arrival_estimate < arrival


def test_windows_in_another_zone_are_compared_as_instants():
    ny = ZoneInfo("America/New_York")
    start_time = datetime(2026, 11, 1, 1, 10, fold=0, tzinfo=ny)  # 05:10Z, EDT
    closes = datetime(2026, 11, 1, 1, 20, fold=1, tzinfo=ny)  # 06:20Z, EST: 70 minutes later
    stop = Stop("x", *east(20), start_time, closes)  # 40 minutes away at 30 km/h
    route = plan_route(CENTRE, [stop], 30.0, start_time)
    assert not route.stops[0].late


def lexicographic_best(start, stops, speed_kmh, start_time):
    matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)], "geodesic")
    mps = speed_kmh / 3.6
    best = None
    for order in itertools.permutations(range(1, len(stops) + 1)):
        clock, prev, missed, late, metres = 0.0, 0, 0, 0.0, 0.0
        for node in order:
            stop = stops[node - 1]
            metres += matrix[prev][node]
            clock += matrix[prev][node] / mps
            closes = (stop.window_end - start_time).total_seconds()
            if clock >= closes:
                missed, late = missed + 1, late + clock - closes
            clock = max(clock, (stop.window_start - start_time).total_seconds())
            prev = node
        key = (missed, round(late, 3), metres)
        best = key if best is None or key < best else best
    return best


@pytest.mark.parametrize("seed", range(12))
def test_windowed_instances_match_exhaustive_search(seed):
    rng = random.Random(seed)
    start, stops = random_instance(500 + seed, 6, spread=0.08)
    windowed = []
    for s in stops:
        opens = START_TIME + timedelta(minutes=rng.randrange(0, 180, 15))
        windowed.append(Stop(s.id, s.lat, s.lon, opens, opens + timedelta(minutes=rng.choice([45, 60, 120]))))
    missed, late, metres = lexicographic_best(start, windowed, 30.0, START_TIME)
    route = plan_route(start, windowed, 30.0, START_TIME, metric="geodesic")
    assert route.missed_windows == missed
    assert route.total_lateness.total_seconds() == pytest.approx(late, abs=1.0)
    assert route.total_distance_m == pytest.approx(metres, rel=1e-6)


def test_two_hundred_stops_plan_and_keep_every_stop_once():
    start, stops = random_instance(42, 200, spread=0.15)
    route = plan_route(start, stops, 30.0, START_TIME)
    assert sorted(s.id for s in route.stops) == sorted(s.id for s in stops)


def test_empty_route():
    assert plan_route(CENTRE, [], 30.0, START_TIME) == Route((), 0.0, 0, timedelta(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed_kmh": 0},
        {"speed_kmh": -5},
        {"speed_kmh": float("nan")},
        {"start_time": datetime(2026, 5, 4, 9, 0)},
        {"start": (91.0, 0.0)},
        {"stops": [Stop("a", 31.2, 121.4), Stop("a", 31.3, 121.5)]},
        {"service_time": timedelta(minutes=-1)},
        {"metric": "manhattan"},
    ],
)
def test_plan_route_rejects_bad_input(kwargs):
    args = {"start": CENTRE, "stops": [Stop("a", 31.2, 121.4)], "speed_kmh": 30.0, "start_time": START_TIME}
    with pytest.raises(ValueError):
        plan_route(**{**args, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lat": 95.0},
        {"window_start": datetime(2026, 5, 4, 9, 0)},
        {"window_start": START_TIME, "window_end": START_TIME},
    ],
)
def test_stop_validation(kwargs):
    with pytest.raises(ValueError):
        Stop(**{"id": "a", "lat": 31.2, "lon": 121.4, **kwargs})
