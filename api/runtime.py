"""The wiring of one process, made once: by the app factory, by `fieldproof worker` before it forks
and by each worker process on its first job (api/worker.py, which imports this module; this module
never imports it: submitting to the queue needs only its configuration, `celery_app`)."""
from __future__ import annotations

import importlib

from core.crypto import FieldCipher
from core.db import Database
from core.jobs import ThreadRunner, job_function
from core.keys import load_content_credentials, load_signer
from core.runtime import Runtime
from core.settings import Settings
from evidence.storage.base import open_blob_store

# Modules whose import registers jobs (`@job(...)`); a worker imports them all at start.
JOB_MODULES = ("evidence.jobs", "custody.jobs", "legal_docs.jobs", "placements.jobs")


def load_job_modules() -> None:
    from api.schemas.cases import CaseSchema
    from placements.services import register_row_schema

    register_row_schema(CaseSchema())  # placement rows are validated by the API's own case schema
    for name in JOB_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise


def build_runtime(settings: Settings) -> Runtime:
    """Everything a process needs, made once: used by the app factory and by workers."""
    runtime = Runtime(settings=settings, db=Database(settings.database_url),
                      cipher=FieldCipher.from_secret(settings.secret_key))
    runtime.blobs = open_blob_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url,
                                    retention_days=settings.retention_days)
    load_job_modules()  # whichever runner: a job is found by its name
    if settings.jobs == "celery":
        runtime.jobs = CeleryRunner(settings)
    else:
        runtime.jobs = ThreadRunner(runtime)
    runtime.signer = load_signer(settings)
    runtime.credentials = load_content_credentials(settings)
    if settings.ledger_sequencer == "queued":
        start_sequencer(runtime)
    return runtime


def start_sequencer(runtime: Runtime) -> None:
    """Queue custody events and integrate them on this process's sequencer thread (which works
    only once the schema is current and this process is elected: custody/sequencer.py)."""
    from custody.sequencer import Sequencer

    from api.dbtools import schema_is_current

    sequencer = Sequencer(runtime.db, runtime.settings.ledger_merge_delay_ms,
                          ready=lambda: schema_is_current(runtime.db.engine), standby=runtime.settings.ledger_standby)
    runtime.extras["sequencer"] = sequencer
    sequencer.start()


def transport_options(settings: Settings) -> dict:
    """Redis transport: redeliver an unacknowledged message once the visibility timeout passes.

    kombu sweeps for such messages every `unacked_restore_interval` seconds but scans Redis only on
    every `unacked_restore_throttle`-th sweep (10 x 10 s by default), so a message of a killed
    worker would wait up to ~100 s beyond the timeout; the sweep is tied to the timeout instead.
    The timeout must exceed the longest job: Redis cannot tell a slow job from a dead worker.
    """
    timeout = settings.job_visibility_timeout_seconds
    return {"visibility_timeout": timeout, "unacked_restore_interval": max(1, min(10, timeout // 4)),
            "unacked_restore_throttle": 1}


def checkpoint_schedule(settings: Settings) -> dict:
    """The periodic signed tree head (the embedded default's `CheckpointScheduler`), for `celery beat`."""
    if not settings.checkpoint_interval_seconds:
        return {}
    return {"ledger-checkpoint": {"task": "fieldproof.run_job", "schedule": float(settings.checkpoint_interval_seconds),
                                  "args": ("ledger.issue_checkpoint", {})}}


def celery_app(settings: Settings):
    """The queue as both sides see it; sending needs no task registered (jobs go by name). Celery is
    imported here: the embedded topology never loads it."""
    from celery import Celery

    app = Celery("fieldproof", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="fieldproof",
        beat_schedule=checkpoint_schedule(settings),
    )
    return app


class CeleryRunner:
    """Submits jobs to the Celery queue; the API nodes run nothing themselves."""

    def __init__(self, settings: Settings):
        self.celery = celery_app(settings)

    def submit(self, name: str, payload: dict) -> None:
        job_function(name)
        self.celery.send_task("fieldproof.run_job", args=(name, dict(payload)))
