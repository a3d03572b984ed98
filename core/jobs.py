"""Background jobs through one interface, with an in-process runner for the embedded default.

A job is a registered function `fn(runtime, **payload)`. Jobs record their own progress and
outcome in the database, and must be safe to run twice (a retried job finds its work done).
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("fieldproof.jobs")

JobFunction = Callable[..., None]
_REGISTRY: dict[str, JobFunction] = {}


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register a job function under a stable name (the name travels in queues, not the function)."""

    def register(fn: JobFunction) -> JobFunction:
        if _REGISTRY.get(name, fn) is not fn:
            raise ValueError(f"job {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def job_function(name: str) -> JobFunction:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupError(f"no job named {name!r}") from None


def run_job(runtime: Any, name: str, payload: dict) -> None:
    job_function(name)(runtime, **payload)


class JobRunner(Protocol):
    def submit(self, name: str, payload: dict) -> None: ...


def submit_after_commit(session: Session, jobs: JobRunner, name: str, payload: dict) -> None:
    """A job must never start before the row it works on is visible to other connections."""
    event.listen(session, "after_commit", lambda _session: jobs.submit(name, payload), once=True)


class ThreadRunner:
    """One daemon thread working a queue; the embedded default. Lost on a crash, which is why
    jobs keep their state in the database and `resume` re-submits unfinished ones at start."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self._queue: queue.Queue[tuple[str, dict] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, name: str, payload: dict) -> None:
        job_function(name)  # refuse unknown names at submit time, not in the worker
        self._ensure_started()
        self._queue.put((name, dict(payload)))

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="fieldproof-jobs", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                name, payload = item
                try:
                    run_job(self.runtime, name, payload)
                except Exception:  # noqa: BLE001 - a failed job must not kill the worker
                    log.exception("job failed", extra={"job": name})
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job has finished (tests use this instead of sleeping)."""
        finished = threading.Event()

        def waiter():
            self._queue.join()
            finished.set()

        threading.Thread(target=waiter, daemon=True).start()
        return finished.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)
