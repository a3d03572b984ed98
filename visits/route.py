"""Route order for a collector's day: an open path from a start point through every visit.

Policy, in order of priority:

1. miss as few visit windows as possible (a stop is missed when the arrival is at or after
   its ``window_end``: windows are half-open);
2. then be as little late in total as possible;
3. then drive as short a distance as possible.

Arriving before ``window_start`` means waiting until it opens (plus ``service_time`` at
each stop before leaving). The search is nearest neighbour, then 2-opt and Or-opt on a
distance matrix with neighbour lists, plus a few seeded double-bridge kicks (iterated local
search; 200 stops take about a third of a second); when the shortest
order keeps every window, it is the answer; otherwise a window-aware 2-opt / Or-opt pass
runs on the full cost above, starting from the shortest order and from the orders by
window, followed by a few seeded double-bridge kicks on routes of up to 40 stops.

The matrix is great-circle by default (about 20x faster than geodesic to build, and
``bench/route_bench.py`` shows the orders it picks are as good when measured geodesically);
reported leg and total distances are always geodesic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from geographiclib.geodesic import Geodesic

from visits.geofence import Point, distance_m, validate_coordinates
from visits.localtime import require_aware, utc

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
_FULL_SEARCH_MAX = 40  # window-aware search tries every move up to this many stops
_KICKS_MAX = 100  # iterated-local-search kicks on small routes...
_KICK_BUDGET = 1000  # ...and fewer on large ones (kicks = budget / stops)
_WINDOW_KICKS_MAX = 30  # the same for the window-aware search
_WINDOW_KICK_BUDGET = 300


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
    order = _shortest_order(matrix)
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

    def cost(
        self, matrix: Sequence[Sequence[float]], order: Sequence[int]
    ) -> tuple[int, float, float]:
        """(windows missed, seconds late in total, metres) of an order."""
        cost = self.cost_from(matrix, order, 0, (0, 0.0, 0.0, 0.0))
        assert cost is not None
        return cost

    def prefix_states(
        self, matrix: Sequence[Sequence[float]], order: Sequence[int]
    ) -> list[tuple[int, float, float, float]]:
        """State *before* each position: (missed, late, metres, departure second)."""
        states = []
        state = (0, 0.0, 0.0, 0.0)
        prev = 0
        for node in order:
            states.append(state)
            state = self._step(matrix, prev, node, state)
            prev = node
        states.append(state)
        return states

    def cost_from(
        self,
        matrix: Sequence[Sequence[float]],
        order: Sequence[int],
        position: int,
        state: tuple[int, float, float, float],
        bound: tuple[int, float, float] | None = None,
    ) -> tuple[int, float, float] | None:
        """Cost of ``order`` resuming at ``position`` from ``state``.

        With ``bound``, returns None as soon as the order cannot beat it: all three parts
        of the cost only grow along the path.
        """
        prev = order[position - 1] if position > 0 else 0
        missed, late, metres, clock = state
        mps, service, opens, closes = self.metres_per_second, self.service, self.opens, self.closes
        if bound is not None:
            b_missed, b_late, b_metres = bound
            b_late_low = b_late - 1e-6
            b_metres_low = b_metres - 1e-6
        for i in range(position, len(order)):
            node = order[i]
            leg = matrix[prev][node]
            metres += leg
            clock += leg / mps
            if clock >= closes[node]:
                missed += 1
                late += clock - closes[node]
            if clock < opens[node]:
                clock = opens[node]
            clock += service
            prev = node
            if bound is not None and (
                missed > b_missed
                or (missed == b_missed and late >= b_late_low and metres >= b_metres_low)
            ):
                return None
        return missed, late, metres

    def _step(self, matrix, prev, node, state):
        missed, late, metres, clock = state
        leg = matrix[prev][node]
        metres += leg
        clock += leg / self.metres_per_second
        if clock >= self.closes[node]:
            missed += 1
            late += clock - self.closes[node]
        clock = max(clock, self.opens[node]) + self.service
        return missed, late, metres, clock


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


def _shortest_order(matrix: Sequence[Sequence[float]]) -> list[int]:
    """Nearest neighbour, 2-opt and Or-opt to a local optimum, then a few seeded
    double-bridge kicks (iterated local search) to escape it; deterministic."""
    neighbours = _neighbour_lists(matrix, _NEIGHBOURS)
    best = [0, *_nearest_neighbour(matrix)]
    _local_search(best, matrix, neighbours)
    n = len(best) - 1
    if n < 5:
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
        starts = [min(starts, key=lambda o: _key(timing.cost(matrix, o)))]
    neighbours = _neighbour_lists(matrix, _NEIGHBOURS) if n > _FULL_SEARCH_MAX else None
    best, best_cost = None, None
    for order in starts:
        order = _window_search(list(order), matrix, timing, neighbours)
        cost = timing.cost(matrix, order)
        if best_cost is None or _better(cost, best_cost):
            best, best_cost = order, cost
    assert best is not None and best_cost is not None
    if n >= 5 and neighbours is None:
        rng = random.Random(n)
        for _ in range(min(_WINDOW_KICKS_MAX, _WINDOW_KICK_BUDGET // n)):
            a, b, c = sorted(rng.sample(range(n + 1), 3))
            candidate = best[:a] + best[b:c] + best[a:b] + best[c:]
            candidate = _window_search(candidate, matrix, timing, neighbours)
            cost = timing.cost(matrix, candidate)
            if _better(cost, best_cost):
                best, best_cost = candidate, cost
    return best


def _key(cost: tuple[int, float, float]) -> tuple[int, float, float]:
    return cost[0], round(cost[1], 3), cost[2]


def _window_search(
    order: list[int],
    matrix: Sequence[Sequence[float]],
    timing: _Timing,
    neighbours: list[list[int]] | None,
) -> list[int]:
    """Relocate runs of 1–3 stops (either way round) and reverse runs, on the full cost.

    For each run the best placement is taken; candidates are cut short as soon as they
    cannot beat the current order. With ``neighbours`` only placements next to a near
    neighbour are tried (large routes); otherwise every placement is.
    """
    current = timing.cost(matrix, order)
    improved = True
    while improved:
        improved = False
        for length in (1, 2, 3):
            i = 0
            while i <= len(order) - length:
                states = timing.prefix_states(matrix, order)
                best = None
                for candidate, first in _relocations(order, i, length, neighbours):
                    cost = timing.cost_from(matrix, candidate, first, states[first], current)
                    if cost is not None and _better(cost, current):
                        best, current = candidate, cost
                if best is not None:
                    order, improved = best, True
                i += 1
        for i in range(len(order) - 1):
            states = timing.prefix_states(matrix, order)
            for j in range(i + 1, len(order)):
                if neighbours is not None and order[j] not in neighbours[order[i]]:
                    continue
                candidate = order[:i] + order[i : j + 1][::-1] + order[j + 1 :]
                cost = timing.cost_from(matrix, candidate, i, states[i], current)
                if cost is not None and _better(cost, current):
                    order, current, improved = candidate, cost, True
                    states = timing.prefix_states(matrix, order)
    return order


def _relocations(order: list[int], i: int, length: int, neighbours: list[list[int]] | None):
    """Orders with ``order[i:i+length]`` moved elsewhere, and the first changed position."""
    segment = order[i : i + length]
    rest = order[:i] + order[i + length :]
    if neighbours is None:
        places: Sequence[int] = range(len(rest) + 1)
    else:
        pos = {node: p for p, node in enumerate(rest)}
        near: set[int] = set()
        for s in (segment[0], segment[-1]):
            for z in neighbours[s]:
                if z == 0:
                    near.add(0)
                elif z in pos:
                    near.update((pos[z], pos[z] + 1))
        places = sorted(near)
    for at in places:
        if at == i:
            continue
        yield rest[:at] + segment + rest[at:], min(i, at)
        if length > 1:
            yield rest[:at] + segment[::-1] + rest[at:], min(i, at)


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
