"""CPU time per custody event on SQLite, in-process: what the append costs, less the machine's load.

A ledger of ``--events`` leaves is built with the batch path and checkpointed; then ``--rounds``
rounds of ``--appends`` events, each recorded with ``record_custody_event`` in its own
transaction as the API does it. Per round, the process's CPU time (``time.process_time``: user
and system, so the commit's WAL writes count) divided by the events, for the whole transaction
and for the ``record_custody_event`` call alone; printed per round and as the median. Wall-clock
rates (``ledger_bench.py``) move with whatever else runs on the machine; CPU time much less.

``--root`` imports the code from another checkout, so two commits are compared by one script:
``python bench/append_cpu.py --root ../before`` then ``python bench/append_cpu.py``, in turns.
Only ``api.dbtools.upgrade``, ``core.db.Database`` and ``custody.append.record_custody_event(s)``
are used, which every commit since the batch path has.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHA = "5e" * 32


def event_fields(number: int) -> dict:
    return {"type": "viewed", "evidence_id": f"item-{number % 5000}", "actor_id": "bench", "sha256": SHA,
            "case_id": "case-bench"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout whose code is measured (default: this one)")
    parser.add_argument("--events", type=int, default=50_000, help="leaves built before the appends")
    parser.add_argument("--appends", type=int, default=2000, help="events per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from api.dbtools import upgrade
    from core.db import Database
    from custody.append import record_custody_event, record_custody_events

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'append.db'}"
        upgrade(url)
        db = Database(url)
        for low in range(0, args.events, 10_000):
            with db.transaction() as session:
                record_custody_events(session, [event_fields(n) for n in range(low, min(args.events, low + 10_000))])
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
        number = args.events
        for _ in range(200):  # warm: statements prepared, pages cached
            with db.transaction() as session:
                record_custody_event(session, **event_fields(number))
            number += 1
        transactions, calls, users, systems = [], [], [], []
        for _ in range(args.rounds):
            in_call = 0.0
            usage, began = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
            for _ in range(args.appends):
                with db.transaction() as session:
                    call_began = time.process_time()
                    record_custody_event(session, **event_fields(number))
                    in_call += time.process_time() - call_began
                number += 1
            ended, after = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
            transactions.append((ended - began) / args.appends * 1e6)
            calls.append(in_call / args.appends * 1e6)
            users.append((after.ru_utime - usage.ru_utime) / args.appends * 1e6)
            systems.append((after.ru_stime - usage.ru_stime) / args.appends * 1e6)
        db.dispose()

    def rounds(values: list[float]) -> str:
        return f"median {statistics.median(values):.0f} (rounds {' '.join(f'{v:.0f}' for v in values)})"

    measured = Path(sys.modules["custody.append"].__file__).parents[1]
    print(f"{measured}: CPU µs per event, {args.rounds} rounds of {args.appends} on {args.events} leaves")
    print(f"  transaction {rounds(transactions)}")
    print(f"  record_custody_event {rounds(calls)}")
    print(f"  user {statistics.median(users):.0f}, system {statistics.median(systems):.0f}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
