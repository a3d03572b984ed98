"""`fieldproof worker`: a Celery worker running FieldProof's jobs."""
import click

from core.settings import Settings


def preflight(settings: Settings) -> None:
    """Fail at start, not on the first job: signing key, database and object store must answer.

    The connections made here are closed again before Celery forks its pool, so no child
    inherits a socket; each child builds its own runtime on its first job."""
    from sqlalchemy import text

    from api.runtime import build_runtime

    runtime = build_runtime(settings.with_overrides(jobs="thread"))
    try:
        with runtime.db.transaction() as session:
            session.execute(text("SELECT 1"))
        runtime.blobs.ping()
    finally:
        runtime.db.dispose()


@click.command("worker")
@click.option("--concurrency", default=2, show_default=True, help="Worker processes")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", "-n", default=None, help="Node name, e.g. w1@%h (several workers on one machine)")
@click.option("--beat", is_flag=True, help="Also run the periodic schedule (ledger checkpoints); exactly one "
                                           "worker of a deployment may do so")
def worker(concurrency: int, loglevel: str, hostname: str | None, beat: bool) -> None:
    """Run background jobs from the broker (needs FIELDPROOF_JOBS=celery and FIELDPROOF_BROKER_URL)."""
    from api import observability
    from api.runtime import load_job_modules
    from api.worker import make_celery

    settings = Settings.from_env()
    if settings.jobs != "celery":
        raise click.UsageError("set FIELDPROOF_JOBS=celery and FIELDPROOF_BROKER_URL to run a worker")
    observability.configure_logging(settings.log_level, settings.log_format)
    load_job_modules()
    preflight(settings)
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
            "--without-gossip", "--without-mingle", "-Q", "fieldproof"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if beat:
        schedule = settings.data_dir / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={schedule}"]
    make_celery(settings).worker_main(argv)


COMMANDS: list = [worker]
