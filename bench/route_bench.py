"""Route planning benchmark: plan_route against the exact optimum, and its speed.

Run from the repository root: ``python bench/route_bench.py [--instances N] [--seed S]``.

1. Quality: seeded random instances of 8–12 stops scattered over a city (about 30 km
   across), open path from a fixed start. ``plan_route`` (great-circle matrix, the default)
   is measured geodesically and compared with Held–Karp's exact optimum on the geodesic
   matrix. Targets: mean excess <= 2 %, worst <= 8 %. The same is done with the geodesic
   matrix, to show the cheaper great-circle matrix costs nothing in quality.
2. Speed: planning 200 stops (target < 1 s) with day-long windows; and, for comparison,
   200 and 25 stops with two-hour windows that bind (200 such stops cannot fit in a day, so
   the window-aware search has a great deal to repair).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from visits.route import Stop, distance_matrix, held_karp, plan_route  # noqa: E402

CENTRE = (31.2304, 121.4737)  # Shanghai
SPREAD_DEG = 0.15
SPEED_KMH = 30.0
START_TIME = datetime(2026, 5, 4, 0, 30, tzinfo=timezone.utc)  # 08:30 in Shanghai


def random_point(rng: random.Random) -> tuple[float, float]:
    return (
        CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
        CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
    )


def instance(rng: random.Random, n: int, window_hours: float | None = None):
    start = random_point(rng)
    stops = []
    for i in range(n):
        lat, lon = random_point(rng)
        if window_hours is None:
            opens, closes = START_TIME, START_TIME + timedelta(hours=13)
        else:
            opens = START_TIME + timedelta(hours=rng.uniform(0, 13 - window_hours))
            closes = opens + timedelta(hours=window_hours)
        stops.append(Stop(f"v{i}", lat, lon, opens, closes))
    return start, stops


def quality(instances: int, seed: int) -> None:
    rng = random.Random(seed)
    excess = {"great_circle": [], "geodesic": []}
    same_order = 0
    for k in range(instances):
        n = 8 + k % 5
        start, stops = instance(rng, n)
        matrix = distance_matrix([start, *((s.lat, s.lon) for s in stops)], "geodesic")
        optimum, _ = held_karp(matrix)
        orders = {}
        for metric in excess:
            route = plan_route(start, stops, SPEED_KMH, START_TIME, metric=metric)
            # round away float noise (and -0.0) at the 1e-6 % level
            excess[metric].append(round(100.0 * (route.total_distance_m / optimum - 1.0), 6) + 0.0)
            orders[metric] = [s.id for s in route.stops]
        same_order += orders["great_circle"] == orders["geodesic"]
    print(f"quality: {instances} instances of 8–12 stops, seed {seed}, open path from a fixed start")
    for metric, values in excess.items():
        print(
            f"  {metric:<12} matrix: mean excess {statistics.mean(values):.3f} %, "
            f"worst {max(values):.3f} %, optimal in {sum(v < 1e-6 for v in values)}/{len(values)}"
        )
    print(f"  same order with both matrices in {same_order}/{instances} instances")


def speed(seed: int, repeats: int = 3) -> None:
    cases = (
        (200, "day-long windows", None),
        (200, "2-hour windows", 2.0),
        (25, "2-hour windows", 2.0),
    )
    for n, label, window in cases:
        rng = random.Random(seed)
        times = []
        for _ in range(repeats):
            start, stops = instance(rng, n, window)
            began = time.perf_counter()
            route = plan_route(start, stops, SPEED_KMH, START_TIME)
            times.append(time.perf_counter() - began)
        print(
            f"speed: {n} stops, {label}: best {min(times):.3f} s, worst {max(times):.3f} s "
            f"over {repeats} instances (last: {route.total_distance_m / 1000:.1f} km, "
            f"{route.missed_windows} windows missed)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20260504)
    args = parser.parse_args()
    quality(args.instances, args.seed)
    speed(args.seed)


if __name__ == "__main__":
    main()
