"""The placement import as a job (safe to run twice: a finished placement is left alone)."""
from __future__ import annotations

from core.jobs import job
from placements.services import run_placement


@job("placement.run")
def placement_run(runtime, placement_id: str) -> None:
    run_placement(runtime, placement_id)
