"""The embedded scheduler submits nothing until the schema is migrated (`fieldproof db upgrade`
on a new data directory makes an app, and its timer must not run jobs on missing tables)."""
import threading

from custody.jobs import CheckpointScheduler


class _Jobs:
    def __init__(self):
        self.submitted, self.first = [], threading.Event()

    def submit(self, name, payload):
        self.submitted.append(name)
        self.first.set()


class _Runtime:
    def __init__(self):
        self.jobs = _Jobs()


def test_nothing_is_submitted_before_the_schema_is_ready_and_resume_comes_first_after():
    runtime, checks, migrated = _Runtime(), [], threading.Event()

    def ready():
        checks.append(migrated.is_set())
        if len(checks) == 3:
            migrated.set()  # the migration finishes while the scheduler waits
        return checks[-1]

    scheduler = CheckpointScheduler(runtime, 3600, ready=ready, retry_seconds=0.001)
    scheduler.start()
    assert runtime.jobs.first.wait(10)
    scheduler.stop()
    assert checks[:3] == [False, False, False] and runtime.jobs.submitted[0] == "verification.resume"


def test_a_readiness_check_that_fails_counts_as_not_ready_and_stop_ends_the_wait():
    runtime = _Runtime()

    def broken():
        raise RuntimeError("no such table: alembic_version")

    scheduler = CheckpointScheduler(runtime, 3600, ready=broken, retry_seconds=0.001)
    scheduler.start()
    scheduler.stop()
    assert runtime.jobs.submitted == [] and not scheduler._thread.is_alive()
