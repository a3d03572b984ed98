"""The custody ledger's jobs: verification runs (claimed, leased, resumed) and the periodic checkpoint.

Jobs may be delivered twice and are re-submitted after a crash: a run is claimed by one
statement and holds a lease its heartbeat renews, so a second delivery finds it taken.
"""
from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.jobs import job
from custody.append import record_custody_event
from custody.sequencer import integrate_pending
from custody.checkpoints import issue_checkpoint
from custody.models import Verification
from custody.sweep import Sweep
from custody.timestamps import stamp_pending
from custody.verification import evidence_item_model

log = logging.getLogger("fieldproof.verification")

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 60.0  # a running verification whose heartbeat is older died with its process
QUEUED_GRACE_SECONDS = 60.0  # a queued one older than this lost its job (or waits behind a long one)


def _claim(runtime, verification_id: str, runner: str) -> Verification | None:
    """Take the run: queued, or running under a lease that lapsed. One statement, so of two
    deliveries (a re-submission and the original, say) exactly one wins."""
    now = utcnow()
    claimable = or_(Verification.status == "queued",
                    and_(Verification.status == "running",
                         or_(Verification.heartbeat_at.is_(None),
                             Verification.heartbeat_at < now - timedelta(seconds=STALE_AFTER_SECONDS))))
    with runtime.db.transaction() as session:
        claimed = session.execute(
            update(Verification).where(Verification.id == verification_id, claimable)
            .values(status="running", runner=runner, heartbeat_at=now, attempts=Verification.attempts + 1,
                    started_at=now, progress=0.0, checked=0, failed=0, failures=[], error=None, mirror=None)
            .execution_options(synchronize_session=False)).rowcount
        return session.get(Verification, verification_id) if claimed == 1 else None


class _Heartbeat:
    """Renews the run's lease every HEARTBEAT_SECONDS from a side thread, whatever the sweep is
    doing (one huge blob can take minutes); stops when the run ends or another runner took over."""

    def __init__(self, runtime, verification_id: str, runner: str):
        self.runtime, self.verification_id, self.runner = runtime, verification_id, runner
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="fieldproof-verification-lease", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stopped.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                with self.runtime.db.transaction() as session:
                    session.execute(update(Verification).where(Verification.id == self.verification_id,
                                                               Verification.runner == self.runner)
                                    .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
            except SQLAlchemyError:
                log.warning("verification heartbeat failed", extra={"verification_id": self.verification_id})


def _owned(session: Session, verification_id: str, runner: str) -> Verification | None:
    """The row, if this runner still holds it (a lapsed lease may have passed it to another)."""
    row = session.get(Verification, verification_id)
    return row if row is not None and row.runner == runner else None


@job("verification.run")
def run_verification(runtime, verification_id: str) -> None:
    """Run one verification once: a delivery of a finished one, or of one another runner holds
    with a live heartbeat, does nothing (jobs may be delivered twice, and are re-submitted)."""
    runner = secrets.token_hex(16)
    verification = _claim(runtime, verification_id, runner)
    if verification is None:
        return
    try:
        with _Heartbeat(runtime, verification_id, runner):
            integrate_pending(runtime.db)  # the run covers every event committed before it began
            report = Sweep(runtime, verification).run()
    except Exception as exc:  # noqa: BLE001 - an unexpected fault is an error state, not a finding
        log.exception("verification crashed", extra={"verification_id": verification_id})
        with runtime.db.transaction() as session:
            row = _owned(session, verification_id, runner)
            if row is not None:
                row.status = "error"
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.finished_at = utcnow()
        return
    with runtime.db.transaction() as session:
        row = _owned(session, verification_id, runner)
        if row is None:
            log.warning("verification taken over by another runner", extra={"verification_id": verification_id})
            return
        row.status = "passed" if not report.failed_subjects else "failed"
        row.progress = 1.0
        row.checked = report.checked
        row.failed = report.failed
        row.failures = report.failures + (
            [{"evidence_id": None, "problem": "failures_omitted", "subject": "report",
              "detail": f"{report.omitted} further failures not listed"}] if report.omitted else [])
        row.finished_at = utcnow()
        row.heartbeat_at = row.finished_at
    try:
        with runtime.db.transaction() as session:
            record_verified_event(session, runtime, session.get(Verification, verification_id))
    except SQLAlchemyError as exc:
        # Only a ledger damaged behind its own back refuses an append; the report stands.
        log.error("verified event not recorded", extra={"verification_id": verification_id,
                                                        "error_type": type(exc).__name__})
        with runtime.db.transaction() as session:
            session.get(Verification, verification_id).error = \
                "the verified custody event could not be appended: the ledger head disagrees with its events"


def stalled_verifications(session: Session, *, queued_grace_seconds: float = QUEUED_GRACE_SECONDS) -> list[str]:
    """Ids of runs nobody is working on: queued past the grace, or running with a lapsed lease."""
    now = utcnow()
    return list(session.scalars(select(Verification.id).where(or_(
        and_(Verification.status == "queued",
             Verification.created_at <= now - timedelta(seconds=queued_grace_seconds)),
        and_(Verification.status == "running",
             or_(Verification.heartbeat_at.is_(None),
                 Verification.heartbeat_at < now - timedelta(seconds=STALE_AFTER_SECONDS))),
    )).order_by(Verification.created_at, Verification.id)))


@job("verification.resume")
def resume_verifications(runtime, queued_grace_seconds: float = QUEUED_GRACE_SECONDS) -> list[str]:
    """Re-submit verifications lost with a dead process (the thread runner's queue is in memory,
    and a worker can die mid-run). Safe to run any time: `run_verification` claims a run before
    working on it, so a re-submitted run that is in fact alive elsewhere is left alone."""
    with runtime.db.transaction() as session:
        ids = stalled_verifications(session, queued_grace_seconds=queued_grace_seconds)
    for verification_id in ids:
        runtime.jobs.submit("verification.run", {"verification_id": verification_id})
    if ids:
        log.info("verifications re-submitted", extra={"count": len(ids)})
    return ids


def record_verified_event(session: Session, runtime, verification: Verification) -> None:
    """The verification itself enters the custody record of what it verified."""
    details = {"verification_id": verification.id, "scope": verification.scope, "status": verification.status,
               "checked": verification.checked, "failed": verification.failed,
               "tree_size": verification.tree_size, "root_hash": verification.root_hash}
    about = {"subject_id": verification.id}  # a run over a case or everything: the run is the subject
    if verification.scope == "evidence":
        item = session.get(evidence_item_model(), verification.subject_id)
        about = {"evidence_id": verification.subject_id, "sha256": item.sha256 if item else None,
                 "case_id": item.case_id if item else None}
    elif verification.scope == "case":
        about["case_id"] = verification.subject_id
    record_custody_event(session, type="verified", actor_id=verification.requested_by, **about,
                         details={k: v for k, v in details.items() if v is not None})


# --- the periodic checkpoint ------------------------------------------------------------------


@job("ledger.issue_checkpoint")
def issue_checkpoint_job(runtime) -> None:
    """Periodic signed head; a no-op when nothing changed, so running it twice is harmless.

    The same tick re-submits verifications lost with a dead process (`verification.resume`),
    so a Celery beat that only schedules this job covers both; and, once the head is committed,
    asks the TSA to stamp every checkpoint still waiting for one (a TSA that was down is
    retried here, so stamps arrive once it is back).
    """
    with runtime.db.transaction() as session:
        row = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin, only_if_changed=True)
        logging.getLogger("fieldproof.ledger").info("checkpoint",
                                                    extra={"tree_size": row.tree_size, "key_id": row.key_id})
    stamp_pending(runtime)
    resume_verifications(runtime)


class CheckpointScheduler:
    """The embedded default's timer: submits `ledger.issue_checkpoint` every interval.

    Submitting through the job runner (rather than signing on the timer thread) keeps one code
    path for both topologies; with Celery a beat schedule can submit the same job instead.
    """

    def __init__(self, runtime, interval_seconds: float, ready=lambda: True, retry_seconds: float = 2.0):
        self.runtime = runtime
        self.interval = interval_seconds
        self.ready, self.retry_seconds = ready, retry_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fieldproof-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """At start, verifications left queued or running by a dead process are re-submitted;
        once more when a lease that was fresh at start has had time to lapse; then every tick
        signs a head (which re-submits again). Nothing is submitted before the schema is migrated
        (`ready`): `fieldproof db upgrade` on a new data directory makes an app too."""
        while not self._ready():
            if self._stopped.wait(self.retry_seconds):
                return
        self._submit("verification.resume", {"queued_grace_seconds": 0})
        if self._stopped.wait(min(self.interval, STALE_AFTER_SECONDS + 1)):
            return
        if self.interval > STALE_AFTER_SECONDS + 1:
            self._submit("verification.resume", {})
            if self._stopped.wait(self.interval - STALE_AFTER_SECONDS - 1):
                return
        while True:
            self._submit("ledger.issue_checkpoint", {})
            if self._stopped.wait(self.interval):
                return

    def _ready(self) -> bool:
        try:
            return bool(self.ready())
        except Exception:  # noqa: BLE001 - a database not there yet is not ready either
            return False

    def _submit(self, name: str, payload: dict) -> None:
        try:
            self.runtime.jobs.submit(name, payload)
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("could not submit a periodic job", extra={"job": name})

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
