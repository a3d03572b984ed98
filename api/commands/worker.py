"""`fieldproof worker`: a Celery worker running FieldProof's jobs."""
import click

from core.settings import Settings


@click.command("worker")
@click.option("--concurrency", default=2, show_default=True, help="Worker processes")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int, loglevel: str) -> None:
    """Run background jobs from the broker (needs FIELDPROOF_JOBS=celery and FIELDPROOF_BROKER_URL)."""
    from api.worker import load_job_modules, make_celery

    settings = Settings.from_env()
    if settings.jobs != "celery":
        raise click.UsageError("set FIELDPROOF_JOBS=celery and FIELDPROOF_BROKER_URL to run a worker")
    load_job_modules()
    make_celery(settings).worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
                                       "--without-gossip", "--without-mingle", "-Q", "fieldproof"])


COMMANDS: list = [worker]
