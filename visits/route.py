"""Route order for a collector's day: an open path from a start point through every visit.

Policy, in order of priority:

1. miss as few visit windows as possible (a stop is missed when the arrival is at or after
   its ``window_end``: windows are half-open);
2. then be as little late in total as possible;
3. then drive as short a distance as possible.

Arriving before ``window_start`` means waiting until it opens (plus ``service_time`` at
each stop before leaving). The search is nearest neighbour, then 2-opt and Or-opt on a
distance matrix with neighbour lists, plus a few seeded double-bridge kicks (iterated local
search). When the shortest order keeps every window, it is the answer; otherwise a
window-aware Or-opt (runs of 1–3 stops, either way round) / 2-opt search runs on the full
cost above, followed by a few seeded double-bridge kicks on routes of up to 100 stops.

The window-aware search prices each candidate move incrementally against the current
schedule (``_Schedule``): the unchanged prefix costs what it did; a run of the old path
that is reached ``delta`` seconds later or earlier shifts as waiting and slack allow, so
its cost is usually known in O(1) from range minima, else priced with numpy; and a move
whose lower bound cannot beat the current order is dropped without walking the rest. Up
to 20 stops every move of every run is tried, from the shortest order and the orders by
window; above that, only moves that put a stop next to one of its nearest stops in travel
time plus window gap, from the best of those orders and a greedy "begin soonest" order,
with don't-look bits (a stop is tried again only once a move has touched it). Everything
is deterministic (the kicks are seeded by the number of stops); ``bench/route_bench.py``
times 200 stops with and without binding windows.

The matrix is great-circle by default (about 20x faster than geodesic to build, and
``bench/route_bench.py`` shows the orders it picks are as good when measured geodesically);
reported leg and total distances are always geodesic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from geographiclib.geodesic import Geodesic

from visits.geofence import Point, distance_m, validate_coordinates
from jurisdictions.localtime import require_aware, utc

__all__ = [
    "METRICS",
    "PlannedStop",
    "Route",
    "Stop",
    "distance_matrix",
    "held_karp",
    "path_length",
    "plan_route",
]

METRICS = ("great_circle", "geodesic")
_EARTH_RADIUS_M = 6371008.8  # mean radius (IUGG), as geopy's great_circle
_EPS = 1e-7
_NEIGHBOURS = 12
_WINDOW_NEIGHBOURS = 10  # window-aware search on large routes: by time and window gap
_FULL_SEARCH_MAX = 20  # window-aware search tries every move up to this many stops
_KICKS_MAX = 100  # iterated-local-search kicks on small routes...
_KICK_BUDGET = 1000  # ...and fewer on large ones (kicks = budget / stops)
_WINDOW_KICKS_MAX = 30  # the same for the window-aware search
_WINDOW_KICK_BUDGET = 300
_WINDOW_KICKS_UP_TO = 100  # on larger routes one kick costs as much as the whole search
_PRICED_RUN = 3  # runs of the path at least this long are priced from the old schedule...
_WALKED_RUN = 32  # ...with numpy from this long on


@dataclass(frozen=True)
class Stop:
    """A visit to place on the route; the window is ``[window_start, window_end)``."""

    id: str
    lat: float
    lon: float
    window_start: datetime | None = None
    window_end: datetime | None = None

    def __post_init__(self) -> None:
        validate_coordinates(self.lat, self.lon)
        if self.window_start is not None:
            require_aware(self.window_start, f"stop {self.id} window_start")
        if self.window_end is not None:
            require_aware(self.window_end, f"stop {self.id} window_end")
        if (
            self.window_start is not None
            and self.window_end is not None
            and utc(self.window_end) <= utc(self.window_start)
        ):
            raise ValueError(f"stop {self.id}: window_end must be after window_start")


@dataclass(frozen=True)
class PlannedStop:
    """A stop in route order. ``arrival_estimate`` is when the collector gets there;
    ``begins_at`` is when the visit can start (after waiting for the window to open)."""

    id: str
    order: int
    lat: float
    lon: float
    leg_distance_m: float
    arrival_estimate: datetime
    begins_at: datetime
    late: bool


@dataclass(frozen=True)
class Route:
    """The ordered stops, the geodesic total and how the windows fared."""

    stops: tuple[PlannedStop, ...]
    total_distance_m: float
    missed_windows: int
    total_lateness: timedelta


def distance_matrix(points: Sequence[Point], metric: str = "great_circle") -> list[list[float]]:
    """Symmetric matrix of distances in metres between ``(lat, lon)`` points."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    n = len(points)
    if metric == "geodesic":
        inverse, wgs84 = Geodesic.DISTANCE, Geodesic.WGS84
        m = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                d = wgs84.Inverse(points[i][0], points[i][1], points[j][0], points[j][1], inverse)
                m[i][j] = m[j][i] = float(d["s12"])
        return m
    lat = np.radians(np.array([p[0] for p in points], dtype=float))
    lon = np.radians(np.array([p[1] for p in points], dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    d = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    np.fill_diagonal(d, 0.0)
    return d.tolist()


def path_length(matrix: Sequence[Sequence[float]], order: Sequence[int]) -> float:
    """Length of the open path ``0 → order[0] → order[1] → ...`` (node 0 is the start)."""
    total, prev = 0.0, 0
    for node in order:
        total += matrix[prev][node]
        prev = node
    return total


def held_karp(matrix: Sequence[Sequence[float]]) -> tuple[float, list[int]]:
    """Exact shortest open path from node 0 through all other nodes (no return).

    Dynamic programming over subsets, O(2^n n^2); meant for up to ~16 stops, to check the
    heuristic. Returns ``(length, order)`` with ``order`` the nodes 1..n in visiting order.
    """
    size = len(matrix)
    n = size - 1
    if n <= 0:
        return 0.0, []
    if n > 18:
        raise ValueError(f"held_karp is exponential; {n} stops is too many (max 18)")
    d = np.asarray(matrix, dtype=float)
    inner = d[1:, 1:]
    full = (1 << n) - 1
    dp = np.full((1 << n, n), np.inf)
    parent = np.full((1 << n, n), -1, dtype=np.int64)
    for k in range(n):
        dp[1 << k, k] = d[0, k + 1]
    bits = [1 << k for k in range(n)]
    for mask in range(1, full):
        row = dp[mask]
        if not np.isfinite(row).any():
            continue
        cand = row[:, None] + inner  # cand[j, k]: end at j, then go to k
        best_j = cand.argmin(axis=0)
        best = cand[best_j, np.arange(n)]
        for k in range(n):
            if mask & bits[k]:
                continue
            nxt = mask | bits[k]
            if best[k] < dp[nxt, k]:
                dp[nxt, k] = best[k]
                parent[nxt, k] = best_j[k]
    last = int(dp[full].argmin())
    length = float(dp[full, last])
    order: list[int] = []
    mask = full
    while last >= 0:
        order.append(last + 1)
        prev = int(parent[mask, last])
        mask &= ~bits[last]
        last = prev
    order.reverse()
    return length, order


def plan_route(
    start: Point,
    stops: Sequence[Stop],
    speed_kmh: float,
    start_time: datetime,
    *,
    service_time: timedelta = timedelta(0),
    metric: str = "great_circle",
) -> Route:
    """Order ``stops`` from ``start`` at ``start_time``, travelling at ``speed_kmh``.

    See the module docstring for the policy. ``service_time`` is spent at each stop once
    its window has opened.
    """
    start = validate_coordinates(*start)
    require_aware(start_time, "start_time")
    if not (isinstance(speed_kmh, (int, float)) and math.isfinite(speed_kmh) and speed_kmh > 0):
        raise ValueError(f"speed_kmh must be a positive number, got {speed_kmh!r}")
    if service_time < timedelta(0):
        raise ValueError("service_time must not be negative")
    ids = [s.id for s in stops]
    if len(set(ids)) != len(ids):
        raise ValueError("stop ids must be unique")
    if not stops:
        return Route((), 0.0, 0, timedelta(0))

    matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)], metric)
    timing = _Timing(stops, speed_kmh, start_time, service_time)
    order = _shortest_order(matrix, timing)
    cost = timing.cost(matrix, order)
    if cost[0] or cost[1] > _EPS:
        order = _window_order(matrix, timing, order)
    return _build(start, stops, order, timing)


class _Timing:
    """Windows and service time in seconds from ``start_time``, for fast evaluation."""

    def __init__(
        self, stops: Sequence[Stop], speed_kmh: float, start_time: datetime, service: timedelta
    ) -> None:
        self.start_time = start_time
        origin = utc(start_time)
        self.metres_per_second = speed_kmh / 3.6
        self.service = service.total_seconds()
        self.opens = [-math.inf] + [
            (utc(s.window_start) - origin).total_seconds() if s.window_start else -math.inf
            for s in stops
        ]
        self.closes = [math.inf] + [
            (utc(s.window_end) - origin).total_seconds() if s.window_end else math.inf
            for s in stops
        ]

    def walk(self, d: Sequence[Sequence[float]], nodes: Iterable[int], prev: int, clock: float):
        """The day's one timing rule, stop by stop: travel at the set speed, wait for a window to
        open, serve. Yields ``(leg metres, arrival, lateness, seconds waited, departure)`` per
        stop; lateness >= 0 means the window was missed (it closes as the collector arrives)."""
        mps, service, opens, closes = self.metres_per_second, self.service, self.opens, self.closes
        for node in nodes:
            leg = d[prev][node]
            arrival = clock + leg / mps
            waited = opens[node] - arrival if arrival < opens[node] else 0.0
            clock = arrival + waited + service
            yield leg, arrival, arrival - closes[node], waited, clock
            prev = node

    def totals(self, d: Sequence[Sequence[float]], nodes: Iterable[int], prev: int,
               clock: float) -> tuple[int, float, float, float]:
        """(windows missed, seconds late, metres, departure from the last stop) of a walk."""
        missed, late, metres, departure = 0, 0.0, 0.0, clock
        for leg, _, lateness, _, departure in self.walk(d, nodes, prev, clock):  # noqa: B007 (the last is kept)
            metres += leg
            if lateness >= 0.0:
                missed += 1
                late += lateness
        return missed, late, metres, departure

    def cost(
        self, matrix: Sequence[Sequence[float]], order: Sequence[int]
    ) -> tuple[int, float, float]:
        """(windows missed, seconds late in total, metres) of an order."""
        return self.totals(matrix, order, 0, 0.0)[:3]


def _better(a: tuple[int, float, float], b: tuple[int, float, float]) -> bool:
    """Is cost ``a`` strictly better than ``b`` (missed, then lateness, then distance)?"""
    if a[0] != b[0]:
        return a[0] < b[0]
    if abs(a[1] - b[1]) > 1e-6:
        return a[1] < b[1]
    return a[2] < b[2] - 1e-6


# --- distance-only search ----------------------------------------------------------------


def _neighbour_lists(matrix: Sequence[Sequence[float]], k: int) -> list[list[int]]:
    m = np.asarray(matrix)
    size = len(matrix)
    k = min(k, size - 1)
    order = np.argsort(m, axis=1, kind="stable")
    lists = []
    for i in range(size):
        lists.append([int(j) for j in order[i] if j != i][:k])
    return lists


def _nearest_neighbour(matrix: Sequence[Sequence[float]]) -> list[int]:
    size = len(matrix)
    left = set(range(1, size))
    order, here = [], 0
    while left:
        row = matrix[here]
        here = min(left, key=lambda j: (row[j], j))
        left.remove(here)
        order.append(here)
    return order


def _shortest_order(
    matrix: Sequence[Sequence[float]], timing: _Timing | None = None
) -> list[int]:
    """Nearest neighbour, 2-opt and Or-opt to a local optimum, then a few seeded
    double-bridge kicks (iterated local search) to escape it; deterministic.

    With ``timing``, the kicks are skipped when the local optimum misses a window: the
    window-aware search takes over from there, and a shorter order would not help it."""
    neighbours = _neighbour_lists(matrix, _NEIGHBOURS)
    best = [0, *_nearest_neighbour(matrix)]
    _local_search(best, matrix, neighbours)
    n = len(best) - 1
    if n < 5:
        return best[1:]
    if timing is not None:
        missed, late, _ = timing.cost(matrix, best[1:])
        if missed or late > _EPS:
            return best[1:]
    best_length = path_length(matrix, best[1:])
    rng = random.Random(n)
    for _ in range(min(_KICKS_MAX, _KICK_BUDGET // n)):
        a, b, c = sorted(rng.sample(range(1, n + 2), 3))
        candidate = best[:a] + best[b:c] + best[a:b] + best[c:]
        _local_search(candidate, matrix, neighbours)
        length = path_length(matrix, candidate[1:])
        if length < best_length - _EPS:
            best, best_length = candidate, length
    return best[1:]


def _local_search(
    path: list[int], matrix: Sequence[Sequence[float]], neighbours: list[list[int]]
) -> None:
    while True:
        improved = _two_opt(path, matrix, neighbours)
        improved = _or_opt(path, matrix, neighbours) or improved
        if not improved:
            return


def _two_opt(path: list[int], d: Sequence[Sequence[float]], neighbours: list[list[int]]) -> bool:
    """Reverse ``path[i+1..j]`` when that shortens the open path; True if anything changed.

    Candidates make a node adjacent to one of its near neighbours, either as the new edge
    ``(path[i], path[j])`` or as ``(path[i+1], path[j+1])``.
    """
    last = len(path) - 1
    pos = [0] * len(path)
    for i, node in enumerate(path):
        pos[node] = i
    any_change = False
    improved = True
    while improved:
        improved = False
        for x in range(len(path)):
            for y in neighbours[x]:
                px, py = pos[x], pos[y]
                lo, hi = (px, py) if px < py else (py, px)
                for i, j in ((lo, hi), (lo - 1, hi - 1)):
                    if i < 0 or j - i < 2:
                        continue
                    a, b, c = path[i], path[i + 1], path[j]
                    delta = d[a][c] - d[a][b]
                    if j < last:
                        e = path[j + 1]
                        delta += d[b][e] - d[c][e]
                    if delta < -_EPS:
                        path[i + 1 : j + 1] = path[i + 1 : j + 1][::-1]
                        for k in range(i + 1, j + 1):
                            pos[path[k]] = k
                        improved = any_change = True
                        break  # positions changed: re-read them for the next neighbour
    return any_change


def _or_opt(path: list[int], d: Sequence[Sequence[float]], neighbours: list[list[int]]) -> bool:
    """Move a run of 1–3 stops (either way round) next to a near neighbour when shorter."""
    last = len(path) - 1
    any_change = False
    improved = True
    while improved:
        improved = False
        for length in (1, 2, 3):
            pos = [0] * len(path)
            for i, node in enumerate(path):
                pos[node] = i
            for i in range(1, last - length + 2):
                k = i + length - 1  # segment path[i..k]
                s0, s1 = path[i], path[k]
                prev = path[i - 1]
                gain = d[prev][s0]
                if k < last:
                    nxt = path[k + 1]
                    gain += d[s1][nxt] - d[prev][nxt]
                if gain <= _EPS:
                    continue
                best = None
                for z in (*neighbours[s0], *neighbours[s1]):
                    pz = pos[z]
                    for j in (pz, pz - 1):  # insert between path[j] and path[j+1]
                        if j < 0 or i - 1 <= j <= k:
                            continue
                        p = path[j]
                        q = path[j + 1] if j < last else None
                        for first, second in ((s0, s1), (s1, s0)):
                            add = d[p][first]
                            if q is not None:
                                add += d[second][q] - d[p][q]
                            if add < gain - _EPS and (best is None or add < best[0]):
                                best = (add, j, first == s1 and length > 1)
                if best is None:
                    continue
                _, j, reverse = best
                segment = path[i : k + 1]
                if reverse:
                    segment.reverse()
                rest = path[:i] + path[k + 1 :]
                at = j + 1 if j < i else j + 1 - length
                path[:] = rest[:at] + segment + rest[at:]
                for m, node in enumerate(path):
                    pos[node] = m
                improved = any_change = True
    return any_change


# --- window-aware search -----------------------------------------------------------------


def _window_order(
    matrix: Sequence[Sequence[float]], timing: _Timing, shortest: list[int]
) -> list[int]:
    """Best order under (missed, lateness, distance), from several starting orders."""
    n = len(shortest)
    by_close = sorted(shortest, key=lambda v: (timing.closes[v], timing.opens[v], v))
    by_open = sorted(shortest, key=lambda v: (timing.opens[v], timing.closes[v], v))
    starts = [shortest, by_close, by_open]
    if n > _FULL_SEARCH_MAX:
        starts.append(_earliest_start_order(matrix, timing))
        starts = [min(starts, key=lambda o: _key(timing.cost(matrix, o)))]
    neighbours = _window_neighbours(matrix, timing, _WINDOW_NEIGHBOURS) if n > _FULL_SEARCH_MAX else None
    best, best_cost = None, None
    for order in starts:
        order = _window_search(list(order), matrix, timing, neighbours)
        cost = timing.cost(matrix, order)
        if best_cost is None or _better(cost, best_cost):
            best, best_cost = order, cost
    assert best is not None and best_cost is not None
    if 5 <= n <= _WINDOW_KICKS_UP_TO:
        rng = random.Random(n)
        for _ in range(min(_WINDOW_KICKS_MAX, _WINDOW_KICK_BUDGET // n)):
            a, b, c = sorted(rng.sample(range(n + 1), 3))
            candidate = best[:a] + best[b:c] + best[a:b] + best[c:]
            # only the stops around the three new joins are looked at first
            kicked = {candidate[p] for q in (a, b, c) for p in (q - 1, q) if 0 <= p < n}
            candidate = _window_search(candidate, matrix, timing, neighbours, kicked)
            cost = timing.cost(matrix, candidate)
            if _better(cost, best_cost):
                best, best_cost = candidate, cost
    return best


def _earliest_start_order(matrix: Sequence[Sequence[float]], timing: _Timing) -> list[int]:
    """Greedy: next, the stop whose visit can begin soonest among those whose window can
    still be kept (ties: the window closing first); the rest, whose windows are lost
    anyway, follow by nearest neighbour."""
    d = np.asarray(matrix)
    seconds = d / timing.metres_per_second
    opens = np.array(timing.opens)
    closes = np.array(timing.closes)
    size = len(d)
    left = np.ones(size, dtype=bool)
    left[0] = False
    order: list[int] = []
    here, clock = 0, 0.0
    for _ in range(size - 1):
        arrival = clock + seconds[here]
        keep = left & (arrival < closes)
        if keep.any():
            begin = np.where(keep, np.maximum(arrival, opens), np.inf)
            soonest = begin.min()
            tied = np.flatnonzero(begin <= soonest + 1e-6)
            here = int(tied[np.argmin(closes[tied])])
            clock = float(begin[here]) + timing.service
        else:
            here = int(np.argmin(np.where(left, d[here], np.inf)))
            clock = max(float(arrival[here]), opens[here]) + timing.service
        left[here] = False
        order.append(here)
    return order


def _window_neighbours(matrix: Sequence[Sequence[float]], timing: _Timing, k: int) -> list[list[int]]:
    """For each node, the ``k`` nodes nearest in travel time plus the gap between their
    windows: stops worth placing next to each other when windows bind."""
    seconds = np.asarray(matrix) / timing.metres_per_second
    opens = np.maximum(np.array(timing.opens), -1e12)
    closes = np.minimum(np.array(timing.closes), 1e12)
    gap = np.maximum(0.0, np.maximum(opens[None, :] - closes[:, None], opens[:, None] - closes[None, :]))
    score = seconds + gap
    np.fill_diagonal(score, np.inf)
    k = min(k, len(score) - 1)
    nearest = np.argsort(score, axis=1, kind="stable")[:, :k]
    return nearest.tolist()


def _key(cost: tuple[int, float, float]) -> tuple[int, float, float]:
    return cost[0], round(cost[1], 3), cost[2]


class _Schedule:
    """The current path (node 0 first) with, per position, the arrival and departure
    second, the running cost (missed, late, metres) up to and including that stop, and the
    waiting and slack that tell how a change of arrival time travels down the path.

    ``evaluate`` prices a changed path given as the unchanged prefix ``path[0..a]`` then
    runs of the current path. A run keeps its inner legs, so only the arrival at its first
    stop is new: a shift ``delta`` of that arrival moves each later stop by
    ``max(0, delta - waiting so far)`` when later, or by ``max(delta, -least slack so far)``
    when earlier (slack: how long after its window opened the stop was reached). When every
    stop of the run shifts alike and no window changes side (range minima of slack, of
    lateness and of margin say so), the run's new cost is known in O(1); otherwise it is
    walked, or priced with numpy when long. A run reached later costs at least what it did,
    which often settles a candidate without pricing the run at all.
    """

    def __init__(self, path: list[int], matrix: Sequence[Sequence[float]], timing: _Timing) -> None:
        self.d = matrix
        self.timing = timing
        self.reset(path)

    def reset(self, path: list[int]) -> None:
        size = len(path)
        arr = [0.0] * size
        dep = [0.0] * size
        cm = [0] * size
        cl = [0.0] * size
        cd = [0.0] * size
        waits = [0.0] * size  # cumulative waiting for windows to open, up to each stop
        slack = [math.inf] * size
        missed, late, metres, waited = 0, 0.0, 0.0, 0.0
        opens = self.timing.opens
        stops = self.timing.walk(self.d, path[1:], path[0], 0.0)
        for p, (leg, arrival, lateness, wait, departure) in enumerate(stops, start=1):
            metres += leg
            if lateness >= 0.0:
                missed += 1
                late += lateness
            waited += wait
            slack[p] = 0.0 if wait else arrival - opens[path[p]]
            arr[p], dep[p], cm[p], cl[p], cd[p], waits[p] = arrival, departure, missed, late, metres, waited
        self.path, self.arr, self.dep, self.cm, self.cl, self.cd = path, arr, dep, cm, cl, cd
        self.waits = waits
        self.arr_np = np.array(arr)
        self.closes_np = np.array([self.timing.closes[node] for node in path])
        self.waits_np = np.array(waits)
        self.slack_np = np.array(slack)
        behind = self.arr_np - self.closes_np  # >= 0: the window was missed
        self.least_slack = _range_min(self.slack_np)
        self.least_lateness = _range_min(np.where(behind >= 0.0, behind, np.inf))
        self.least_margin = _range_min(np.where(behind < 0.0, -behind, np.inf))
        self.pos = [0] * size
        for p, node in enumerate(path):
            self.pos[node] = p
        self.cost = (missed, late, metres)

    def _priced_run(self, u: int, v: int, delta: float) -> tuple[int, float, float]:
        """(missed, late, departure shift) of ``path[u..v]`` reached ``delta`` s late."""
        if v - u < _WALKED_RUN:  # cheaper to walk than to set numpy going
            path = self.path
            missed, late, _, clock = self.timing.totals(self.d, path[u : v + 1], path[u], self.arr[u] + delta)
            return missed, late, clock - self.dep[v]
        if delta > 0:
            waits = self.waits_np
            shifts = delta - (waits[u - 1 : v] - waits[u - 1])
            np.maximum(shifts, 0.0, out=shifts)
            leave = max(0.0, delta - (self.waits[v] - self.waits[u - 1]))
        else:
            least = np.minimum.accumulate(self.slack_np[u : v + 1])
            shifts = np.empty(v - u + 1)
            shifts[0] = delta
            np.maximum(-least[:-1], delta, out=shifts[1:])
            leave = max(delta, -float(least[-1]))
        lateness = self.arr_np[u : v + 1] + shifts - self.closes_np[u : v + 1]
        late = lateness >= 0.0
        return int(np.count_nonzero(late)), float(lateness[late].sum()), leave

    def evaluate(
        self, a: int, runs: Sequence[tuple[int, int]], bound: tuple[int, float, float]
    ) -> tuple[int, float, float] | None:
        """Cost of ``path[0..a]`` then each run ``(u, v)`` (``path[u..v]``, reversed when
        ``u > v``) if it is better than ``bound``, else None. When the result is better, it
        may be an upper bound of the true cost (which is then at least as good)."""
        path, d, arr, dep, cm, cl, cd = self.path, self.d, self.arr, self.dep, self.cm, self.cl, self.cd
        t = self.timing
        mps = t.metres_per_second
        b_missed, b_late, b_metres = bound
        b_late_low, b_late_high, b_metres_low = b_late - 1e-6, b_late + 1e-6, b_metres - 1e-6
        missed, late, metres, clock, prev = cm[a], cl[a], cd[a], dep[a], path[a]
        deferred = []  # runs reached later than before, counted at their old cost so far
        final_run = len(runs) - 1
        for r, (u, v) in enumerate(runs):
            if v - u >= _PRICED_RUN:
                # a long run of the current path: only its first leg is new
                leg = d[prev][path[u]]
                metres += leg + cd[v] - cd[u]
                delta = clock + leg / mps - arr[u]
                old_missed, old_late = cm[v] - cm[u - 1], cl[v] - cl[u - 1]
                if -1e-9 < delta < 1e-9:
                    missed += old_missed
                    late += old_late
                    clock = dep[v]
                elif delta > 0 and self.waits[v - 1] == self.waits[u - 1] and (
                    _query(self.least_margin, u, v) > delta
                ):  # every stop just as much later, and no window newly missed
                    missed += old_missed
                    late += old_late + delta * old_missed
                    clock = dep[v] + max(0.0, delta - (self.waits[v] - self.waits[u - 1]))
                elif delta > 0:  # at least the old cost; the exact one only if needed
                    missed += old_missed
                    late += old_late
                    clock = dep[v] + max(0.0, delta - (self.waits[v] - self.waits[u - 1]))
                    deferred.append((u, v, delta, old_missed, old_late))
                elif _query(self.least_slack, u, v) >= -delta and (
                    _query(self.least_lateness, u, v) >= -delta
                ):  # every stop just as much earlier, and every missed window still missed
                    missed += old_missed
                    late += old_late + delta * old_missed
                    clock = dep[v] + delta
                elif r == final_run and not deferred and _better(
                    (missed + old_missed, late + old_late, metres), bound
                ):
                    return missed + old_missed, late + old_late, metres  # an upper bound
                else:
                    run_missed, run_late, leave = self._priced_run(u, v, delta)
                    missed += run_missed
                    late += run_late
                    clock = dep[v] + leave
                prev = path[v]
            else:
                step = 1 if u <= v else -1
                run = path[u : v + step if v + step >= 0 else None : step]
                run_missed, run_late, run_metres, clock = t.totals(d, run, prev, clock)
                missed += run_missed
                late += run_late
                metres += run_metres
                prev = path[v]
            if missed > b_missed or (
                missed == b_missed
                and (late > b_late_high or (late >= b_late_low and metres >= b_metres_low))
            ):
                return None  # a lower bound already fails: every part of the cost only grows
        for u, v, delta, old_missed, old_late in deferred:
            run_missed, run_late, _ = self._priced_run(u, v, delta)
            missed += run_missed - old_missed
            late += run_late - old_late
            if missed > b_missed or (missed == b_missed and late > b_late_high):
                return None
        cost = (missed, late, metres)
        return cost if _better(cost, bound) else None


def _range_min(values: np.ndarray) -> list[list[float]]:
    """Sparse table: ``table[k][i]`` is the least of ``values[i : i + 2**k]``."""
    table = [values]
    width = 1
    while 2 * width <= len(values):
        below = table[-1]
        table.append(np.minimum(below[:-width], below[width:]))
        width *= 2
    return [level.tolist() for level in table]


def _query(table: list[list[float]], u: int, v: int) -> float:
    """Least value over positions ``u..v`` (inclusive)."""
    k = (v - u + 1).bit_length() - 1
    level = table[k]
    return min(level[u], level[v - (1 << k) + 1])


def _window_search(
    order: list[int],
    matrix: Sequence[Sequence[float]],
    timing: _Timing,
    neighbours: list[list[int]] | None,
    looking: set[int] | None = None,
) -> list[int]:
    """Relocate runs of 1–3 stops (either way round) and reverse runs, on the full cost.

    For each run the best placement is taken; candidates are priced incrementally against
    the current schedule and cut short as soon as they cannot beat it. With ``neighbours``
    (large routes) only placements next to a near neighbour are tried, and a stop is looked
    at again only once a move has touched it or its neighbours on the path ("don't look
    bits"); otherwise every placement of every run is tried until none improves. With
    ``looking``, the don't-look bits start set on every other stop (after a kick).
    """
    path = [0, *order]
    n = len(order)
    sched = _Schedule(path, matrix, timing)
    dont_look = neighbours is not None or looking is not None
    active = [looking is None or node in looking for node in range(n + 1)]
    improved = True
    while improved:
        improved = False
        touched: set[int] = set()
        for length in (1, 2, 3):
            i = 1
            while i + length - 1 <= n:
                k = i + length - 1
                if dont_look and not active[path[i]]:
                    i += 1
                    continue
                current = sched.cost
                best = None
                for j, seg in _placements(sched, i, k, neighbours):
                    if j < i:  # path[..j] + seg + path[j+1..i-1] + path[k+1..]
                        runs = [seg, (j + 1, i - 1)]
                        if k < n:
                            runs.append((k + 1, n))
                        cost = sched.evaluate(j, runs, current)
                    else:  # path[..i-1] + path[k+1..j] + seg + path[j+1..]
                        runs = [(k + 1, j), seg]
                        if j < n:
                            runs.append((j + 1, n))
                        cost = sched.evaluate(i - 1, runs, current)
                    if cost is not None:
                        best, current = (j, seg), cost
                if best is not None:
                    j, (u, v) = best
                    segment = path[u : v + 1] if u <= v else path[v : u + 1][::-1]
                    ends = {path[j], path[i - 1], *segment}
                    ends.update(path[p] for p in (j + 1, k + 1) if p <= n)
                    if j < i:
                        path = path[: j + 1] + segment + path[j + 1 : i] + path[k + 1 :]
                    else:
                        path = path[:i] + path[k + 1 : j + 1] + segment + path[j + 1 :]
                    sched.reset(path)
                    touched.update(ends)
                    improved = True
                i += 1
        for i in range(1, n):
            if dont_look and not active[path[i]]:
                continue
            if neighbours is None:
                ends_at: Sequence[int] = range(i + 1, n + 1)
            else:
                ends_at = sorted(p for p in (sched.pos[y] for y in neighbours[path[i]]) if p > i)
            for j in ends_at:
                runs = [(j, i)]
                if j < n:
                    runs.append((j + 1, n))
                if sched.evaluate(i - 1, runs, sched.cost) is not None:
                    touched.update(path[p] for p in (i - 1, i, j, j + 1) if p <= n)
                    path = path[:i] + path[i : j + 1][::-1] + path[j + 1 :]
                    sched.reset(path)
                    improved = True
        active = [False] * (n + 1)
        for node in touched:
            active[node] = True
    return path[1:]


def _placements(
    sched: _Schedule, i: int, k: int, neighbours: list[list[int]] | None
) -> list[tuple[int, tuple[int, int]]]:
    """Moves of the run ``path[i..k]``: ``(j, run)`` to place it after position ``j``
    (outside ``i-1..k``), as ``(i, k)`` or reversed as ``(k, i)``, in increasing ``j``.

    All of them, or (with ``neighbours``) those where an end of the run comes next to one
    of its near neighbours."""
    last = len(sched.path) - 1
    runs = ((i, k), (k, i)) if k > i else ((i, k),)
    if neighbours is None:
        return [(j, run) for j in range(last + 1) if not i - 1 <= j <= k for run in runs]
    pos, path = sched.pos, sched.path
    moves: set[tuple[int, tuple[int, int]]] = set()
    for run in runs:
        first, second = path[run[0]], path[run[1]]
        for z in neighbours[first]:  # z just before the run's first stop
            moves.add((pos[z], run))
        for z in neighbours[second]:  # z just after the run's last stop
            if pos[z] > 0:
                moves.add((pos[z] - 1, run))
    return sorted(move for move in moves if not i - 1 <= move[0] <= k)


# --- output ------------------------------------------------------------------------------


def _build(start: Point, stops: Sequence[Stop], order: list[int], timing: _Timing) -> Route:
    """Geodesic legs and clock times for the chosen order."""
    planned = []
    prev: Point = start
    clock = 0.0
    total = 0.0
    missed = 0
    late = 0.0
    for rank, node in enumerate(order, start=1):
        stop = stops[node - 1]
        here = (stop.lat, stop.lon)
        leg = distance_m(prev, here)
        total += leg
        clock += leg / timing.metres_per_second
        arrival = clock
        is_late = arrival >= timing.closes[node]
        if is_late:
            missed += 1
            late += arrival - timing.closes[node]
        clock = max(clock, timing.opens[node])
        begins = clock
        clock += timing.service
        planned.append(
            PlannedStop(
                id=stop.id,
                order=rank,
                lat=stop.lat,
                lon=stop.lon,
                leg_distance_m=leg,
                arrival_estimate=_at(timing.start_time, arrival),
                begins_at=_at(timing.start_time, begins),
                late=is_late,
            )
        )
        prev = here
    return Route(tuple(planned), total, missed, timedelta(seconds=late))


def _at(start_time: datetime, seconds: float) -> datetime:
    """``start_time`` plus elapsed seconds, computed in UTC and shown in its zone."""
    return (utc(start_time) + timedelta(seconds=round(seconds))).astimezone(start_time.tzinfo)
