"""Route planning benchmark: plan_route against the exact optimum, and its speed.

Run from the repository root: ``python bench/route_bench.py [--instances N] [--seed S]``.

1. Quality: seeded random instances of 8–12 stops scattered over a city (about 30 km
   across), open path from a fixed start. ``plan_route`` (great-circle matrix, the default)
   is measured geodesically and compared with Held–Karp's exact optimum on the geodesic
   matrix. Targets: mean excess <= 2 %, worst <= 8 %. The same is done with the geodesic
   matrix, to show the cheaper great-circle matrix costs nothing in quality.
2. Speed (target < 1 s each): planning 200 stops with day-long windows; 200 stops with
   two-hour windows that bind (200 such stops cannot fit in a day, so the window-aware
   search has a great deal to repair); and 25 stops with two-hour windows. Each case plans
   ``--instances-per-case`` seeded instances ``--repeats`` times each; planning is
   deterministic, so the repeats only measure the machine's noise. A case's figure is the
   slowest instance's best CPU time (the planner is single-threaded, so on an idle machine
   CPU and wall-clock time agree; on a shared, oversubscribed one the wall clock mostly
   measures the other tenants); ``--wall`` judges by the best wall-clock time instead. The
   medians of both over all runs are printed beside it, with the load average.

Exit status 1 when a target is missed (the failures are listed last), else 0.
"""

from __future__ import annotations

import argparse
import math
import os
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


QUALITY_MEAN_TARGET = 2.0  # %
QUALITY_WORST_TARGET = 8.0  # %
SPEED_TARGET = 1.0  # seconds


def quality(instances: int, seed: int) -> list[str]:
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
    failures = []
    for metric, values in excess.items():
        mean, worst = statistics.mean(values), max(values)
        print(
            f"  {metric:<12} matrix: mean excess {mean:.3f} % (target <= {QUALITY_MEAN_TARGET} %), "
            f"worst {worst:.3f} % (target <= {QUALITY_WORST_TARGET} %), "
            f"optimal in {sum(v < 1e-6 for v in values)}/{len(values)}"
        )
        if mean > QUALITY_MEAN_TARGET:
            failures.append(f"{metric} mean excess {mean:.3f} % > {QUALITY_MEAN_TARGET} %")
        if worst > QUALITY_WORST_TARGET:
            failures.append(f"{metric} worst excess {worst:.3f} % > {QUALITY_WORST_TARGET} %")
    print(f"  same order with both matrices in {same_order}/{instances} instances")
    return failures


def speed(seed: int, instances: int, repeats: int, by_wall: bool) -> list[str]:
    cases = (
        (200, "day-long windows", None),
        (200, "2-hour windows", 2.0),
        (25, "2-hour windows", 2.0),
    )
    failures = []
    for n, label, window in cases:
        rng = random.Random(seed)
        slowest, walls, cpus, results = 0.0, [], [], []
        for _ in range(instances):
            start, stops = instance(rng, n, window)
            best = math.inf
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                route = plan_route(start, stops, SPEED_KMH, START_TIME)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                walls.append(wall)
                cpus.append(cpu)
                best = min(best, wall if by_wall else cpu)
            slowest = max(slowest, best)
            results.append(
                f"{route.missed_windows} missed, {route.total_lateness.total_seconds() / 3600:.1f} h late, "
                f"{route.total_distance_m / 1000:.1f} km"
            )
        verdict = "ok" if slowest < SPEED_TARGET else "TOO SLOW"
        print(
            f"speed: {n} stops, {label}: {slowest:.3f} s {'wall' if by_wall else 'CPU'} "
            f"(target < {SPEED_TARGET} s) {verdict}; "
            f"median wall {statistics.median(walls):.3f} s, median CPU {statistics.median(cpus):.3f} s "
            f"over {instances} instances x {repeats} runs"
        )
        for k, text in enumerate(results, start=1):
            print(f"    instance {k}: {text}")
        if slowest >= SPEED_TARGET:
            failures.append(f"{n} stops, {label}: {slowest:.3f} s >= {SPEED_TARGET} s")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100, help="quality instances")
    parser.add_argument("--seed", type=int, default=20260504)
    parser.add_argument("--instances-per-case", type=int, default=3, help="speed instances per case")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each speed instance")
    parser.add_argument("--wall", action="store_true", help="judge speed by wall-clock time")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    failures = quality(args.instances, args.seed)
    failures += speed(args.seed, args.instances_per_case, args.repeats, args.wall)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
