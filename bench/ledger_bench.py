"""Custody ledger benchmark: appends, proof latency, and the verification sweep's hashing.

Run from the repository root: ``python bench/ledger_bench.py [--events N] [--database-url URL]``.

1. A ledger of N custody events (default 10^6) on SQLite and, with ``--database-url``, on
   PostgreSQL. The first N - A leaves are built with the batch path (``record_custody_events``,
   10,000 per transaction; its rate is reported for information), the load is let to land
   (WAL checkpoint or ANALYZE + CHECKPOINT, then sync), and the last A (default 20,000)
   go through ``record_custody_event``, each in its own transaction exactly as the API does it,
   so the per-event rate (target >= 2,000 events/s on SQLite) is measured on a ledger of
   ~10^6 leaves. It is reported overall and as the median of five equal slices, since a
   shared machine's bursts of load land in one slice or another.
2. Inclusion and consistency proofs at N leaves, from the stored nodes, on the read-only pool
   as the API reads them (no BEGIN or COMMIT on PostgreSQL): p50 and p99 over ``--proofs`` random proofs of each kind
   (default 2,000; target p99 <= 5 ms on SQLite).
   Then tiles as the API serves them (``custody.tiles.read_tile``): random full level-0 and
   level-1 tiles and entry bundles, p50 and p99, with the p99's ratio to an inclusion proof's.
3. The verification sweep's streaming re-hash (``hash_blob`` over the filesystem store) as a
   fraction of raw hashlib SHA-256 over the same files (a plain readinto + update loop; target
   >= 0.8), and, for information, of hashlib over bytes already in memory (no reads: the
   ceiling). All are timed in alternating rounds with the cache warmed once for all, and the
   best round of each is compared, so a burst of load from other processes does not land on
   one side only. ``--sweep-only`` runs just this part.

4. PostgreSQL only (``--database-url``), on the ledger of ~N leaves: ``--writers`` (default 64)
   request threads record custody events concurrently, one transaction each, ``--per-writer``
   each (default 200), spread over ``--writer-processes`` (default 4: 16 threads each, as the
   ingest pool's gunicorn workers run them; 16 is the API pool's 4 threads each, whose 16 busy
   processes starve the one sequencer on two cores; 64 gives every writer a process and a Python
   heap of its own, which on two cores measures the processes' cache misses more than the ledger), twice in
   the same run: *before*, today's design until issue 21 (every
   request integrates its event itself under the head lock, in its ORM session: ``inline``), and
   *after* (each event only queued, in a transaction of its own, ``commit_custody_event``, as a
   read of bytes, the most frequent event, records it; one sequencer, this process's thread,
   integrates them in batches). Neither side runs the request's access check, a read on the
   readers' pool. ``--every-path`` adds, for information, events queued in the request's session
   (as an upload records them) and the head lock with each event in a transaction of its own. Reported:
   events/s of each and the ratio (target >= 5x), for *after* also the rate until the last event
   was integrated, and the merge delay (queued to integrated, from the rows) p50/p99/max (target
   p99 <= 1 s); then the *ceiling*: the same queue insert from plain psycopg connections (no pool,
   no ORM session, no leaf check) with the same sequencer, the design's rate without the request's
   own per-transaction cost. Every run starts from the same state (``quiesce``: the ledger's
   tables vacuumed and analyzed, then a CHECKPOINT), so one run's WAL and dead rows do not land
   in the next. ``--rounds N`` runs the three in turn N times and prints the median ratio. The
   proofs of part 2 are then measured again (p99 unchanged, <= 5 ms).
   ``--concurrent-only`` skips parts 1-3's SQLite run and the sweep (PostgreSQL must then
   already hold a ledger, or ``--events`` leaves are built first).

``uptime`` is printed first and last: the figures mean little without knowing what else ran.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam  # noqa: E402

from api.dbtools import upgrade  # noqa: E402
from core.db import Database  # noqa: E402
from custody import proofs  # noqa: E402
from custody.append import (  # noqa: E402
    commit_custody_event,
    integrate_in_writers,
    new_event_id,
    queue_events,
    record_custody_event,
    record_custody_events,
)
from custody.models import QueuedCustodyEvent  # noqa: E402
from custody.sequencer import Sequencer, integrate_pending  # noqa: E402
from custody.ledger import merkle  # noqa: E402
from custody.sweep import hash_blob  # noqa: E402
from evidence.storage.filesystem import FilesystemBlobStore  # noqa: E402

SHA = "5e" * 32
BATCH = 10_000


def load() -> str:
    try:
        return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def event_fields(number: int) -> dict:
    return {"type": "viewed", "evidence_id": f"item-{number % 5000}", "actor_id": "bench", "sha256": SHA,
            "case_id": "case-bench"}


def build(db: Database, count: int, label: str) -> float:
    """The first `count` leaves through the batch path; returns events/s."""
    start = time.perf_counter()
    report_every = max(BATCH, (count // 10) // BATCH * BATCH)
    for first in range(0, count, BATCH):
        with db.transaction() as session:
            record_custody_events(session, [event_fields(n) for n in range(first, min(count, first + BATCH))])
        done = min(count, first + BATCH)
        if done % report_every == 0 or done == count:
            rate = done / (time.perf_counter() - start)
            print(f"  {label}: {done:>9} leaves built  {rate:8.0f} events/s", flush=True)
    return count / (time.perf_counter() - start) if count else 0.0


def settle(db: Database) -> None:
    """Let the bulk load land before timing: a running ledger is not one that just wrote a gigabyte.

    Without this the first appends' WAL checkpoints wait on the kernel writing back the whole
    freshly built database (and PostgreSQL plans with statistics of an empty table), which
    measures the bulk load, not the append path or the proofs.
    """
    began = time.perf_counter()
    if db.dialect == "sqlite":  # outside any transaction: the driver connection is in autocommit
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    else:  # what autovacuum and the checkpointer would have done by the time a log is this big
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE custody_events, ledger_nodes, ledger_head")
            if _superuser(connection):
                connection.exec_driver_sql("CHECKPOINT")
            connection.commit()
    os.sync()
    print(f"  settled the bulk load (checkpoint and sync) in {time.perf_counter() - began:.1f} s", flush=True)


def quiesce(db: Database) -> None:
    """Start each concurrent run from the same state: the last run's dead queue rows vacuumed, its
    new rows analyzed, and its WAL checkpointed (superuser only).

    Without this a run inherits the one before it: a round writes ~170 MB of WAL (~2 KB an
    event), so a checkpoint forced by max_wal_size, or an autovacuum of the 10^6-row tables, fell
    inside one run or another, before or after alike. A run still pays for what it does itself: the
    full-page writes after the checkpoint, its own queue's vacuum. (The host's own noise remains:
    rounds of the same code still spread by a quarter.)
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) custody_queue, custody_events, ledger_nodes, ledger_head")
        if _superuser(connection):
            connection.exec_driver_sql("CHECKPOINT")
    os.sync()


def _superuser(connection) -> bool:
    return connection.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()


def bench_appends(db: Database, first: int, count: int) -> tuple[float, list[float]]:
    """`count` appends, one transaction each; returns the overall rate and five slice rates."""
    slices = 5 if count >= 5 else 1
    bounds = [first + count * part // slices for part in range(slices + 1)]
    rates = []
    began = time.perf_counter()
    for low, high in zip(bounds, bounds[1:]):
        slice_began = time.perf_counter()
        for number in range(low, high):
            with db.transaction() as session:
                record_custody_event(session, **event_fields(number))
        rates.append((high - low) / (time.perf_counter() - slice_began))
    return count / (time.perf_counter() - began), rates


def bench_proofs(db: Database, size: int, samples: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(7)
    with db.transaction() as session:
        root = proofs.stored_root(session, size)
    results = {}
    for name, make in (
        ("inclusion", lambda s: proofs.inclusion_proof(s, rng.randrange(size), size)),
        ("consistency", lambda s: proofs.consistency_proof(s, rng.randrange(1, size + 1), size)),
    ):
        timings = []
        made = []
        for _ in range(samples):
            began = time.perf_counter()
            with db.readers() as session:  # the API's read-only pool: no BEGIN, no COMMIT
                made.append(make(session))
            timings.append((time.perf_counter() - began) * 1000)
        # the proofs are real: a sample of them must verify against the stored root
        for proof in made[:: max(1, samples // 50)]:
            if name == "inclusion":
                merkle.verify_inclusion(proof.index, size, bytes.fromhex(proof.leaf_hash),
                                        [bytes.fromhex(h) for h in proof.audit_path], root)
        results[name] = (statistics.median(timings), percentile(timings, 0.99))
    return results


def bench_tiles(db: Database, size: int, samples: int) -> dict[str, tuple[float, float]]:
    """Tiles as the API reads them (on the read-only pool, one read each): random full level-0 and
    level-1 tiles and full entry bundles, p50 and p99; each kind's sample checked against the
    stored root."""
    from custody import tiles as stored_tiles
    from custody.ledger.tiles import Tile, TileReader

    rng = random.Random(11)
    results = {}
    kinds = [("level-0 tile", 0), ("level-1 tile", 1), ("entry bundle", None)]
    for name, level in kinds:
        count = (size >> (8 * (level or 0))) // 256
        if not count:
            continue
        timings = []
        for _ in range(samples):
            tile = Tile(level, rng.randrange(count))
            began = time.perf_counter()
            with db.readers() as session:  # the API's read-only pool, as the tile endpoint reads
                stored_tiles.read_tile(session, tile, size)
            timings.append((time.perf_counter() - began) * 1000)
        results[name] = (statistics.median(timings), percentile(timings, 0.99))
    with db.transaction() as session:  # the tiles are real: they give the stored root
        if TileReader(lambda t: stored_tiles.read_tile(session, t, size), size).root() != \
                proofs.stored_root(session, size):
            raise SystemExit("tiles do not give the stored root")
    return results


def raw_file_sha256(path: Path) -> str:
    """The baseline: what anyone would write to hash a file with hashlib (1 MiB reads, no tricks)."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def bench_sweep(blob_count: int, blob_mib: int, rounds: int = 5) -> dict[str, float]:
    """MB/s of: the sweep's `hash_blob`, raw hashlib over the same files, hashlib over bytes in memory.

    Both file readers read the very same files in the same run, in alternating rounds (which
    side goes first alternates too) with the page cache warmed once before: neither pays for a
    cold cache the other does not. The best round of each is compared. In-memory hashing (no
    reads at all) is the ceiling, reported for information.
    """
    with tempfile.TemporaryDirectory() as directory:
        store = FilesystemBlobStore(Path(directory) / "blobs")
        hashes, paths, total = [], [], 0
        for _ in range(blob_count):
            content = os.urandom(blob_mib << 20)
            sha = hashlib.sha256(content).hexdigest()
            store.put_file(io.BytesIO(content), sha, len(content))
            hashes.append(sha)
            paths.append(Path(directory) / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha)
            total += len(content)
        memory = os.urandom(blob_mib << 20)
        for path, sha in zip(paths, hashes):  # warm the cache for both, and check the paths
            assert raw_file_sha256(path) == sha

        def sweep() -> None:
            for sha in hashes:
                assert hash_blob(store, sha)[0] == sha

        def raw() -> None:
            for path, sha in zip(paths, hashes):
                assert raw_file_sha256(path) == sha

        def in_memory() -> None:
            for _ in hashes:
                hashlib.sha256(memory).hexdigest()

        best = {"sweep": float("inf"), "raw": float("inf"), "memory": float("inf")}
        for round_number in range(rounds):
            order = [("sweep", sweep), ("raw", raw)]
            for name, run in (order if round_number % 2 == 0 else order[::-1]) + [("memory", in_memory)]:
                began = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - began)
        return {name: total / seconds / 1e6 for name, seconds in best.items()}


def _writer(url: str, queued: bool, own: bool, first: int, threads: int, count: int, start, done) -> None:
    """One writer process, as an API node's worker is: `threads` request threads, each recording
    `count` events, one transaction each, as a request records them: in the request's ORM session
    (`record_custody_event`, what every request did before issue 21 and an upload still does), or,
    `own`, in a transaction of the event's own (`commit_custody_event`, what a read of bytes does)."""
    db = Database(url, pool_size=threads, max_overflow=0)
    if queued:
        queue_events(db.engine, lambda: None)  # the sequencer runs in the parent: its timer finds them
    connected, go = threading.Barrier(threads + 1), threading.Event()

    def requests(first_number: int) -> None:
        with db.transaction() as session:  # connect before the start line
            proofs.tree_size(session)
        connected.wait()
        go.wait()
        for number in range(first_number, first_number + count):
            if own:
                commit_custody_event(db.engine, **event_fields(number))
                continue
            with db.transaction() as session:
                record_custody_event(session, **event_fields(number))

    workers = [threading.Thread(target=requests, args=(first + n * count,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    connected.wait()
    start.wait()
    go.set()
    for worker in workers:
        worker.join()
    done.put(time.perf_counter())
    db.dispose()


QUEUED_NONE = {"subject_id": None, "details": None}  # the queue's columns `event_fields` leaves out


def _plain_writer(url: str, first: int, threads: int, count: int, start, done) -> None:
    """The ceiling: the same queue insert, one transaction each, from plain psycopg connections
    (no pool, no ORM session, no leaf check): what the queued design takes without the request's
    own per-transaction cost."""
    import psycopg
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    table = QueuedCustodyEvent.__table__
    compiled = table.insert().values({c.name: bindparam(c.name) for c in table.columns if c.name != "id"}) \
        .compile(dialect=PGDialect_psycopg())
    connections = [psycopg.connect(url.replace("postgresql+psycopg", "postgresql", 1)) for _ in range(threads)]

    def requests(connection, first_number: int) -> None:
        with connection.cursor() as cursor:
            for number in range(first_number, first_number + count):
                now = datetime.now(UTC)
                cursor.execute(str(compiled), {**QUEUED_NONE, **event_fields(number), "at": now, "queued_at": now,
                                               "event_id": new_event_id()})
                connection.commit()

    workers = [threading.Thread(target=requests, args=(connection, first + n * count))
               for n, connection in enumerate(connections)]
    start.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.put(time.perf_counter())
    for connection in connections:
        connection.close()


def _prioritise(db: Database, nice: int) -> None:
    """The sequencer's thread and its database backends at `nice` (root only): on two shared cores
    64 writers and their backends otherwise leave one thread 1/130 of the CPU, which is not what a
    sequencer beside API nodes on other machines gets."""
    from sqlalchemy import event

    os.setpriority(os.PRIO_PROCESS, 0, nice)

    @event.listens_for(db.engine, "connect")
    def _backend(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        os.setpriority(os.PRIO_PROCESS, cursor.fetchone()[0], nice)
        cursor.close()


def bench_concurrent(db: Database, url: str, writers: int, per_writer: int, queued: bool,
                     merge_delay_ms: int, sequencer_nice: int = 0, processes: int = 4,
                     plain: bool = False, own: bool = False) -> dict[str, float]:
    """`writers` request threads spread over `processes` writer processes, recording `per_writer`
    events each, all at once; events/s from the start line to the last writer's last commit (and,
    queued, to the last event integrated). `plain`: the writers are `_plain_writer`s (queued);
    `own`: each event in a transaction of its own (`_writer`)."""
    context = multiprocessing.get_context("fork")
    processes = max(1, min(processes, writers))
    if writers % processes:
        raise SystemExit(f"--writers {writers} does not divide into {processes} writer processes")
    threads = writers // processes
    start, done = context.Barrier(processes + 1), context.Queue()
    quiesce(db)
    with db.transaction() as session:
        size_before = proofs.tree_size(session)
    writer_processes = [context.Process(target=_plain_writer, args=(url, size_before + n * threads * per_writer,
                                                                    threads, per_writer, start, done))
                        if plain else
                        context.Process(target=_writer, args=(url, queued, own, size_before + n * threads * per_writer,
                                                              threads, per_writer, start, done))
                        for n in range(processes)]
    for process in writer_processes:
        process.start()
    sequencer = sequencer_db = None
    if queued:  # after the fork: the writers do not inherit the sequencer's priority
        sequencer_db = Database(url, pool_size=3, max_overflow=0)
        if sequencer_nice:
            _prioritise(sequencer_db, sequencer_nice)
        sequencer = Sequencer(sequencer_db, merge_delay_ms)
        sequencer.start()
    start.wait()
    began = time.perf_counter()
    finished = max(done.get() for _ in writer_processes)
    for process in writer_processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a writer failed (exit code {process.exitcode})")
    total = writers * per_writer
    result = {"events": total, "writers_rate": total / (finished - began)}
    if sequencer is not None:
        if not sequencer.wait_until_idle(600):
            raise SystemExit("the sequencer did not integrate everything within 10 minutes")
        result["integrated_rate"] = total / (time.perf_counter() - began)
        sequencer.stop()
        sequencer_db.dispose()
        if sequencer_nice:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        with db.engine.connect() as connection:
            delays = [row[0] * 1000 for row in connection.exec_driver_sql(
                "SELECT EXTRACT(EPOCH FROM integrated_at - queued_at)::float8 FROM custody_events "
                "WHERE ledger_index >= %s", (size_before,))]
        result.update(delay_p50=percentile(delays, 0.5), delay_p99=percentile(delays, 0.99), delay_max=max(delays),
                      measured=len(delays))
    with db.transaction() as session:
        if proofs.tree_size(session) != size_before + total:
            raise SystemExit("the ledger did not grow by every event recorded")
    return result


def run_concurrent(url: str, events: int, writers: int, per_writer: int, merge_delay_ms: int, samples: int,
                   sequencer_nice: int = 0, processes: int = 4, rounds: int = 1, every_path: bool = False) -> None:
    label = "PostgreSQL"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        size = proofs.tree_size(session)
    if size < events:
        print(f"{label}: building {events - size} leaves with the batch path first")
        build_from(db, size, events, label)
        settle(db)
    integrate_in_writers(db.engine)
    integrate_pending(db)  # whatever an earlier run left queued, so each run counts only its own
    print(f"{label}: {writers} writers ({processes} processes x {writers // max(1, processes)} request threads) x "
          f"{per_writer} events, one transaction each, "
          f"on a ledger of {max(size, events)} leaves")
    ratios, ceilings = [], []
    for number in range(1, rounds + 1):  # before and after in turn: a burst of load lands on one round, not one side
        tag = f"{label}: round {number}/{rounds}:" if rounds > 1 else f"{label}:"
        before = bench_concurrent(db, url, writers, per_writer, False, merge_delay_ms, processes=processes)
        print(f"{tag} before (each request integrates its event under the head lock): "
              f"{before['writers_rate']:.0f} events/s", flush=True)
        after = bench_concurrent(db, url, writers, per_writer, True, merge_delay_ms, sequencer_nice, processes,
                                 own=True)
        print(f"{tag} after (each event queued in a transaction of its own, as a read of bytes records it; "
              f"one sequencer at nice {sequencer_nice} integrates in batches): "
              f"{after['writers_rate']:.0f} "
              f"events/s recorded, {after['integrated_rate']:.0f} events/s until the last was integrated; "
              f"ratio {after['writers_rate'] / before['writers_rate']:.1f}x recorded, "
              f"{after['integrated_rate'] / before['writers_rate']:.1f}x integrated (target >= 5x)")
        print(f"{tag} merge delay (queued to integrated) p50 {after['delay_p50']:.0f} ms, "
              f"p99 {after['delay_p99']:.0f} ms, max {after['delay_max']:.0f} ms over {after['measured']} events; "
              f"promised {merge_delay_ms} ms (target p99 <= 1,000 ms)", flush=True)
        plain = bench_concurrent(db, url, writers, per_writer, True, merge_delay_ms, sequencer_nice, processes,
                                 plain=True)
        print(f"{tag} ceiling (the same queue insert from plain psycopg connections, no ORM session or pool, "
              f"same sequencer): {plain['writers_rate']:.0f} events/s recorded, "
              f"{plain['writers_rate'] / before['writers_rate']:.1f}x before; merge delay p99 "
              f"{plain['delay_p99']:.0f} ms", flush=True)
        ratios.append(after["writers_rate"] / before["writers_rate"])
        ceilings.append(plain["writers_rate"] / before["writers_rate"])
        if every_path:  # the two other pairings, for information: which part of the ratio is whose
            in_session = bench_concurrent(db, url, writers, per_writer, True, merge_delay_ms, sequencer_nice,
                                          processes)
            print(f"{tag} queued in the request's ORM session (as an upload's events are): "
                  f"{in_session['writers_rate']:.0f} events/s, "
                  f"{in_session['writers_rate'] / before['writers_rate']:.1f}x before; merge delay p99 "
                  f"{in_session['delay_p99']:.0f} ms", flush=True)
            locked_own = bench_concurrent(db, url, writers, per_writer, False, merge_delay_ms, processes=processes,
                                          own=True)
            print(f"{tag} the head lock with each event in a transaction of its own (never run by a request): "
                  f"{locked_own['writers_rate']:.0f} events/s, "
                  f"{after['writers_rate'] / locked_own['writers_rate']:.1f}x of it after", flush=True)
    if rounds > 1:
        print(f"{label}: ratio after/before over {rounds} rounds: median {statistics.median(ratios):.1f}x "
              f"({', '.join(f'{r:.1f}' for r in ratios)}); ceiling median {statistics.median(ceilings):.1f}x")
    quiesce(db)  # proofs from a settled ledger, as in part 2: not beside the last run's autovacuum
    with db.transaction() as session:
        size = proofs.tree_size(session)
    for name, (p50, p99) in bench_proofs(db, size, samples).items():
        print(f"{label}: {name} proof at {size} leaves after the concurrent runs: p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms over {samples} proofs (target p99 <= 5 ms)")
    db.dispose()


def build_from(db: Database, first: int, count: int, label: str) -> None:
    start = time.perf_counter()
    for low in range(first, count, BATCH):
        with db.transaction() as session:
            record_custody_events(session, [event_fields(n) for n in range(low, min(count, low + BATCH))])
        if (low - first) // BATCH % 10 == 0:
            print(f"  {label}: {min(count, low + BATCH):>9} leaves built  "
                  f"{(min(count, low + BATCH) - first) / (time.perf_counter() - start):8.0f} events/s", flush=True)


def run_database(label: str, url: str, events: int, appends: int, samples: int) -> None:
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        if proofs.tree_size(session):
            raise SystemExit(f"{label}: the database already holds a ledger; give an empty one")
    built = max(0, events - appends)
    print(f"{label}: building {built} leaves with the batch path, {BATCH} per transaction")
    batch_rate = build(db, built, label)
    print(f"{label}: batch path {batch_rate:.0f} events/s (for information)")
    settle(db)
    print(f"{label}: appending {events - built} events on top, one transaction each")
    rate, slices = bench_appends(db, built, events - built)
    print(f"{label}: per-event appends at {built}..{events} leaves: {rate:.0f} events/s overall, "
          f"median of 5 slices {statistics.median(slices):.0f} events/s "
          f"(slices {', '.join(f'{s:.0f}' for s in slices)}; target >= 2,000/s on SQLite)")
    proof_times = bench_proofs(db, events, samples)
    for name, (p50, p99) in proof_times.items():
        print(f"{label}: {name} proof at {events} leaves: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"over {samples} proofs (target p99 <= 5 ms)")
    for name, (p50, p99) in bench_tiles(db, events, samples).items():
        print(f"{label}: {name} at {events} leaves: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {samples}; "
              f"p99 ratio to an inclusion proof's {p99 / proof_times['inclusion'][1]:.2f}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="leaves in the ledger")
    parser.add_argument("--appends", type=int, default=20_000,
                        help="of which appended one per transaction, at the end (the per-event rate)")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs sampled per kind")
    parser.add_argument("--database-url", help="also run on this (empty) PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite (with --database-url)")
    parser.add_argument("--blobs", type=int, default=16, help="blobs for the sweep")
    parser.add_argument("--blob-mib", type=int, default=8)
    parser.add_argument("--sweep-only", action="store_true", help="only the verification re-hash")
    parser.add_argument("--writers", type=int, default=64, help="concurrent writers: request threads (PostgreSQL)")
    parser.add_argument("--writer-processes", type=int, default=4,
                        help="processes the writers' threads are spread over, as gunicorn workers with threads are "
                             "(default 4 x 16 threads, the ingest pool's; 16: the API pool's 4 threads each; "
                             "64: one process per writer)")
    parser.add_argument("--per-writer", type=int, default=200, help="events each writer records")
    parser.add_argument("--merge-delay-ms", type=int, default=1000, help="the sequencer's promised merge delay")
    parser.add_argument("--sequencer-nice", type=int, default=-5 if os.geteuid() == 0 else 0,
                        help="the sequencer's priority and its backends' (root: default -5; 0 to share the CPU "
                             "equally with the 64 writers)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="concurrent rounds (before, after and the ceiling in turn; the median ratio is printed)")
    parser.add_argument("--every-path", action="store_true",
                        help="each round also runs, for information, events queued in the request's ORM session "
                             "and the head lock with each event in a transaction of its own")
    parser.add_argument("--concurrent-only", action="store_true",
                        help="only the concurrent writers on PostgreSQL (built to --events leaves if smaller)")
    args = parser.parse_args()
    appends = min(args.appends, args.events)
    if args.concurrent_only:
        if not args.database_url:
            raise SystemExit("--concurrent-only needs --database-url")
        print(load())
        run_concurrent(args.database_url, args.events, args.writers, args.per_writer, args.merge_delay_ms,
                       args.proofs, args.sequencer_nice, args.writer_processes, args.rounds, args.every_path)
        print(load())
        return

    print(load())
    if not args.no_sqlite and not args.sweep_only:
        with tempfile.TemporaryDirectory() as directory:
            run_database("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", args.events, appends, args.proofs)
    if args.database_url and not args.sweep_only:
        run_database("PostgreSQL", args.database_url, args.events, appends, args.proofs)
        print(load())
        run_concurrent(args.database_url, args.events, args.writers, args.per_writer, args.merge_delay_ms,
                       args.proofs, args.sequencer_nice, args.writer_processes, args.rounds, args.every_path)

    print(load())
    rates = bench_sweep(args.blobs, args.blob_mib)
    print(f"sweep: verification re-hash {rates['sweep']:.0f} MB/s, raw hashlib over the same files "
          f"{rates['raw']:.0f} MB/s: ratio {rates['sweep'] / rates['raw']:.2f} (target >= 0.8); "
          f"hashlib over bytes in memory {rates['memory']:.0f} MB/s (ceiling, no reads): "
          f"ratio {rates['sweep'] / rates['memory']:.2f}")
    print(load())


if __name__ == "__main__":
    main()
