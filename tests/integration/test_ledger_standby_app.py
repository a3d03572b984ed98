"""An API node that is a standby sequencer (FIELDPROOF_LEDGER_STANDBY): its requests queue custody
events and leave them to the elected sequencer, unless they are late or someone waits for them."""
from __future__ import annotations

import pytest

from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - the evidence fixture

DELAY_MS = 600_000  # late after two and a half minutes: never within this test


@pytest.fixture
def settings(settings):
    return settings.with_overrides(ledger_sequencer="queued", ledger_merge_delay_ms=DELAY_MS, ledger_standby=True)


def test_a_standby_nodes_events_wait_for_the_elected_sequencer_or_a_waiter(app, client, world):  # noqa: F811
    sequencer = app.extensions["fieldproof"].extras["sequencer"]
    item = world.upload(client, photo((64, 48))).get_json()
    ready = client.get("/readyz").get_json()["ledger"]
    assert (ready["standby"], ready["leader"], ready["pending"]) == (True, False, 2)
    assert sequencer.wait_until_idle(30)  # a waiter: the standby integrates now
    trail = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
    assert [(e["type"], e["ledger_status"]) for e in trail] == [("created", "integrated"), ("sealed", "integrated")]
    assert client.get("/readyz").get_json()["ledger"]["pending"] == 0
