"""The sequencer: integrates queued custody events into the ledger in batches, one node at a time.

Any API or worker process runs one (`Sequencer`, a thread); the database elects which of them
works: on PostgreSQL the holder of a session advisory lock, kept on a connection of its own, so
a process that dies (or loses that connection) releases it and the next one polling takes over.
Correctness does not rest on the election: every batch (`custody.append.integrate_queued`)
takes the head row's lock and reads the queue under it, so two batches never integrate the same
event, and a batch killed half-way rolls back whole. The election only keeps the nodes from
queueing behind each other's head lock.

A process can be a standby (`FIELDPROOF_LEDGER_STANDBY`: API nodes, whose cores the requests
use): it stands for the election only when the oldest queued event has waited `STANDBY_AFTER` of
the merge delay (as when no worker sequences) or someone waits for integration, and lets
the election go once it has integrated what was late. The routine work then falls to the worker
nodes' sequencers, and without any the promise still holds.

The sequencer is woken by the commit of a transaction that queued events (in this process),
and by a timer a quarter of the merge delay long (events queued by other processes), so an
event waits at most the promised merge delay plus one batch. Batches begin at most every
`BATCH_EVERY_MS` (a tenth of a shorter merge delay): what commits queue in between joins the
next batch, so a batch's own cost (its transaction, the head and frontier reads, its WAL flush:
about 1.5 ms of Python and 1 ms of the database) is shared by a few hundred events at a bank's
morning rate instead of a handful. The delays it measures (queued to integrated) are kept for
/readyz and the bench.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from core.clock import utcnow
from custody.append import (
    QUEUE_BATCH,
    integrate_in_writers,
    integrate_queued,
    oldest_queued_at,
    queue_events,
    queue_state,
)

log = logging.getLogger(__name__)

# pg_try_advisory_lock's key: "FPLEDGER" read as a big-endian 64-bit integer (shared with nothing else)
ELECTION_KEY = int.from_bytes(b"FPLEDGER", "big")
_MEASURED = 10_000  # merge delays kept for the percentiles
BATCH_EVERY_MS = 100  # the shortest time from one batch's start to the next's (unless a batch is full)
STANDBY_AFTER = 0.25  # a standby stands for the election once the oldest event has waited this share of the delay


def integrate_pending(db, limit: int = QUEUE_BATCH) -> list[dict]:
    """Integrate everything queued now, batch after batch, each in its own transaction; returns
    the rows integrated. What tests, packet builds and verification runs call to wait for
    integration: any process may, the head lock orders the batches."""
    integrated: list[dict] = []
    while True:
        with db.transaction() as session:
            rows = integrate_queued(session, limit)
        integrated.extend(rows)
        if len(rows) < limit:
            return integrated


@dataclass(frozen=True)
class MergeDelay:
    """What /readyz shows: the promise, what was measured, and what waits now."""

    promised_ms: int
    measured: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    pending: int
    oldest_pending_ms: float | None
    leader: bool
    standby: bool


def percentile(samples: list[float], fraction: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Sequencer:
    """The in-process sequencer thread of one engine; `start` makes that engine queue events."""

    def __init__(self, db, merge_delay_ms: int, *, ready=lambda: True, batch: int = QUEUE_BATCH,
                 every_ms: int = BATCH_EVERY_MS, standby: bool = False):
        self.db = db
        self.merge_delay_ms = merge_delay_ms
        self.standby = standby
        self.poll_s = max(0.01, merge_delay_ms / 4000)
        self.every_s = min(every_ms, merge_delay_ms / 10) / 1000
        self.batch = batch
        self._ready = ready
        self._ready_seen = False
        self._wakeup = threading.Event()
        self._hurry = threading.Event()  # someone waits for integration (or the sequencer stops): no pause
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock_connection = None
        self._delays: deque[float] = deque(maxlen=_MEASURED)
        self._batches = threading.Condition()
        self.integrated = 0
        self._drained = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        queue_events(self.db.engine, self.wake)
        self._start_thread()

    def _start_thread(self) -> None:
        self._pid = os.getpid()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()

    def wake(self, *, now: bool = False) -> None:
        """A transaction that queued events committed (or, `now`, someone waits for integration:
        no pause since the last batch). In a forked child (gunicorn) the parent's thread is gone:
        the first wake-up starts this process's own."""
        if self._pid != os.getpid() and not self._stopping.is_set():
            self._lock_connection = None  # the parent's connection is not ours to use
            self._start_thread()
        if now:
            self._hurry.set()
        self._wakeup.set()

    def stop(self, integrate_in_writers_after: bool = True) -> None:
        self._stopping.set()
        self._hurry.set()
        self._wakeup.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(30)
        self._release()
        if integrate_in_writers_after:
            integrate_in_writers(self.db.engine)

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        busy, began = False, None
        while not self._stopping.is_set():
            if not busy:  # after a batch that found events, look again without waiting for a wake-up
                self._wakeup.wait(self.poll_s)
            if began is not None:  # but not sooner than `every_s` after the last batch began
                self._hurry.wait(began + self.every_s - time.monotonic())
            hurried = self._hurry.is_set()
            self._wakeup.clear()
            self._hurry.clear()
            if self._stopping.is_set():
                break
            busy, began = False, time.monotonic()
            try:
                busy = self.step(hurried=hurried) > 0
            except Exception:  # noqa: BLE001 - a lost connection or a stopped database: retried next tick
                log.exception("ledger sequencer batch failed; retrying")
                self._release()
                self._stopping.wait(self.poll_s)

    def step(self, *, hurried: bool = False) -> int:
        """One turn of the loop: if this process sequences now, integrate what is queued; returns
        how many events were integrated. A standby sequences only when an event is late or someone
        waits (`hurried`), and then lets the election go."""
        if not self.ready():
            return 0
        if self.standby and not hurried and not self._late():
            return 0
        if not self._elected():
            return 0
        try:
            return self._drain()
        finally:
            if self.standby:
                self._release()

    def _late(self) -> bool:
        """Whether the oldest queued event has waited `STANDBY_AFTER` of the merge delay."""
        with self.db.readers() as session:
            oldest = oldest_queued_at(session)
        return oldest is not None and \
            (utcnow() - oldest).total_seconds() * 1000 >= self.merge_delay_ms * STANDBY_AFTER

    def _drain(self) -> int:
        """Batches until one finds fewer than a batch's worth queued; returns how many were integrated."""
        integrated = 0
        while not self._stopping.is_set():
            with self.db.transaction() as session:
                rows = integrate_queued(session, self.batch)
            for row in rows:
                self._delays.append((row["integrated_at"] - row["queued_at"]).total_seconds() * 1000)
            with self._batches:
                self.integrated += len(rows)
                self._drained = len(rows) < self.batch
                self._batches.notify_all()
            integrated += len(rows)
            if len(rows) < self.batch:
                return integrated
        return integrated

    def wait_until_idle(self, timeout: float, *, wake: bool = True) -> bool:
        """Block until the queue is empty (True), or `timeout` seconds passed (False): how tests and
        tools wait for integration without sleeping. This sequencer's batches end the wait at once;
        another process's (the elected one, when this one is not) are seen at the next look, one
        poll later. With `wake=False` it waits for what wakes the sequencer anyway (a commit, its timer)."""
        end = time.monotonic() + timeout
        while True:
            with self._batches:
                self._drained = False  # before looking: a batch that ends after the look sets it again
            with self.db.transaction() as session:
                if queue_state(session)[0] == 0:
                    return True
            if wake:
                self.wake(now=True)
            with self._batches:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._batches.wait_for(lambda: self._drained, min(left, self.poll_s))

    def ready(self) -> bool:
        """Whether the schema is current; asked until it once is (a migration only moves forward)."""
        self._ready_seen = self._ready_seen or bool(self._ready())
        return self._ready_seen

    # --- the election -----------------------------------------------------------------------

    def _elected(self) -> bool:
        """Whether this process sequences now: SQLite's write lock already lets one batch at a
        time run, so every process may; on PostgreSQL only the advisory lock's holder."""
        if self.db.dialect != "postgresql":
            return True
        if self._lock_connection is None:
            connection = self.db.engine.connect()
            try:
                won = connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (ELECTION_KEY,)).scalar()
                connection.commit()  # the lock is the session's, not the transaction's
            except Exception:
                connection.invalidate()
                connection.close()
                raise
            if not won:
                connection.close()
                return False
            self._lock_connection = connection
            log.info("ledger sequencer elected", extra={"pid": os.getpid()})
            return True
        # still ours only while the connection that holds it is alive
        self._lock_connection.exec_driver_sql("SELECT 1").scalar()
        self._lock_connection.commit()
        return True

    def _release(self) -> None:
        connection, self._lock_connection = self._lock_connection, None
        if connection is None:
            return
        try:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (ELECTION_KEY,))
            connection.commit()
            connection.close()
        except Exception:  # noqa: BLE001 - a dead connection released the lock with it
            connection.invalidate()

    @property
    def leader(self) -> bool:
        if self.db.dialect != "postgresql":  # no election: every running sequencer but a standby may
            return self._thread is not None and not self.standby
        return self._lock_connection is not None

    # --- what it measured -------------------------------------------------------------------

    def merge_delay(self, session, now: datetime | None = None) -> MergeDelay:
        delays = list(self._delays)
        count, oldest = queue_state(session)
        now = now or utcnow()
        return MergeDelay(
            promised_ms=self.merge_delay_ms, measured=len(delays), p50_ms=percentile(delays, 0.5),
            p99_ms=percentile(delays, 0.99), max_ms=max(delays) if delays else None, pending=count,
            oldest_pending_ms=(now - oldest).total_seconds() * 1000 if oldest is not None else None,
            leader=self.leader, standby=self.standby)
