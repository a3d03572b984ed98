"""Celery: the job runner of the scale-out topology (`FIELDPROOF_JOBS=celery`).

One generic task runs any registered job by name, so the queue carries names and plain
payloads, never pickled functions. Late acknowledgement plus `reject_on_worker_lost` mean a
worker killed mid-job leaves its message to be redelivered (after the visibility timeout),
and jobs are written to be safe to run twice.
"""
from __future__ import annotations

import importlib
import threading

from celery import Celery

from core.jobs import run_job
from core.settings import Settings

# Modules whose import registers jobs (`@job(...)`); a worker imports them all at start.
JOB_MODULES = ("evidence.jobs", "evidence.verification", "evidence.ledger_service", "legal_docs.jobs")

_runtime = None
_runtime_lock = threading.Lock()


def load_job_modules() -> None:
    for name in JOB_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise


def make_celery(settings: Settings) -> Celery:
    app = Celery("fieldproof", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.job_visibility_timeout_seconds},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="fieldproof",
    )

    @app.task(name="fieldproof.run_job", bind=True, max_retries=5, default_retry_delay=5)
    def run_named_job(task, name: str, payload: dict) -> None:
        try:
            run_job(worker_runtime(settings), name, payload)
        except Exception as error:  # noqa: BLE001 - retried; the job records its own failure state
            raise task.retry(exc=error) from error

    return app


def worker_runtime(settings: Settings):
    """One runtime per worker process, made on first use (never at import)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            from api.app import build_runtime

            load_job_modules()
            _runtime = build_runtime(settings.with_overrides(jobs="thread"))
        return _runtime


class CeleryRunner:
    """Submits jobs to the Celery queue; the API nodes run nothing themselves."""

    def __init__(self, settings: Settings):
        self.celery = make_celery(settings)

    def submit(self, name: str, payload: dict) -> None:
        from core.jobs import job_function

        job_function(name)
        self.celery.send_task("fieldproof.run_job", args=(name, dict(payload)))
