"""Route order: exact on small instances, windows honoured, clock arithmetic in UTC."""

import itertools
import math
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


# --- window-aware search: incremental pricing and large routes ------------------------------


def windowed_instance(seed, n, hours=(1.0, 3.0), day=10.0, spread=0.12):
    """Random stops with windows of ``hours`` opening over a ``day``-hour day."""
    rng = random.Random(seed)

    def point():
        return CENTRE[0] + rng.uniform(-spread, spread), CENTRE[1] + rng.uniform(-spread, spread)

    stops = []
    for i in range(n):
        opens = START_TIME + timedelta(hours=rng.uniform(0, day))
        stops.append(Stop(f"w{i}", *point(), opens, opens + timedelta(hours=rng.uniform(*hours))))
    return point(), stops


def random_moves(rng, n, count):
    """(a, runs, new path) for random relocations of runs of 1–3 stops (either way round)
    and reversals, as the window-aware search builds them; positions are 1..n."""
    moves = []
    while len(moves) < count:
        path = list(range(n + 1))
        if rng.random() < 0.3:
            i = rng.randrange(1, n)
            j = rng.randrange(i + 1, n + 1)
            runs = [(j, i)] + ([(j + 1, n)] if j < n else [])
            moves.append((i - 1, runs, path[:i] + path[i : j + 1][::-1] + path[j + 1 :]))
            continue
        length = rng.choice((1, 2, 3))
        i = rng.randrange(1, n - length + 2)
        k = i + length - 1
        j = rng.randrange(0, n + 1)
        if i - 1 <= j <= k:
            continue
        seg = (k, i) if length > 1 and rng.random() < 0.5 else (i, k)
        segment = path[seg[0] : seg[1] + 1] if seg[0] <= seg[1] else path[seg[1] : seg[0] + 1][::-1]
        if j < i:
            runs = [seg, (j + 1, i - 1)] + ([(k + 1, n)] if k < n else [])
            moves.append((j, runs, path[: j + 1] + segment + path[j + 1 : i] + path[k + 1 :]))
        else:
            runs = [(k + 1, j), seg] + ([(j + 1, n)] if j < n else [])
            moves.append((i - 1, runs, path[:i] + path[k + 1 : j + 1] + segment + path[j + 1 :]))
    return moves


@pytest.mark.parametrize("seed, hours, service", [
    (1, (1.0, 3.0), 10),  # binding windows: waiting early, lateness later
    (2, (0.5, 1.0), 20),  # tight windows, most missed
    (3, (8.0, 12.0), 5),  # loose windows, few missed
])
def test_incremental_pricing_decides_as_the_full_schedule(seed, hours, service):
    from visits.route import _Schedule, _Timing

    n = 90  # long enough for runs priced in O(1), walked, and priced with numpy
    start, stops = windowed_instance(seed, n, hours)
    matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)])
    timing = _Timing(stops, 30.0, START_TIME, timedelta(minutes=service))
    rng = random.Random(seed)
    base = [0] + sorted(range(1, n + 1), key=lambda v: (timing.opens[v], v))  # by window
    for _ in range(10):  # with a few stops out of place
        x, y = rng.sample(range(1, n + 1), 2)
        base[x], base[y] = base[y], base[x]
    schedule = _Schedule(base, matrix, timing)
    assert schedule.cost == pytest.approx(timing.cost(matrix, base[1:]))
    for a, runs, moved in random_moves(rng, n, 400):
        new_path = [base[p] for p in moved]
        true = timing.cost(matrix, new_path[1:])
        missed, late, metres = true
        # never strictly better than itself, nor than anything better
        assert schedule.evaluate(a, runs, true) is None
        assert schedule.evaluate(a, runs, (missed, late - 1.0, metres)) is None or late < 1.0
        if missed:
            assert schedule.evaluate(a, runs, (missed - 1, math.inf, math.inf)) is None
        # better than anything a little worse; the price may be an upper bound
        for looser in ((missed, late + 1.0, metres), (missed + 1, 0.0, 0.0), (missed, late, metres + 1.0)):
            price = schedule.evaluate(a, runs, looser)
            assert price is not None, (runs, true, looser)
            assert price[0] >= missed and price[1] >= late - 1e-3
            assert price[2] == pytest.approx(metres)


def test_a_chain_of_windows_is_kept_on_a_large_route():
    # 60 stops 1 km apart eastwards, each window opening as the collector can get there:
    # only the chain order keeps every window, whatever order the stops are given in.
    speed = 30.0
    stops = []
    for i in range(60):
        opens = START_TIME + timedelta(minutes=2 * (i + 1) + 5 * i)  # 2 min a km, 5 min a visit
        stops.append(Stop(f"c{i}", *east(i + 1), opens, opens + timedelta(minutes=20)))
    shuffled = stops[:]
    random.Random(5).shuffle(shuffled)
    route = plan_route(CENTRE, shuffled, speed, START_TIME, service_time=timedelta(minutes=5))
    assert route.missed_windows == 0
    assert [s.id for s in route.stops] == [s.id for s in stops]


@pytest.mark.parametrize("seed", range(3))
def test_large_windowed_routes_beat_their_starting_orders(seed):
    from visits.route import _Timing, _earliest_start_order

    n = 120
    start, stops = windowed_instance(40 + seed, n, (1.5, 2.5), day=11.0)
    route = plan_route(start, stops, 30.0, START_TIME, service_time=timedelta(minutes=10))
    assert sorted(s.id for s in route.stops) == sorted(s.id for s in stops)
    matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)])
    timing = _Timing(stops, 30.0, START_TIME, timedelta(minutes=10))
    by_close = sorted(range(1, n + 1), key=lambda v: timing.closes[v])
    for order in (_earliest_start_order(matrix, timing), by_close):
        missed, late, _ = timing.cost(matrix, order)
        assert (route.missed_windows, route.total_lateness.total_seconds()) <= (missed, late)
    # deterministic
    again = plan_route(start, stops, 30.0, START_TIME, service_time=timedelta(minutes=10))
    assert [s.id for s in again.stops] == [s.id for s in route.stops]
