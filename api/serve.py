"""`fieldproof run`: the embedded default served by gunicorn, the same server as production.

One worker process with threads: the in-process job runner and the checkpoint timer live in the
process that made the app, and SQLite takes one writer at a time anyway. The app is made in the
worker after the fork (never in the master, `preload_app` stays off), so the runner's thread and
the timer start there and die with it; on a clean stop the worker finishes the job in hand
(`worker_exit`), and jobs left over are resumed at the next start (core/jobs.py).

gunicorn's own lines (start, listening, worker boots and exits) go through FieldProof's log
formatter: plain text on a terminal, JSON in production or with `FIELDPROOF_LOG_FORMAT=json`.
Its access log stays off: the app writes its own, scrubbed and with the request id
(api/observability.py).
"""
from __future__ import annotations

import logging
import os

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from api import observability
from core.settings import log_format_from_env

DEFAULT_THREADS = 8


class FieldProofGunicornLogger(Logger):
    """gunicorn's error and access logs, formatted like every other FieldProof line.

    The format comes from the environment as `Settings` reads it: the master logs before any app
    (and its settings) exists. deploy/gunicorn.conf.py names this class for production too."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = observability.log_formatter(log_format_from_env(os.environ))
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)
                handler.addFilter(observability.RequestIdFilter())


def _stop_background_work(_server, worker) -> None:
    """Stop the checkpoint timer and let the job in hand finish before the worker goes."""
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("fieldproof") if app is not None else None
    if runtime is None:
        return
    scheduler = runtime.extras.get("checkpoints")
    if scheduler is not None:
        scheduler.stop()
    stop = getattr(runtime.jobs, "stop", None)
    if stop is not None:
        stop()


def _warm_up(worker) -> None:
    from api.warmup import warm_up

    warm_up(worker.wsgi, worker.cfg.threads)


class EmbeddedServer(BaseApplication):
    """gunicorn through its public API: options in code, the app made by `create_app` in the worker."""

    def __init__(self, *, host: str, port: int, threads: int = DEFAULT_THREADS, reload: bool = False,
                 log_level: str = "info"):
        self.options = {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 120,          # large evidence uploads on slow links
            "graceful_timeout": 30,
            "keepalive": 5,
            "preload_app": False,
            "reload": reload,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": log_level.lower(),
            "logger_class": FieldProofGunicornLogger,
            "control_socket_disable": True,
            "post_worker_init": _warm_up,
            "worker_exit": _stop_background_work,
            "proc_name": "fieldproof",
        }
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from api.app import create_app

        return create_app()


def serve(host: str, port: int, *, threads: int = DEFAULT_THREADS, reload: bool = False) -> None:
    level = (os.environ.get("FIELDPROOF_LOG_LEVEL") or "INFO").upper()
    if not isinstance(logging.getLevelName(level), int):
        level = "INFO"
    EmbeddedServer(host=host, port=port, threads=threads, reload=reload, log_level=level).run()
