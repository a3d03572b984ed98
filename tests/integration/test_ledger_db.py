"""The ledger on a real database: gap-free appends under concurrent writers, stored nodes that
match the leaves, and proofs that read O(log n) nodes (SQLite, or PostgreSQL when configured)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, text

from core.db import Database
from core.errors import ValidationFailed
from custody import checkpoints, proofs
from custody.append import custody_for_evidence, rebuild_leaf, record_custody_event, record_custody_events
from custody.models import CustodyEvent, LedgerHead, LedgerNode
from custody.ledger import merkle
from custody.ledger.leaf import ZERO_HASH_HEX, leaf_hash_hex, verify_leaf_chain

SHA = "ab" * 32


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def append(db, count, **fields):
    for number in range(count):
        with db.transaction() as session:
            record_custody_event(session, type=fields.get("type", "viewed"),
                                 evidence_id=fields.get("evidence_id", f"item-{number}"),
                                 actor_id="actor-1", sha256=SHA)


def all_events(db):
    with db.transaction() as session:
        return list(session.scalars(select(CustodyEvent).order_by(CustodyEvent.ledger_index)))


def assert_ledger_intact(db, expected_size):
    events = all_events(db)
    assert [e.ledger_index for e in events] == list(range(expected_size))
    leaves = [e.leaf.encode() for e in events]
    assert verify_leaf_chain(leaves) == (events[-1].leaf_hash if events else ZERO_HASH_HEX)
    with db.transaction() as session:
        head = session.get(LedgerHead, 1)
        assert (head.size, head.last_leaf_hash) == (expected_size, events[-1].leaf_hash)
        stored = {(n.level, n.index): n.hash for n in session.scalars(select(LedgerNode))}
        root = proofs.stored_root(session, expected_size)
    memory = merkle.MemoryNodeStore()
    for leaf in leaves:
        memory.append(merkle.leaf_hash(leaf))
    assert stored == memory.nodes  # every complete subtree, nothing more
    assert root == merkle.root_from_leaves(leaves)


def test_appends_number_leaves_from_zero_and_chain_them(db):
    append(db, 13)
    events = all_events(db)
    assert events[0].prev_leaf_hash == ZERO_HASH_HEX
    for before, after in zip(events, events[1:]):
        assert after.prev_leaf_hash == before.leaf_hash == leaf_hash_hex(before.leaf.encode())
    assert_ledger_intact(db, 13)


def test_a_leaf_is_the_canonical_event_and_rebuilds_from_its_columns(db):
    moment = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    with db.transaction() as session:
        record_custody_event(session, type="sealed", evidence_id="item-9", actor_id="actor-2", sha256=SHA,
                             case_id="case-1", details={"size": 12, "media_type": "image/jpeg"}, at=moment)
    (stored,) = all_events(db)
    assert stored.leaf == (
        '{"actor_id":"actor-2","at":"2026-03-01T08:30:15.123456Z","case_id":"case-1",'
        '"details":{"media_type":"image/jpeg","size":12},"evidence_id":"item-9","index":0,'
        f'"prev_leaf_hash":"{ZERO_HASH_HEX}","sha256":"{SHA}","type":"sealed"}}'
    )
    assert stored.at == moment
    assert rebuild_leaf(stored) == stored.leaf.encode()  # read back from the database, not from memory


def test_the_callers_rollback_takes_the_index_back(db):
    append(db, 2)
    with pytest.raises(RuntimeError):
        with db.transaction() as session:
            record_custody_event(session, type="viewed", evidence_id="lost", actor_id="actor-1", sha256=SHA)
            raise RuntimeError("the caller's work failed")
    append(db, 1)
    assert_ledger_intact(db, 3)
    assert "lost" not in {e.evidence_id for e in all_events(db)}


def test_unknown_types_and_malformed_hashes_are_refused(db):
    with db.transaction() as session:
        with pytest.raises(ValidationFailed):
            record_custody_event(session, type="shredded", evidence_id="x", actor_id="a")
        with pytest.raises(ValidationFailed):
            record_custody_event(session, type="viewed", evidence_id="x", actor_id="a", sha256="ABC")


def test_custody_for_evidence_lists_one_items_events_in_ledger_order(db):
    for kind in ("created", "sealed", "viewed"):
        with db.transaction() as session:
            record_custody_event(session, type=kind, evidence_id="item-a", actor_id="actor-1", sha256=SHA)
            record_custody_event(session, type="viewed", evidence_id="item-b", actor_id="actor-1", sha256=SHA)
    with db.transaction() as session:
        events = custody_for_evidence(session, "item-a")
    assert [(e.type, e.ledger_index) for e in events] == [("created", 0), ("sealed", 2), ("viewed", 4)]
    assert all(e.leaf_hash == leaf_hash_hex(e.leaf.encode()) for e in events)


def test_concurrent_writers_get_consecutive_indices_and_an_intact_chain(db):
    writers, each = 6, 15
    barrier = threading.Barrier(writers)
    errors = []

    def writer(number):
        try:
            barrier.wait()
            for event_number in range(each):
                with db.transaction() as session:
                    record_custody_event(session, type="viewed", evidence_id=f"w{number}-{event_number}",
                                         actor_id=f"writer-{number}", sha256=SHA)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_ledger_intact(db, writers * each)
    assert len({e.evidence_id for e in all_events(db)}) == writers * each


def test_an_emptied_database_starts_a_new_head(db):
    with db.transaction() as session:
        session.execute(text("DELETE FROM ledger_head"))
    append(db, 3)
    assert_ledger_intact(db, 3)


def test_proofs_from_the_database_verify_against_the_root(db):
    append(db, 21)
    events = all_events(db)
    with db.transaction() as session:
        roots = {size: proofs.stored_root(session, size) for size in (1, 8, 13, 21)}
        for size in (1, 8, 13, 21):
            for index in range(size):
                proof = proofs.inclusion_proof(session, index, size)
                assert proof.leaf_hash == events[index].leaf_hash
                merkle.verify_inclusion(index, size, bytes.fromhex(proof.leaf_hash),
                                        [bytes.fromhex(h) for h in proof.audit_path], roots[size])
        for first, second in ((1, 8), (8, 13), (13, 21), (1, 21), (21, 21)):
            proof = proofs.consistency_proof(session, first, second)
            merkle.verify_consistency(first, second, [bytes.fromhex(h) for h in proof.proof],
                                      roots[first], roots[second])
        with pytest.raises(ValidationFailed):
            proofs.inclusion_proof(session, 21, 21)
        with pytest.raises(ValidationFailed):
            proofs.consistency_proof(session, 3, 22)


def test_a_proof_is_one_batched_read_whatever_the_size(db):
    append(db, 70)
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.transaction() as session:
            session.execute(text("SELECT 1"))  # the transaction's own BEGIN is not the proof's
            before = len(statements)
            proofs.inclusion_proof(session, 37, 70)
            inclusion_reads = len(statements) - before
            before = len(statements)
            proofs.consistency_proof(session, 23, 70)
            consistency_reads = len(statements) - before
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert inclusion_reads == consistency_reads == 2  # the head's size, then every node in one query


def test_a_missing_stored_node_is_reported_not_guessed(db):
    append(db, 8)
    with db.transaction() as session:
        session.execute(text("DELETE FROM ledger_nodes WHERE level = 2 AND node_index = 1"))
    with db.transaction() as session:
        with pytest.raises(proofs.LedgerCorrupted):
            proofs.inclusion_proof(session, 0, 8)


# --- the fast append path and the batch append ------------------------------------------------


def leaf_rows(db):
    return [(e.ledger_index, e.leaf, e.leaf_hash, e.prev_leaf_hash) for e in all_events(db)]


def batch_fields(count, start=0):
    moment = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    return [{"type": "viewed" if n % 3 else "sealed", "evidence_id": f"item-{start + n}", "actor_id": "actor-1",
             "sha256": SHA, "case_id": "case-1" if n % 2 else None,
             "details": {"n": start + n, "note": "é\n\"x\""} if n % 4 == 0 else None, "at": moment}
            for n in range(count)]


def test_a_batch_appends_exactly_what_single_appends_would(db):
    singles = batch_fields(40)
    for fields in singles:
        with db.transaction() as session:
            record_custody_event(session, **fields)
    expected = leaf_rows(db)
    with db.transaction() as session:
        session.execute(text("DELETE FROM custody_events"))
        session.execute(text("DELETE FROM ledger_nodes"))
        session.execute(text("DELETE FROM ledger_head"))
    # the same events in batches of awkward sizes, across odd and even tree sizes
    for low, high in ((0, 13), (13, 14), (14, 31), (31, 40)):
        with db.transaction() as session:
            assert [e.ledger_index for e in record_custody_events(session, singles[low:high])] == \
                list(range(low, high))
    assert leaf_rows(db) == expected
    assert_ledger_intact(db, 40)


def test_a_batch_continues_a_ledger_of_single_appends_and_vice_versa(db):
    append(db, 11)
    with db.transaction() as session:
        record_custody_events(session, batch_fields(22, start=11))
    append(db, 5)
    with db.transaction() as session:
        record_custody_events(session, batch_fields(1, start=38))
    assert_ledger_intact(db, 39)


def test_an_invalid_event_refuses_the_whole_batch(db):
    append(db, 3)
    for bad in ({"type": "shredded"}, {"sha256": "ABC"}):
        events = batch_fields(5, start=3)
        events[3] = {**events[3], **bad}
        with pytest.raises(ValidationFailed):
            with db.transaction() as session:
                record_custody_events(session, events)
    with pytest.raises(TypeError):
        with db.transaction() as session:
            record_custody_events(session, [{**batch_fields(1)[0], "colour": "red"}])
    with db.transaction() as session:
        assert record_custody_events(session, []) == []
    assert_ledger_intact(db, 3)


def test_appended_events_read_back_within_the_transaction_as_they_were_written(db):
    with db.transaction() as session:
        recorded = record_custody_event(session, type="viewed", evidence_id="a", actor_id="actor-1", sha256=SHA)
        index = recorded.ledger_index
        assert index == 0 and recorded.ledger_status == "integrated" and not session.dirty and not session.new
        single = session.get(CustodyEvent, index)
        assert (single.evidence_id, single.sha256, single.leaf_hash) == ("a", SHA, leaf_hash_hex(single.leaf.encode()))
        indices = [e.ledger_index for e in record_custody_events(session, batch_fields(3, start=1))]
        assert indices == [1, 2, 3]
        batch = [session.get(CustodyEvent, index) for index in indices]  # read back within the transaction
        assert batch[0].prev_leaf_hash == single.leaf_hash
        assert batch[0].at == datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
        assert batch[0].details == {"n": 1, "note": "é\n\"x\""}
    stored = {e.ledger_index: e for e in all_events(db)}
    for appended in [single, *batch]:
        row = stored[appended.ledger_index]
        assert (row.leaf, row.at, row.details, row.case_id) == (appended.leaf, appended.at, appended.details,
                                                                appended.case_id)
        assert rebuild_leaf(row) == row.leaf.encode()


def test_batches_and_single_appends_from_concurrent_writers_stay_gap_free(db):
    writers, rounds = 4, 6
    barrier = threading.Barrier(writers)
    errors = []

    def writer(number):
        try:
            barrier.wait()
            for round_number in range(rounds):
                with db.transaction() as session:
                    if (number + round_number) % 2:
                        record_custody_events(session, [
                            {"type": "viewed", "evidence_id": f"w{number}-{round_number}-{k}",
                             "actor_id": f"writer-{number}", "sha256": SHA} for k in range(1 + number)])
                    else:
                        record_custody_event(session, type="viewed", evidence_id=f"w{number}-{round_number}",
                                             actor_id=f"writer-{number}", sha256=SHA)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = sum(rounds // 2 * (1 + n) + rounds // 2 for n in range(writers))
    assert_ledger_intact(db, expected)


def test_an_append_whose_left_sibling_was_deleted_refuses_and_writes_nothing(db):
    append(db, 3)
    with db.transaction() as session:
        session.execute(text("DELETE FROM ledger_nodes WHERE level = 1 AND node_index = 0"))
    with pytest.raises(proofs.LedgerCorrupted):
        with db.transaction() as session:
            record_custody_event(session, type="viewed", evidence_id="x", actor_id="actor-1", sha256=SHA)
    with pytest.raises(proofs.LedgerCorrupted):
        with db.transaction() as session:
            record_custody_events(session, batch_fields(2))
    with db.transaction() as session:
        assert proofs.tree_size(session) == 3
        assert session.scalar(select(func.count()).select_from(CustodyEvent)) == 3


def test_an_append_reads_no_stored_node_the_head_already_gives(db, monkeypatch):
    """The last leaf's own node is the head's last leaf hash: a single append reads stored nodes
    only at indexes 3 mod 4 (its level-1 and higher left siblings), a batch its frontier without it."""
    import custody.append

    reads, read_nodes = [], custody.append.read_nodes

    def recording(query, dialect, keys):
        reads.append((index, sorted(keys)))
        return read_nodes(query, dialect, keys)

    monkeypatch.setattr(custody.append, "read_nodes", recording)
    for index in range(16):
        with db.transaction() as session:
            record_custody_event(session, type="viewed", evidence_id=f"item-{index}", actor_id="actor-1", sha256=SHA)
    assert reads == [(3, [(1, 0)]), (7, [(1, 2), (2, 0)]), (11, [(1, 4)]), (15, [(1, 6), (2, 2), (3, 0)])]
    reads.clear()
    index = 16
    with db.transaction() as session:
        record_custody_events(session, batch_fields(7, start=16))  # then 23 leaves: subtrees of 16, 4, 2, 1
    index = 23
    with db.transaction() as session:
        record_custody_events(session, batch_fields(2, start=23))
    assert reads == [(16, [(4, 0)]), (23, [(1, 10), (2, 4), (4, 0)])]  # leaf 22's node came with the head
    assert_ledger_intact(db, 25)


def test_a_single_append_on_sqlite_is_one_read_and_three_writes(db):
    """BEGIN IMMEDIATE, the head with whether anything is queued, the event, the nodes it completes,
    the head again, COMMIT; the stored left siblings only when the index is 3 mod 4."""
    if db.dialect != "sqlite":
        pytest.skip("the statements are SQLite's; PostgreSQL's go in pipelines")
    append(db, 1)
    traced = Database(db.url)
    statements: list[str] = []
    event.listen(traced.engine, "connect", lambda dbapi_connection, _record:
                 dbapi_connection.set_trace_callback(statements.append))
    try:
        for index in range(1, 9):
            statements.clear()
            with traced.transaction() as session:
                record_custody_event(session, type="viewed", evidence_id=f"item-{index}", actor_id="actor-1",
                                     sha256=SHA)
            completed = 1 + (~index & (index + 1)).bit_length() - 1
            assert [sql.split(" (")[0].split(" SET")[0].split(" FROM ledger_nodes")[0] for sql in statements] == [
                "BEGIN IMMEDIATE",
                "SELECT ledger_head.size, ledger_head.last_leaf_hash, EXISTS",
                *(["SELECT position, hash"] if index % 4 == 3 else []),
                "INSERT INTO custody_events",
                *["INSERT INTO ledger_nodes"] * completed,
                "UPDATE ledger_head",
                "COMMIT",
            ], index
    finally:
        traced.dispose()


def test_fetch_nodes_reads_many_nodes_in_chunks(db):
    with db.transaction() as session:
        record_custody_events(session, batch_fields(700))
    with db.transaction() as session:
        stored = {(n.level, n.index): n.hash for n in session.scalars(select(LedgerNode))}
        wanted = list(stored) + [(0, 5000), (12, 0)]  # two that do not exist
        assert proofs.fetch_nodes(session, wanted) == stored
        assert proofs.fetch_nodes(session, []) == {}


# --- leaf bytes: the fast canonical form is RFC 8785, byte for byte ---------------------------

_ODD_STRINGS = ["", "plain", "é", "日本", "\U0001f600", "\x00\x01\x1f\x7f", "\b\f\n\r\t", '"\\/', "\u2028\u2029",
                "\ud800", "a\udfffb", "\ufeff", "\ue000", " spaced ", "<script>"]


def _random_value(rng, depth=0):
    kinds = ["str", "int", "none", "bool", "float", "big"] + (["dict", "list"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(_ODD_STRINGS) + rng.choice(_ODD_STRINGS)
    if kind == "int":
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), rng.randrange(-10**9, 10**9)])
    if kind == "big":
        return rng.choice([2**53, -(2**53), 10**30])
    if kind == "float":
        return rng.choice([0.5, 1e21, 1.0, -0.0, 3.14159])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "B", "z", "size", "é", "\U0001f600", "\ue000", "", "a b"]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_canonical_leaf_is_rfc8785_byte_for_byte():
    import random

    import rfc8785

    from custody.append import leaf_event
    from custody.ledger.leaf import LeafFormatError, canonical_leaf

    rng = random.Random(9162)
    for number in range(3000):
        details = _random_value(rng) if number % 5 else None
        event = leaf_event(index=number, type=rng.choice(["viewed", "sealed", "x\ny"]),
                           evidence_id=rng.choice([None, "item-1", rng.choice(_ODD_STRINGS)]),
                           actor_id=rng.choice(_ODD_STRINGS), at=datetime(2026, 1, 2, 3, 4, 5, number, tzinfo=UTC),
                           sha256=rng.choice([None, SHA, "ABC"]),
                           prev_leaf_hash=ZERO_HASH_HEX if number == 0 else rng.choice([SHA, "f" * 63]),
                           case_id=rng.choice([None, "case-1", "é"]),
                           details=details if isinstance(details, dict) else ({"v": details} if details else None))
        try:
            leaf = canonical_leaf(event)
        except LeafFormatError:
            if event["sha256"] != "ABC" and event["prev_leaf_hash"] != "f" * 63:  # else the leaf's own checks
                with pytest.raises(rfc8785.CanonicalizationError):
                    rfc8785.dumps(event)
            continue
        assert leaf == rfc8785.dumps(event), event


def test_format_at_matches_strftime():
    import random

    from custody.append import format_at

    rng = random.Random(3339)
    for _ in range(2000):
        moment = datetime(rng.randrange(1, 10000), rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24),
                          rng.randrange(60), rng.randrange(60), rng.randrange(1000000), tzinfo=UTC)
        assert format_at(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(ValueError):
        format_at(datetime(2026, 1, 1))


def test_the_nodes_a_proof_reads_are_known_without_a_dry_run():
    import random

    def dry_run(compute):
        return proofs._needed_nodes(compute)

    pairs = [(a, b) for b in range(0, 140) for a in range(0, b + 1)]
    rng = random.Random(6962)
    pairs += [(rng.randrange(1, n + 1), n) for n in (2**20, 10**6, 10**6 + 1, 2**31 - 1) for _ in range(300)]
    for a, b in pairs:
        assert set(proofs.consistency_keys(a, b)) == dry_run(lambda get, a=a, b=b: merkle.consistency_proof(get, a, b))
        if a < b:
            assert set(proofs.inclusion_keys(a, b)) == dry_run(lambda get, a=a, b=b: merkle.inclusion_proof(get, a, b))
    for bad in ((5, 3), (-1, 3), (3, 3)):
        assert proofs.inclusion_keys(*bad) == []
    assert proofs.consistency_keys(5, 3) == []


def test_an_index_taken_behind_the_heads_back_refuses_the_append_with_an_integrity_error(db):
    from sqlalchemy.exc import IntegrityError

    append(db, 2)
    with db.transaction() as session:
        session.execute(text("UPDATE ledger_head SET size = 1"))
    for appending in (lambda s: record_custody_event(s, type="viewed", evidence_id="x", actor_id="a", sha256=SHA),
                      lambda s: record_custody_events(s, batch_fields(3))):
        with pytest.raises(IntegrityError):
            with db.transaction() as session:
                appending(session)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CustodyEvent)) == 2


def test_a_head_is_signed_only_once_the_leaves_it_covers_are_on_disk(db, settings, monkeypatch):
    """SQLite commits with synchronous=NORMAL (fdatasync at WAL checkpoints only): issuing a head
    fdatasyncs the WAL first, so a power loss cannot take back leaves a signed head covers."""
    import os

    from core.keys import load_signer

    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL commits are durable already")
    append(db, 3)
    signer = load_signer(settings)
    synced, real_fdatasync = [], os.fdatasync

    def fdatasync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    with db.transaction() as session:
        assert checkpoints.issue_checkpoint(session, signer, "test.example/log").tree_size == 3
    wal = str(settings.database_url.removeprefix("sqlite:///")) + "-wal"
    assert synced == [os.path.realpath(wal)]
    with db.transaction() as session:  # nothing new to vouch for: no sync
        checkpoints.issue_checkpoint(session, signer, "test.example/log", only_if_changed=True)
    assert len(synced) == 1
