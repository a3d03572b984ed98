"""Sealing slots: read once with the other settings, one gate per process."""
from __future__ import annotations

import os

import pytest

from api.admission import Gate
from core.errors import ConfigurationError, DependencyUnavailable
from core.settings import Settings


def test_sealing_slots_come_from_the_settings():
    assert Settings.from_env({"FIELDPROOF_SEALING_SLOTS": "3"}).sealing_slots == 3
    assert Settings.from_env({}).sealing_slots == Settings().sealing_slots == (os.cpu_count() or 2)


@pytest.mark.parametrize("raw", ["0", "-1", "many"])
def test_a_wrong_slot_count_stops_start_up(raw):
    with pytest.raises(ConfigurationError, match="FIELDPROOF_SEALING_SLOTS"):
        Settings.from_env({"FIELDPROOF_SEALING_SLOTS": raw})


def test_the_app_gates_sealing_with_the_configured_slots(settings):
    from api.app import create_app
    from tests.conftest import shut_down

    app = create_app(settings.with_overrides(sealing_slots=1))
    try:
        gate = app.extensions["fieldproof"].extras["sealing"]
        assert gate.slots == 1
    finally:
        shut_down(app)


def test_a_request_that_waits_too_long_is_told_to_retry():
    gate = Gate(1, wait_s=0.01)
    with gate, pytest.raises(DependencyUnavailable) as refused:
        gate.__enter__()
    assert refused.value.retry_after == 2
