"""An app that queues custody events (PostgreSQL's production default): its sequencer thread,
woken by the commit of the request that queued them, integrates them long before its timer."""
from __future__ import annotations

import pytest

from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - the evidence fixture

TIMER_MS = 60_000  # the sequencer's own timer would wake it after 15 s: only the commit can be first


@pytest.fixture
def settings(settings):
    return settings.with_overrides(ledger_sequencer="queued", ledger_merge_delay_ms=TIMER_MS)


def test_a_requests_commit_wakes_the_sequencer_and_clients_see_the_index(app, client, world):  # noqa: F811
    runtime = app.extensions["fieldproof"]
    sequencer = runtime.extras["sequencer"]
    item = world.upload(client, photo((64, 48))).get_json()
    assert sequencer.wait_until_idle(5, wake=False)  # woken by the upload's commit, not by a timer
    events = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
    assert [(e["type"], e["ledger_status"]) for e in events] == [("created", "integrated"), ("sealed", "integrated")]
    receipt = client.get(f"/api/v1/custody-events/{events[1]['id']}", headers=world.collector.headers).get_json()
    assert receipt["ledger_index"] == events[1]["ledger_index"] and receipt["inclusion"]["audit_path"] is not None
    ready = client.get("/readyz").get_json()["ledger"]
    assert ready["sequencing"] == "queued" and ready["promised_ms"] == TIMER_MS
    assert ready["measured"] == 2 and ready["pending"] == 0 and ready["p99_ms"] < TIMER_MS
