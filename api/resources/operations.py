from dataclasses import asdict

from flask import Flask
from flask.views import MethodView
from sqlalchemy import text

from api.context import db_session, runtime
from api.resources.base import Blueprint
from core.clock import utcnow
from core.errors import DependencyUnavailable
from custody.timestamps import pending_since
from custody.append import queue_state as merge_queue

PREFIX = ""
blp = Blueprint("operations", __name__, description="Liveness, readiness and metrics")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200)
    def get(self):
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200)
    def get(self):
        """The database and the object store answer; 503 otherwise."""
        checks = {}
        try:
            db_session().execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            raise DependencyUnavailable(f"database: {type(error).__name__}") from None
        store = runtime().blobs
        if store is not None:
            try:
                store.ping()
            except Exception as error:  # noqa: BLE001
                raise DependencyUnavailable(f"storage: {type(error).__name__}") from None
            checks["storage"] = "ok"
        if runtime().settings.tsa_url:
            # a TSA that is down never makes the service unready: stamps wait, and this says since when
            since = pending_since(db_session(), runtime().settings)
            checks["timestamps"] = "ok" if since is None else f"pending since {since.isoformat()}"
        return {"status": "ready", "checks": checks, "ledger": ledger_state(runtime())}


def ledger_state(rt) -> dict:
    """The custody ledger's merge delay: promised, measured by this process's sequencer (queued to
    integrated, last 10,000 events), and how many events wait now and for how long."""
    sequencer = rt.extras.get("sequencer")
    if sequencer is None:  # events are integrated by the transactions that record them
        return {"sequencing": "inline", "pending": merge_queue(db_session())[0]}
    return {"sequencing": "queued", **asdict(sequencer.merge_delay(db_session()))}


def _stamp_pending_seconds() -> float:
    since = pending_since(db_session(), runtime().settings)
    return 0.0 if since is None else max(0.0, (utcnow() - since).total_seconds())


def install_metrics_view(app: Flask) -> None:
    @app.get("/metrics")
    def metrics():
        collected = runtime().extras["metrics"]
        if runtime().settings.tsa_url:
            try:
                collected.stamp_pending.set(_stamp_pending_seconds())
            except Exception:  # noqa: BLE001 - a scrape never fails for a database hiccup
                pass
        return collected.exposition()
