"""Celery: the job runner of the scale-out topology (`FIELDPROOF_JOBS=celery`).

One generic task runs any registered job by name, so the queue carries names and plain
payloads, never pickled functions. Late acknowledgement plus `reject_on_worker_lost` mean a
worker killed mid-job leaves its message to be redelivered (after the visibility timeout),
and jobs are written to be safe to run twice; a per-job lock keeps two deliveries of one job
from running at the same time (`running_alone`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading

from celery import Celery
from celery.signals import worker_ready

from api.runtime import build_runtime, celery_app, load_job_modules
from core.jobs import run_job
from core.settings import Settings

log = logging.getLogger("fieldproof.worker")

_runtime = None
_runtime_lock = threading.Lock()


def make_celery(settings: Settings) -> Celery:
    """The Celery app of `celery_app` with the task that runs jobs (a worker's side of the queue)."""
    app = celery_app(settings)

    @app.task(name="fieldproof.run_job", bind=True, max_retries=5, default_retry_delay=5)
    def run_named_job(task, name: str, payload: dict) -> None:
        with running_alone(settings, name, payload) as alone:
            if not alone:
                # The broker handed this message out again while its first delivery still runs (a
                # job longer than the visibility timeout): come back later rather than run twice at
                # once. The running delivery acknowledges its own message; if its worker dies, the
                # lock expires and this copy does the job.
                raise task.retry(countdown=max(1, settings.job_visibility_timeout_seconds // 2),
                                 max_retries=LOCKED_RETRIES)
            try:
                run_job(worker_runtime(settings), name, payload)
            except Exception as error:  # noqa: BLE001 - retried; the job records its own failure state
                raise task.retry(exc=error) from error

    return app


LOCKED_RETRIES = 1000


@contextlib.contextmanager
def running_alone(settings: Settings, name: str, payload: dict):
    """Yield True while this process holds the job's lock, False when another delivery holds it.

    Jobs are safe to run twice, not twice at the same time (two packet builds would share a work
    directory). With a Redis broker a message comes back after the visibility timeout whether its
    worker died or is merely slow, so a running job holds a Redis lock, refreshed well within the
    timeout; a killed worker stops refreshing and its lock expires. Other brokers redeliver only
    when the consumer's connection is gone, and need no lock.
    """
    if not (settings.broker_url or "").startswith(("redis://", "rediss://", "unix://")):
        yield True
        return
    import redis

    ttl = max(1, settings.job_visibility_timeout_seconds)
    key = "fieldproof:job-lock:" + hashlib.sha256(
        json.dumps([name, payload], sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    token = secrets.token_hex(16)
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=10)
    if not client.set(key, token, nx=True, ex=ttl):
        client.close()
        yield False
        return
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(max(0.5, ttl / 3)):
            try:
                client.eval(_REFRESH, 1, key, token, ttl)
            except redis.RedisError:
                log.warning("could not refresh a job lock", extra={"job": name})

    refresher = threading.Thread(target=refresh, name="fieldproof-job-lock", daemon=True)
    refresher.start()
    try:
        yield True
    finally:
        stop.set()
        refresher.join(timeout=5)
        try:
            client.eval(_RELEASE, 1, key, token)
        except redis.RedisError:
            log.warning("could not release a job lock (it expires)", extra={"job": name})
        client.close()


# Only the holder (its random token) may extend or release a lock.
_REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def worker_runtime(settings: Settings):
    """One runtime per worker process, made on first use (never at import)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            load_job_modules()
            _runtime = build_runtime(settings.with_overrides(jobs="thread"))
        return _runtime


def resume_verifications_on_start(sender=None, **_kwargs) -> None:
    """`worker_ready`: re-submit verifications lost with a dead process, as the embedded scheduler
    does at start.

    A run's own message survives a killed worker (late acknowledgement), but only comes back after
    the visibility timeout, and a run whose message is gone (a submit that failed after its row
    committed) has nothing to come back. So a worker that starts submits `verification.resume`
    twice: now, and once a lease that was fresh now can have lapsed. Both go through the broker
    (this runs in the worker's parent process, which holds no runtime and no database
    connections); a pool process runs them like any job. Queued runs get the job's own grace (their
    messages are in the broker), and resuming a run that is in fact alive does nothing.
    `celery beat`'s checkpoint tick re-submits again on every interval.
    """
    app = getattr(sender, "app", None)
    if app is None or app.main != "fieldproof":
        return
    from custody.jobs import STALE_AFTER_SECONDS

    for countdown in (None, STALE_AFTER_SECONDS + 1):
        try:
            app.send_task("fieldproof.run_job", args=("verification.resume", {}), countdown=countdown)
        except Exception:  # noqa: BLE001 - the beat's next checkpoint tick re-submits too
            log.exception("could not submit verification.resume at worker start")


worker_ready.connect(resume_verifications_on_start, weak=False, dispatch_uid="fieldproof.resume_verifications")
