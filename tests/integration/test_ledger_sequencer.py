"""Queued custody events and the sequencer, on a real database (SQLite, or PostgreSQL when
configured): pending until a batch integrates them, gap-free and exactly once across writer
processes, a sequencer killed mid-batch and a connection cut mid-batch; receipts and /readyz."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.clock import utcnow
from core.db import Database
from core.errors import ValidationFailed
from custody import checkpoints, proofs
from custody.append import (
    commit_custody_event,
    integrate_everything_queued,
    integrate_in_writers,
    queue_events,
    record_custody_event,
    record_custody_events,
)
from custody.ledger import merkle
from custody.models import LedgerHead, QueuedCustodyEvent
from custody.sequencer import Sequencer, integrate_pending
from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - the evidence fixture
from tests.integration.test_ledger_db import SHA, all_events, assert_ledger_intact

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    integrate_in_writers(database.engine)
    database.dispose()


def queued(db) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(QueuedCustodyEvent))


def size(db) -> int:
    with db.transaction() as session:
        return proofs.tree_size(session)


def record(db, count: int, tag: str = "item") -> list[str]:
    ids = []
    for number in range(count):
        with db.transaction() as session:
            ids.append(record_custody_event(session, type="viewed", evidence_id=f"{tag}-{number}",
                                            actor_id="actor-1", sha256=SHA).event_id)
    return ids


def test_queued_events_are_pending_until_a_batch_integrates_them_in_queue_order(db):
    record(db, 3, "before")  # integrated by their writers: the engine does not queue yet
    queue_events(db.engine, lambda: None)
    with db.transaction() as session:
        recorded = record_custody_events(session, [
            {"type": "viewed", "evidence_id": f"q-{n}", "actor_id": "actor-1", "sha256": SHA} for n in range(4)])
        assert [(e.ledger_index, e.ledger_status) for e in recorded] == [(None, "pending")] * 4
        assert session.get(LedgerHead, 1).size == 3  # no head lock, no index
    later = record(db, 2, "later")
    assert (size(db), queued(db)) == (3, 6)
    rows = integrate_pending(db, limit=4)  # two batches: 4, then 2
    assert [row["ledger_index"] for row in rows] == [3, 4, 5, 6, 7, 8]
    assert [row["event_id"] for row in rows] == [e.event_id for e in recorded] + later
    assert all(row["queued_at"] <= row["integrated_at"] for row in rows)
    assert (size(db), queued(db)) == (9, 0)
    assert_ledger_intact(db, 9)
    assert integrate_pending(db) == []


def test_the_commit_wakes_the_sequencer_and_a_rolled_back_event_is_never_integrated(db):
    woken = []
    queue_events(db.engine, lambda: woken.append(1))
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            record_custody_event(session, type="viewed", evidence_id="lost", actor_id="a", sha256=SHA)
            raise RuntimeError("the request failed after recording")
    assert woken == [] and queued(db) == 0
    with db.transaction() as session:
        record_custody_event(session, type="viewed", evidence_id="kept", actor_id="a", sha256=SHA)
        assert woken == []  # not before the commit: the sequencer could not see it yet
    assert woken == [1]
    integrate_pending(db)
    assert [e.evidence_id for e in all_events(db)] == ["kept"]


def test_an_event_committed_on_its_own_is_integrated_inline_or_queued_and_wakes_after_its_commit(db):
    """`commit_custody_event` (a read of bytes): committed when it returns, through the same path
    as a session's events; queued, the sequencer is woken once the event is visible to others."""
    inline = commit_custody_event(db.engine, type="viewed", evidence_id="inline", actor_id="a", sha256=SHA)
    assert (inline.ledger_index, size(db)) == (0, 1)
    seen_when_woken = []
    queue_events(db.engine, lambda: seen_when_woken.append(queued(db)))
    with pytest.raises(ValidationFailed):
        commit_custody_event(db.engine, type="viewed", evidence_id="x", actor_id="a", sha256="ABC")
    assert seen_when_woken == [] and queued(db) == 0
    pending = commit_custody_event(db.engine, type="downloaded", evidence_id="queued", actor_id="a", sha256=SHA,
                                   details={"rendition": "original"})
    assert pending.ledger_status == "pending" and seen_when_woken == [1]  # woken after the commit, once
    integrate_pending(db)
    assert [(e.evidence_id, e.event_id) for e in all_events(db)][1:] == [("queued", pending.event_id)]
    assert_ledger_intact(db, 2)


def test_an_event_that_could_never_become_a_leaf_is_refused_when_queued(db):
    queue_events(db.engine, lambda: None)
    with pytest.raises(ValidationFailed):
        with db.transaction() as session:
            record_custody_event(session, type="viewed", evidence_id="x", actor_id="a", sha256="ABC")
    with pytest.raises(ValidationFailed):
        with db.transaction() as session:
            record_custody_event(session, type="shredded", evidence_id="x", actor_id="a")
    assert queued(db) == 0


def test_a_checkpoint_signs_the_integrated_head_only(db, settings):
    from core.keys import load_signer

    signer = load_signer(settings)
    record(db, 2, "integrated")
    queue_events(db.engine, lambda: None)
    record(db, 3, "pending")
    with db.transaction() as session:
        assert checkpoints.issue_checkpoint(session, signer, "test.example/log").tree_size == 2
    with db.transaction() as session:  # what a packet build does before it signs
        record_custody_event(session, type="packeted", evidence_id="pending-0", actor_id="legal", sha256=SHA)
        assert integrate_everything_queued(session) == 4
        assert checkpoints.issue_checkpoint(session, signer, "test.example/log").tree_size == 6
    assert_ledger_intact(db, 6)


def test_a_sequencer_thread_integrates_what_concurrent_writers_queue(db):
    sequencer = Sequencer(db, merge_delay_ms=100, batch=16)
    sequencer.start()
    writers, each = 4, 25
    barrier = threading.Barrier(writers)
    errors = []

    def writer(number):
        try:
            barrier.wait()
            record(db, each, f"w{number}")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sequencer.wait_until_idle(60)
    finally:
        sequencer.stop()
    assert_ledger_intact(db, writers * each)
    with db.transaction() as session:
        state = sequencer.merge_delay(session)
    assert state.measured == writers * each and state.pending == 0 and state.p99_ms is not None
    assert state.promised_ms == 100


def make_late(db, minutes: int = 10) -> None:
    """What waiting would do to the queued events, without the wait."""
    with db.transaction() as session:
        session.execute(update(QueuedCustodyEvent).values(queued_at=utcnow() - timedelta(minutes=minutes)))


def test_a_standby_integrates_only_late_or_awaited_events_and_then_lets_the_election_go(db):
    queue_events(db.engine, lambda: None)
    standby = Sequencer(db, merge_delay_ms=600_000, standby=True)  # late after 150 s
    record(db, 3, "fresh")
    assert standby.step() == 0  # fresh: left to the elected sequencer
    assert (size(db), queued(db)) == (0, 3) and not standby.leader
    assert standby.step(hurried=True) == 3  # someone waits for integration: at once
    record(db, 2, "late")
    make_late(db)
    assert standby.step() == 2 and not standby.leader  # late: integrated, and the election let go
    assert queued(db) == 0
    assert_ledger_intact(db, 5)


def test_a_standby_gives_way_to_the_elected_sequencer_and_takes_over_when_it_is_gone(db):
    if db.dialect != "postgresql":
        pytest.skip("no election on SQLite: its one write lock orders every process's batches")
    queue_events(db.engine, lambda: None)
    elected, standby = Sequencer(db, merge_delay_ms=600_000), Sequencer(db, merge_delay_ms=600_000, standby=True)
    try:
        assert elected.step() == 0 and elected.leader
        record(db, 2, "late")
        make_late(db)
        assert standby.step() == 0 and queued(db) == 2  # late, but the election is held
        elected.stop(integrate_in_writers_after=False)  # the elected process is gone, its lock with it
        assert standby.step() == 2 and not standby.leader
        assert elected.step() == 0 and elected.leader  # and the regular sequencer takes the election back
    finally:
        elected.stop()
        standby.stop()
    assert_ledger_intact(db, 2)


def test_a_waiter_on_a_sequencer_that_is_not_elected_sees_the_elected_ones_batches(db, monkeypatch):
    import custody.sequencer

    queue_events(db.engine, lambda: None)
    bystander = Sequencer(db, merge_delay_ms=1000)  # never started: it integrates nothing itself
    record(db, 2, "theirs")
    looked = threading.Event()

    def queue_state(session):
        state = queue_state_of(session)
        looked.set()
        return state

    queue_state_of = custody.sequencer.queue_state
    monkeypatch.setattr(custody.sequencer, "queue_state", queue_state)
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(bystander.wait_until_idle(60, wake=False)))
    waiter.start()
    assert looked.wait(60)  # it found them queued
    integrate_pending(db)  # then the elected process's batch
    waiter.join(90)
    assert waited == [True]  # seen at its next look, not after the whole timeout
    assert_ledger_intact(db, 2)


def test_commits_soon_after_a_batch_wait_to_share_the_next_and_a_waiter_need_not(db):
    """A batch costs about as much as a hundred of its events: the sequencer begins one at most
    every `every_ms`, so the commits in between share one, unless someone waits for them."""
    sequencer = Sequencer(db, merge_delay_ms=600_000, every_ms=60_000)  # its timer never fires here
    sequencer.start()
    try:
        record(db, 1, "first")  # the commit wakes an idle sequencer: integrated at once
        assert sequencer.wait_until_idle(60, wake=False)
        record(db, 4, "soon")  # four commits, four wake-ups, within a minute of that batch
        assert not sequencer.wait_until_idle(1, wake=False)  # they wait for the next batch's turn
        assert (size(db), queued(db)) == (1, 4)
        assert sequencer.wait_until_idle(60)  # waiting for integration ends the pause
    finally:
        sequencer.stop()
    events = all_events(db)
    assert [e.evidence_id for e in events] == ["first-0", "soon-0", "soon-1", "soon-2", "soon-3"]
    assert len({e.integrated_at for e in events[1:]}) == 1  # one batch for the four
    assert events[1].integrated_at > events[0].integrated_at
    assert_ledger_intact(db, 5)


# --- across processes: writers, a sequencer killed mid-batch, a connection cut mid-batch --------


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.ledger_processes", *args], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _writers(url: str, processes: int, each: int, tag: str) -> list[str]:
    started = [_start("write", url, str(each), f"{tag}{n}") for n in range(processes)]
    ids = []
    for process in started:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0
        ids.extend(out.split())
    assert len(ids) == processes * each
    return ids


def _hang(url: str, batch: int) -> tuple[subprocess.Popen, int, int]:
    process = _start("hang", url, str(batch))
    line = process.stdout.readline().split()
    assert line[0] == "mid-batch", line
    return process, int(line[1]), int(line[2])


def _checkpoint(runtime) -> tuple[int, bytes]:
    with runtime.db.transaction() as session:
        row = checkpoints.issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)
        return row.tree_size, bytes.fromhex(row.root_hash)


def test_writers_across_processes_a_killed_sequencer_and_a_cut_connection_leave_the_ledger_whole(
        app, client, factory, database_url):
    runtime = app.extensions["fieldproof"]
    db = runtime.db
    committed: list[str] = []
    heads = [_checkpoint(runtime)]

    # many writer processes queue while this process's sequencer integrates
    sequencer = Sequencer(db, merge_delay_ms=50, batch=25)
    sequencer.start()
    try:
        committed += _writers(database_url, 4, 40, "a")
        assert sequencer.wait_until_idle(120)
    finally:
        sequencer.stop()
    assert size(db) == 160
    heads.append(_checkpoint(runtime))

    # a sequencer killed (SIGKILL) in the middle of a batch: another takes over
    committed += _writers(database_url, 2, 30, "b")
    hanging, in_batch, _pid = _hang(database_url, 25)
    assert in_batch == 25
    successor = Sequencer(db, merge_delay_ms=50, batch=25)
    successor.start()
    try:
        if db.dialect == "postgresql":  # (on SQLite a reader's BEGIN IMMEDIATE would wait too)
            assert size(db) == 160  # the hanging batch holds the head: its successor is not elected
        hanging.send_signal(signal.SIGKILL)
        hanging.wait(30)
        assert successor.wait_until_idle(120)
    finally:
        successor.stop()
    assert size(db) == 220
    heads.append(_checkpoint(runtime))

    if db.dialect == "postgresql":  # the sequencer's connection cut mid-batch: its commit fails, nothing lands
        committed += _writers(database_url, 1, 30, "c")
        cut, in_batch, pid = _hang(database_url, 25)
        with db.transaction() as session:
            assert session.connection().exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,)).scalar()
        cut.stdin.write("go\n")
        cut.stdin.flush()
        cut.communicate(timeout=30)
        assert cut.returncode != 0 and size(db) == 220 and queued(db) == 30
        assert len(integrate_pending(db)) == 30
        heads.append(_checkpoint(runtime))

    events = all_events(db)
    assert [e.ledger_index for e in events] == list(range(len(committed)))  # gap-free
    assert sorted(e.event_id for e in events) == sorted(committed)  # every committed event, once
    assert queued(db) == 0
    assert_ledger_intact(db, len(committed))
    for (first, first_root), (second, second_root) in zip(heads, heads[1:]):
        with db.transaction() as session:
            proof = proofs.consistency_proof(session, first, second)
        merkle.verify_consistency(first, second, [bytes.fromhex(h) for h in proof.proof], first_root, second_root)

    auditor = factory.user("auditor")
    accepted = client.post("/api/v1/verifications", json={"scope": "all"}, headers=auditor.headers)
    assert accepted.status_code == 202
    assert runtime.jobs.wait_idle()
    report = client.get(f"/api/v1/verifications/{accepted.get_json()['id']}", headers=auditor.headers).get_json()
    assert (report["status"], report["failures"]) == ("passed", [])
    assert report["tree_size"] == len(committed)


# --- what clients see ----------------------------------------------------------------------------


def test_custody_shows_pending_events_and_the_receipt_proves_them_once_integrated(app, client, factory):
    runtime = app.extensions["fieldproof"]
    queue_events(runtime.db.engine, lambda: None)  # queued, and no sequencer: they stay pending
    try:
        _check_receipts(runtime, client, factory)
    finally:
        integrate_in_writers(runtime.db.engine)


def _check_receipts(runtime, client, factory):
    with runtime.db.transaction() as session:
        recorded = record_custody_event(session, type="key_rotated", subject_id="k" * 64, actor_id="system")
    legal = factory.user("legal")
    pending = client.get(f"/api/v1/custody-events/{recorded.event_id}", headers=legal.headers)
    assert pending.status_code == 200
    body = pending.get_json()
    assert (body["ledger_status"], body["ledger_index"], body["checkpoint"], body["inclusion"]) == \
        ("pending", None, None, None)
    assert body["id"] == recorded.event_id and body["merge_delay_ms"] == runtime.settings.ledger_merge_delay_ms
    ready = client.get("/readyz").get_json()
    assert ready["ledger"]["pending"] == 1
    integrate_pending(runtime.db)
    body = client.get(f"/api/v1/custody-events/{recorded.event_id}", headers=legal.headers).get_json()
    assert body["ledger_status"] == "integrated" and body["ledger_index"] == 0
    head, proof = body["checkpoint"], body["inclusion"]
    assert proof["tree_size"] == head["tree_size"] and proof["leaf_hash"] == body["leaf_hash"]
    merkle.verify_inclusion(0, head["tree_size"], merkle.leaf_hash(body["leaf"].encode()),
                            [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(head["root_hash"]))
    assert client.get("/api/v1/custody-events/00000000-0000-4000-8000-000000000000",
                      headers=legal.headers).status_code == 404


def test_an_items_custody_lists_its_pending_reads_after_its_integrated_events(app, client, factory, world):  # noqa: F811
    runtime = app.extensions["fieldproof"]
    item = world.upload(client, photo((64, 48))).get_json()  # created, sealed: integrated by the request
    queue_events(runtime.db.engine, lambda: None)
    try:
        assert client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.supervisor.headers).status_code == 200
        events = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
        assert [(e["type"], e["ledger_status"]) for e in events] == \
            [("created", "integrated"), ("sealed", "integrated"), ("downloaded", "pending")]
        read = events[-1]
        assert read["ledger_index"] is None and read["leaf"] is None and read["id"]
        assert all(e["id"] and isinstance(e["ledger_index"], int) for e in events[:2])
        stranger = factory.user("collector")
        assert client.get(f"/api/v1/custody-events/{read['id']}", headers=stranger.headers).status_code == 404
        integrate_pending(runtime.db)
        receipt = client.get(f"/api/v1/custody-events/{read['id']}", headers=world.collector.headers).get_json()
        assert (receipt["ledger_status"], receipt["ledger_index"]) == ("integrated", events[1]["ledger_index"] + 1)
        after = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=world.collector.headers).get_json()
        assert [e["id"] for e in after] == [e["id"] for e in events]
    finally:
        integrate_in_writers(runtime.db.engine)
