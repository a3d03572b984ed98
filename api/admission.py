"""Admission control for CPU-heavy requests: a few at a time per process, the rest wait their turn.

`complete` re-reads and re-hashes the staged object, decodes it for the thumbnail and copies it:
tens of milliseconds of CPU each, mostly under the GIL. Sixteen of them at once on one worker only
take turns on the same cores and all finish late (and every other request with them); a few at
a time finish in order. A request that waited too long gets 503 with Retry-After and retries
(with its Idempotency-Key), so nothing is lost.
"""
from __future__ import annotations

import threading
from functools import wraps

from api.context import runtime
from core.errors import DependencyUnavailable

WAIT_S = 60.0


class Gate:
    """At most `slots` holders at once in this process (FIELDPROOF_SEALING_SLOTS). One per process:
    gunicorn forks after the app is made, and a fork copies the semaphore unheld."""

    def __init__(self, slots: int, wait_s: float = WAIT_S):
        self.slots = slots
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(slots)

    def __enter__(self) -> Gate:
        if not self._semaphore.acquire(timeout=self.wait_s):
            raise DependencyUnavailable("the server is busy sealing other uploads; retry shortly", retry_after=2)
        return self

    def __exit__(self, *exc) -> None:
        self._semaphore.release()


def sealing(view):
    """Run the view inside this process's sealing gate (`runtime().extras["sealing"]`)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        with runtime().extras["sealing"]:
            return view(*args, **kwargs)

    return wrapper
