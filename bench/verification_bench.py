"""Verification run benchmark: the `all` run over a ledger of N leaves, its time and its memory.

Run from the repository root: ``python bench/verification_bench.py [--events N] [--database-url URL]``.

Builds a ledger of N custody events (default 100,000) with the batch path in a data directory
(``--data-dir``, kept between runs so that two versions of the code are timed on one ledger; a
fresh temporary one otherwise), then runs the verification job of scope ``all`` ``--rounds``
times (default 3) exactly as a request does (``custody.jobs.run_verification``: a signed head,
every checkpoint, the tree rebuilt from the leaves and compared with the stored tree, the head).
Reported: each round's seconds and leaves/s, the best round, and one more round under
tracemalloc for the peak of memory the run allocated (slower; for the bound, not the speed).
With ``--mirror DIR`` the tiles are exported there first and the runs also check that mirror
(``FIELDPROOF_LEDGER_MIRROR``); with ``--serve`` too, over HTTP from a loopback static server.

``uptime`` is printed first and last: the figures mean little without knowing what else ran.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.dbtools import upgrade  # noqa: E402
from api.runtime import build_runtime  # noqa: E402
from bench.ledger_bench import BATCH, event_fields, load  # noqa: E402
from core.clock import utcnow  # noqa: E402
from core.settings import Settings  # noqa: E402
from custody import proofs  # noqa: E402
from custody.append import record_custody_events  # noqa: E402
from custody.jobs import run_verification  # noqa: E402
from custody.models import Verification  # noqa: E402


def build(runtime, count: int) -> None:
    with runtime.db.transaction() as session:
        have = proofs.tree_size(session)
    start = time.perf_counter()
    for first in range(have, count, BATCH):
        with runtime.db.transaction() as session:
            record_custody_events(session, [event_fields(n) for n in range(first, min(count, first + BATCH))])
    if count > have:
        print(f"  built {count - have} leaves in {time.perf_counter() - start:.1f} s", flush=True)


def one_run(runtime) -> tuple[float, dict]:
    with runtime.db.transaction() as session:
        row = Verification(scope="all", requested_by="bench", status="queued", progress=0.0, checked=0, failed=0,
                           failures=[], created_at=utcnow(), attempts=0)
        session.add(row)
        session.flush()
        verification_id = row.id
    start = time.perf_counter()
    run_verification(runtime, verification_id)
    elapsed = time.perf_counter() - start
    with runtime.db.transaction() as session:
        row = session.get(Verification, verification_id)
        return elapsed, {"status": row.status, "checked": row.checked, "tree_size": row.tree_size,
                         "failures": row.failures[:3], "error": row.error, "mirror": getattr(row, "mirror", None)}


def serve(directory: str) -> str:
    """A static host for `directory` on loopback, in a thread of this process (one more on the CPU)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a CDN or nginx would
        disable_nagle_algorithm = True  # else each response waits out the reader's delayed ACK (40 ms)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="leaves in the ledger")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", help="keep the ledger here (SQLite) and reuse it on the next run")
    parser.add_argument("--database-url", help="a PostgreSQL database instead of SQLite")
    parser.add_argument("--mirror", help="export the tiles to this directory and check it as the mirror")
    parser.add_argument("--serve", action="store_true", help="serve --mirror over HTTP on loopback and check that")
    args = parser.parse_args()
    print(load())
    with tempfile.TemporaryDirectory() as temporary:
        data_dir = Path(args.data_dir or temporary)
        data_dir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{data_dir / 'fieldproof.db'}"
        upgrade(url)
        runtime = build_runtime(Settings(data_dir=data_dir, database_url=url, secret_key="bench-" * 8))
        build(runtime, args.events)
        if args.mirror:
            from custody.checkpoints import current_tree_head
            from custody.tiles import export_tiles

            with runtime.db.transaction() as session:
                head = current_tree_head(session, runtime.signer, runtime.settings.ledger_origin)
                export_tiles(session, args.mirror, head.note, head.tree_size)
            location = serve(args.mirror) if args.serve else str(Path(args.mirror).resolve())
            runtime.settings = runtime.settings.with_overrides(ledger_mirror=location)
            print(f"  mirror: {location}", flush=True)
        times = []
        for number in range(1, args.rounds + 1):
            elapsed, outcome = one_run(runtime)
            times.append(elapsed)
            print(f"  round {number}: {elapsed:.2f} s, {outcome['tree_size'] / elapsed:,.0f} leaves/s, "
                  f"{outcome['status']} ({outcome['checked']} checked){'' if outcome['status'] == 'passed' else outcome}"
                  + (f"; mirror {outcome['mirror']['files_checked']} files" if outcome.get("mirror") else ""),
                  flush=True)
        print(f"verification of scope all at {args.events} leaves: best {min(times):.2f} s "
              f"({args.events / min(times):,.0f} leaves/s) over {args.rounds} rounds")
        tracemalloc.start()
        one_run(runtime)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak memory allocated during one run (tracemalloc): {peak / 2**20:.1f} MiB")
        runtime.db.dispose()
    print(load())


if __name__ == "__main__":
    main()
