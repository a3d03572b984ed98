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


def test_a_packet_build_integrates_what_it_includes_before_it_signs_its_checkpoint(app, client, world, tmp_path):  # noqa: F811
    from legal_docs.verify_bundle import verify_bundle
    from tests.api.test_packets import build, upload

    runtime = app.extensions["fieldproof"]
    runtime.extras["sequencer"].stop(integrate_in_writers_after=False)  # events stay queued: nobody sequences
    item = upload(client, world, minutes_ago=5)
    trail = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
    assert [e["ledger_status"] for e in trail] == ["pending", "pending"]
    packet = build(client, app, world)
    assert packet["status"] == "ready", packet["error"]
    trail = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
    assert [(e["type"], e["ledger_status"]) for e in trail] == \
        [("created", "integrated"), ("sealed", "integrated"), ("packeted", "integrated")]
    assert packet["checkpoint_tree_size"] > trail[-1]["ledger_index"]
    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers)
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    report = verify_bundle(path)
    assert report.ok, report.failures
    assert report.events_checked >= 3  # created, sealed, packeted: each proven in the packet's checkpoint


def test_a_verification_run_covers_the_events_committed_before_it_began(app, client, factory, world):  # noqa: F811
    runtime = app.extensions["fieldproof"]
    runtime.extras["sequencer"].stop(integrate_in_writers_after=False)
    item = world.upload(client, photo((64, 48))).get_json()
    auditor = factory.user("auditor")
    accepted = client.post("/api/v1/verifications", json={"scope": "evidence", "id": item["id"]},
                           headers=auditor.headers)
    assert accepted.status_code == 202
    assert runtime.jobs.wait_idle()
    report = client.get(f"/api/v1/verifications/{accepted.get_json()['id']}", headers=auditor.headers).get_json()
    assert (report["status"], report["failures"]) == ("passed", [])
    assert report["tree_size"] >= 2  # the item's created and sealed, integrated by the run before it signed
