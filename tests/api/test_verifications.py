"""Verification catches tampering: each test tampers directly (files or SQL), runs a
verification through the API, and asserts the report names the item and the problem.

The evidence items table belongs to the evidence service; these tests use a stand-in table
with the contract the verification relies on (id, case_id, sha256, size, status), so they
judge the verification alone, whatever else an evidence row carries.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.clock import new_id
from custody import jobs, sweep, verification
from custody.append import record_custody_event
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.leaf import canonical_leaf, leaf_hash_hex
from custody.models import CustodyEvent, Verification


class _StandInBase(DeclarativeBase):
    pass


class StandInEvidenceItem(_StandInBase):
    __tablename__ = "verification_test_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(36))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))


# Stand-in items belong to a real case, so that auditors' creditor walls admit them.
_default_case: dict[str, str] = {}


@pytest.fixture
def runtime(app, factory, monkeypatch):
    _default_case["id"] = factory.case()["id"]
    runtime = app.extensions["fieldproof"]
    _StandInBase.metadata.create_all(runtime.db.engine)
    registered = verification.evidence_item_model()
    verification.register_evidence_model(StandInEvidenceItem)
    yield runtime
    verification.register_evidence_model(registered)
    _StandInBase.metadata.drop_all(runtime.db.engine)


@pytest.fixture
def auditor(factory):
    return factory.user("auditor")


def add_item(runtime, content: bytes, case_id: str | None = None, actor_id: str = "collector-1") -> StandInEvidenceItem:
    case_id = case_id or _default_case["id"]
    sha256 = hashlib.sha256(content).hexdigest()
    runtime.blobs.put_file(io.BytesIO(content), sha256, len(content))
    with runtime.db.transaction() as session:
        item = StandInEvidenceItem(id=new_id(), case_id=case_id, sha256=sha256, size=len(content), status="sealed")
        session.add(item)
        for kind in ("created", "sealed"):
            record_custody_event(session, type=kind, evidence_id=item.id, actor_id=actor_id, sha256=sha256,
                                 case_id=case_id)
    return item


def items(runtime, count=3):
    return [add_item(runtime, f"photo bytes {n} ".encode() * 1000) for n in range(count)]


def sql(runtime, statement: str, **params) -> None:
    with runtime.db.transaction() as session:
        session.execute(text(statement), params)


def verify(client, runtime, user, scope="all", subject=None) -> dict:
    body = {"scope": scope} if subject is None else {"scope": scope, "id": subject}
    accepted = client.post("/api/v1/verifications", json=body, headers=user.headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["status"] == "queued"
    assert runtime.jobs.wait_idle()
    report = client.get(f"/api/v1/verifications/{accepted.get_json()['id']}", headers=user.headers)
    assert report.status_code == 200
    return report.get_json()


def problems(report) -> set[tuple]:
    return {(f["problem"], f["evidence_id"]) for f in report["failures"]}


def head(client, user) -> dict:
    return client.get("/api/v1/ledger/head", headers=user.headers).get_json()


def blob_path(settings, sha256):
    return settings.data_dir / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256


# --- an untouched system passes ---------------------------------------------------------------


def test_an_untouched_system_passes_and_the_run_enters_the_ledger(client, runtime, auditor):
    stored = items(runtime)
    head(client, auditor)
    report = verify(client, runtime, auditor)
    assert report["status"] == "passed", report["failures"]
    assert report["failures"] == [] and report["failed"] == 0
    assert report["progress"] == 1.0
    assert report["checked"] >= len(stored) + 6 + 1  # blobs, events, the checkpoint
    assert report["tree_size"] == 6 and report["root_hash"]
    with runtime.db.transaction() as session:
        last = session.scalars(select(CustodyEvent).order_by(CustodyEvent.ledger_index.desc())).first()
    assert last.type == "verified" and last.actor_id == auditor.id
    assert last.details["verification_id"] == report["id"] and last.details["status"] == "passed"
    # the verified event itself verifies on the next run
    assert verify(client, runtime, auditor)["status"] == "passed"


@pytest.mark.parametrize("scope", ["evidence", "case"])
def test_scoped_runs_pass_and_cover_their_subject(client, runtime, auditor, factory, scope):
    case_id = factory.case()["id"]
    stored = [add_item(runtime, f"item {n}".encode(), case_id=case_id) for n in range(3)]
    add_item(runtime, b"another case's item", case_id="case-2")
    subject = stored[1].id if scope == "evidence" else case_id
    report = verify(client, runtime, auditor, scope, subject)
    assert report["status"] == "passed", report["failures"]
    assert report["subject_id"] == subject
    # evidence: one blob and its two events; case: three blobs and six events (plus the checkpoint)
    assert report["checked"] == (1 + 2 + 1 if scope == "evidence" else 3 + 6 + 1)


# --- stored bytes ------------------------------------------------------------------------------


def test_a_flipped_byte_in_a_stored_blob_is_named(client, runtime, auditor, settings):
    stored = items(runtime)
    path = blob_path(settings, stored[1].sha256)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    assert problems(report) == {("blob_hash_mismatch", stored[1].id)}
    assert report["failed"] == 1
    scoped = verify(client, runtime, auditor, "evidence", stored[1].id)
    assert ("blob_hash_mismatch", stored[1].id) in problems(scoped)


def test_a_deleted_blob_is_named(client, runtime, auditor, settings):
    stored = items(runtime)
    blob_path(settings, stored[0].sha256).unlink()
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    assert problems(report) == {("blob_missing", stored[0].id)}


def test_a_recorded_hash_changed_to_match_swapped_bytes_disagrees_with_the_ledger(client, runtime, auditor):
    stored = items(runtime)
    forged = b"other bytes entirely"
    forged_sha = hashlib.sha256(forged).hexdigest()
    runtime.blobs.put_file(io.BytesIO(forged), forged_sha, len(forged))
    sql(runtime, "UPDATE verification_test_items SET sha256 = :sha, size = :size WHERE id = :id",
        sha=forged_sha, size=len(forged), id=stored[2].id)
    report = verify(client, runtime, auditor)
    assert ("evidence_hash_mismatch", stored[2].id) in problems(report)


# --- custody events ----------------------------------------------------------------------------


def test_an_edited_custody_event_is_named(client, runtime, auditor):
    stored = items(runtime)
    head(client, auditor)
    sql(runtime, "UPDATE custody_events SET actor_id = 'mallory' WHERE ledger_index = 3")
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    edited = [f for f in report["failures"] if f["problem"] == "event_edited"]
    assert [(f["ledger_index"], f["evidence_id"]) for f in edited] == [(3, stored[1].id)]
    scoped = verify(client, runtime, auditor, "evidence", stored[1].id)
    assert ("event_edited", stored[1].id) in problems(scoped)


def test_an_event_rewritten_with_a_matching_leaf_and_hash_still_breaks_the_tree(client, runtime, auditor):
    stored = items(runtime)
    head(client, auditor)
    with runtime.db.transaction() as session:
        event = session.get(CustodyEvent, 2)
        fields = {"index": 2, "type": "created", "evidence_id": event.evidence_id, "actor_id": "mallory",
                  "at": "2026-01-01T00:00:00.000000Z", "sha256": event.sha256, "prev_leaf_hash": event.prev_leaf_hash,
                  "case_id": event.case_id}
        leaf = canonical_leaf(fields)
        session.execute(text("UPDATE custody_events SET actor_id = 'mallory', at = :at, leaf = :leaf, "
                             "leaf_hash = :hash WHERE ledger_index = 2"),
                        {"at": event.at.replace(year=2026, month=1, day=1, hour=0, minute=0, second=0, microsecond=0,
                                                tzinfo=None),
                         "leaf": leaf.decode(), "hash": leaf_hash_hex(leaf)})
    report = verify(client, runtime, auditor)
    found = problems(report)
    assert ("node_mismatch", stored[1].id) in found  # the stored leaf hash no longer matches
    assert ("leaf_chain_broken", stored[1].id) in found  # the next leaf names the old hash


def test_a_deleted_custody_event_is_named(client, runtime, auditor):
    stored = items(runtime)
    sql(runtime, "DELETE FROM custody_events WHERE ledger_index = 2")
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    missing = [f for f in report["failures"] if f["problem"] == "event_missing"]
    assert [f["ledger_index"] for f in missing] == [2]
    assert {p for p, _ in problems(report)} == {"event_missing"}  # the rest still chains through the stored hash
    scoped = verify(client, runtime, auditor, "evidence", stored[1].id)
    assert "event_missing" in {f["problem"] for f in scoped["failures"]}


def test_reordered_custody_events_are_named(client, runtime, auditor):
    stored = items(runtime)
    sql(runtime, "UPDATE custody_events SET ledger_index = -1 WHERE ledger_index = 1")
    sql(runtime, "UPDATE custody_events SET ledger_index = 1 WHERE ledger_index = 2")
    sql(runtime, "UPDATE custody_events SET ledger_index = 2 WHERE ledger_index = -1")
    report = verify(client, runtime, auditor)
    moved = {(f["ledger_index"], f["evidence_id"]) for f in report["failures"]
             if f["problem"] == "ledger_index_mismatch"}
    assert moved == {(1, stored[1].id), (2, stored[0].id)}


def test_an_inserted_leaf_is_named(client, runtime, auditor):
    stored = items(runtime)
    with runtime.db.transaction() as session:
        before = session.get(CustodyEvent, 1)
        # shift everything from index 2 up by one, then slip a well-formed leaf in at 2
        session.execute(text("UPDATE custody_events SET ledger_index = ledger_index + 1000 WHERE ledger_index >= 2"))
        session.execute(text("UPDATE custody_events SET ledger_index = ledger_index - 999 WHERE ledger_index >= 1000"))
        fields = {"index": 2, "type": "viewed", "evidence_id": stored[0].id, "actor_id": "mallory",
                  "at": "2026-01-01T00:00:00.000000Z", "sha256": stored[0].sha256,
                  "prev_leaf_hash": before.leaf_hash, "case_id": "case-1"}
        leaf = canonical_leaf(fields)
        session.execute(text("INSERT INTO custody_events (ledger_index, type, evidence_id, case_id, actor_id, at, "
                             "sha256, details, leaf, leaf_hash, prev_leaf_hash) VALUES (2, 'viewed', :evidence, "
                             "'case-1', 'mallory', '2026-01-01 00:00:00', :sha, NULL, :leaf, :hash, :prev)"),
                        {"evidence": stored[0].id, "sha": stored[0].sha256, "leaf": leaf.decode(),
                         "hash": leaf_hash_hex(leaf), "prev": before.leaf_hash})
    report = verify(client, runtime, auditor)
    found = problems(report)
    assert ("node_mismatch", stored[0].id) in found  # the forged leaf is not the stored leaf 2
    assert ("head_mismatch", None) in found  # one leaf more than the tree was built from
    assert "ledger_index_mismatch" in {p for p, _ in found}  # every shifted leaf says where it was


def test_a_leaf_appended_behind_the_ledgers_back_is_named(client, runtime, auditor):
    stored = items(runtime, 1)
    with runtime.db.transaction() as session:
        last = session.get(CustodyEvent, 1)
        fields = {"index": 2, "type": "viewed", "evidence_id": stored[0].id, "actor_id": "mallory",
                  "at": "2026-01-01T00:00:00.000000Z", "sha256": stored[0].sha256,
                  "prev_leaf_hash": last.leaf_hash, "case_id": "case-1"}
        leaf = canonical_leaf(fields)
        session.execute(text("INSERT INTO custody_events (ledger_index, type, evidence_id, case_id, actor_id, at, "
                             "sha256, details, leaf, leaf_hash, prev_leaf_hash) VALUES (2, 'viewed', :evidence, "
                             "'case-1', 'mallory', '2026-01-01 00:00:00', :sha, NULL, :leaf, :hash, :prev)"),
                        {"evidence": stored[0].id, "sha": stored[0].sha256, "leaf": leaf.decode(),
                         "hash": leaf_hash_hex(leaf), "prev": last.leaf_hash})
    report = verify(client, runtime, auditor)
    found = problems(report)
    assert ("node_missing", stored[0].id) in found and ("head_mismatch", None) in found
    # index 2 is taken behind the head's back, so the run's own "verified" event is refused (and said so)
    assert "could not be appended" in report["error"]


def test_a_tampered_node_table_is_named(client, runtime, auditor):
    items(runtime, 3)  # 6 leaves: node (1, 2) over leaves 4..5 is on the right edge
    head(client, auditor)
    sql(runtime, "UPDATE ledger_nodes SET hash = :forged WHERE level = 1 AND node_index = 2", forged=bytes(32))
    quiet = verify(client, runtime, auditor)
    assert {(f["subject"], f["problem"]) for f in quiet["failures"]} >= {("ledger node 1/2", "node_mismatch")}
    items(runtime, 1)  # later nodes and heads are now built on the forged node
    report = verify(client, runtime, auditor)
    found = {f["problem"] for f in report["failures"]}
    assert {"node_mismatch", "consistency_failed", "root_mismatch"} <= found


# --- checkpoints and keys ----------------------------------------------------------------------


def test_a_forged_checkpoint_is_named(client, runtime, auditor):
    items(runtime)
    kept = head(client, auditor)
    forged_body = kept["checkpoint"].replace(kept["checkpoint"].split("\n")[2], base64.b64encode(bytes(32)).decode())
    sql(runtime, "UPDATE checkpoints SET body = :body, root_hash = :root WHERE id = :id",
        body=forged_body, root="00" * 32, id=kept["id"])
    report = verify(client, runtime, auditor)
    problems = {(f["subject"], f["problem"]) for f in report["failures"]}
    assert problems == {(f"checkpoint {kept['id']}", "signature_invalid")}


def test_an_altered_checkpoint_signature_is_named(client, runtime, auditor):
    items(runtime)
    kept = head(client, auditor)
    signature = bytearray(base64.b64decode(kept["signature"]))
    signature[0] ^= 0x80
    sql(runtime, "UPDATE checkpoints SET signature = :signature WHERE id = :id",
        signature=base64.b64encode(bytes(signature)).decode(), id=kept["id"])
    report = verify(client, runtime, auditor)
    problems = {(f["subject"], f["problem"]) for f in report["failures"]}
    assert problems == {(f"checkpoint {kept['id']}", "signature_invalid")}


def test_a_checkpoint_signed_with_a_key_planted_in_the_database_is_named(client, runtime, auditor):
    items(runtime)
    with runtime.db.transaction() as session:
        root = merkle.root_from_leaves([e.leaf.encode() for e in
                                        session.scalars(select(CustodyEvent).order_by(CustodyEvent.ledger_index))])
    rogue = Ed25519PrivateKey.generate()
    raw = rogue.public_key().public_bytes_raw()
    signed = c2sp.sign_checkpoint(rogue, c2sp.Checkpoint("fieldproof.local/custody", 6, root))
    sql(runtime, "INSERT INTO signing_keys (key_id, algorithm, public_key, public_key_pem, created_at) "
                 "VALUES (:kid, 'ed25519', :raw, 'rogue', '2026-01-01 00:00:00')", kid=c2sp.key_id(raw), raw=raw)
    sql(runtime, "INSERT INTO checkpoints (tree_size, root_hash, body, signature, key_id, issued_at) "
                 "VALUES (6, :root, :body, :sig, :kid, '2026-01-01 00:00:00')",
        root=root.hex(), body=signed.body().decode(), sig=signed.signature_b64, kid=c2sp.key_id(raw))
    report = verify(client, runtime, auditor)
    assert "signing_key_unknown" in {f["problem"] for f in report["failures"]}
    assert report["status"] == "failed"


def test_a_log_rolled_back_to_an_earlier_state_is_caught_by_a_kept_checkpoint(client, runtime, auditor):
    stored = items(runtime, 2)  # leaves 0..3
    early = head(client, auditor)
    items(runtime, 2)  # leaves 4..7
    late = head(client, auditor)
    assert late["tree_size"] == 8
    # roll back to the early state: later events, nodes over them and the head all rewritten
    with runtime.db.transaction() as session:
        fourth = session.get(CustodyEvent, 3)
        session.execute(text("DELETE FROM custody_events WHERE ledger_index >= 4"))
        session.execute(text("DELETE FROM ledger_nodes WHERE (node_index + 1) * (1 << level) > 4"))
        session.execute(text("UPDATE ledger_head SET size = 4, last_leaf_hash = :h"), {"h": fourth.leaf_hash})
    report = verify(client, runtime, auditor, "evidence", stored[0].id)
    regressed = [f for f in report["failures"] if f["problem"] == "tree_size_regressed"]
    assert [f["subject"] for f in regressed] == [f"checkpoint {late['id']}"]
    assert early["tree_size"] == 4
    everything = verify(client, runtime, auditor)
    assert "tree_size_regressed" in {f["problem"] for f in everything["failures"]}


def test_a_rollback_that_also_deletes_the_head_row_is_caught(client, runtime, auditor):
    items(runtime, 2)
    head(client, auditor)
    items(runtime, 1)
    late = head(client, auditor)
    sql(runtime, "DELETE FROM custody_events WHERE ledger_index >= 4")
    sql(runtime, "DELETE FROM ledger_nodes WHERE (node_index + 1) * (1 << level) > 4")
    sql(runtime, "DELETE FROM ledger_head")
    report = verify(client, runtime, auditor)
    found = {(f["subject"], f["problem"]) for f in report["failures"]}
    assert (f"checkpoint {late['id']}", "tree_size_regressed") in found


# --- the API around it -------------------------------------------------------------------------


def test_only_auditors_and_admins_verify(client, runtime, factory):
    for role in ("collector", "supervisor", "legal"):
        user = factory.user(role)
        assert client.post("/api/v1/verifications", json={"scope": "all"}, headers=user.headers).status_code == 403
    admin = factory.user("admin")
    assert verify(client, runtime, admin)["status"] == "passed"
    assert client.get("/api/v1/verifications", headers=admin.headers).status_code == 200
    assert client.post("/api/v1/verifications", json={"scope": "all"}).status_code == 401


@pytest.mark.parametrize("body, status", [
    ({"scope": "all", "id": "x"}, 422),
    ({"scope": "evidence"}, 422),
    ({"scope": "everything"}, 422),
    ({"scope": "evidence", "id": "no-such-item"}, 404),
    ({"scope": "case", "id": "no-such-case"}, 404),
])
def test_bad_requests_are_refused(client, runtime, auditor, body, status):
    response = client.post("/api/v1/verifications", json=body, headers=auditor.headers)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"


def test_an_unknown_verification_is_404(client, auditor):
    assert client.get(f"/api/v1/verifications/{new_id()}", headers=auditor.headers).status_code == 404


def test_a_finished_run_delivered_again_does_nothing(client, runtime, auditor):
    items(runtime, 1)
    report = verify(client, runtime, auditor)
    with runtime.db.transaction() as session:
        size = session.scalar(text("SELECT count(*) FROM custody_events"))
    jobs.run_verification(runtime, report["id"])
    with runtime.db.transaction() as session:
        assert session.scalar(text("SELECT count(*) FROM custody_events")) == size


def test_the_contract_columns_exist_on_the_real_evidence_item():
    from evidence.models import EvidenceItem

    assert {"id", "case_id", "sha256", "size", "status"} <= set(EvidenceItem.__table__.columns.keys())


# --- the streaming re-hash --------------------------------------------------------------------


class _StreamOnlyStore:
    """A blob store whose objects are plain streams (as S3 bodies are), with or without readinto."""

    def __init__(self, blobs: dict[str, bytes], readinto: bool):
        self.blobs = blobs
        self.readinto = readinto

    def open(self, sha256):
        content = self.blobs[sha256]
        if self.readinto:
            return io.BytesIO(content)

        class ReadOnly(io.RawIOBase):
            def __init__(self):
                self.inner = io.BytesIO(content)

            def read(self, size=-1):
                return self.inner.read(size)

            readinto = None

        return ReadOnly()


@pytest.mark.parametrize("size", [0, 1, sweep.READ_SIZE - 1, sweep.READ_SIZE, 3 * sweep.READ_SIZE + 17])
def test_hash_blob_gives_the_sha256_and_length_from_a_file_and_from_streams(tmp_path, size):
    from evidence.storage.filesystem import FilesystemBlobStore

    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sha256 = hashlib.sha256(content).hexdigest()
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.put_file(io.BytesIO(content), sha256, len(content))
    assert sweep.hash_blob(store, sha256) == (sha256, size)
    for readinto in (True, False):
        assert sweep.hash_blob(_StreamOnlyStore({sha256: content}, readinto), sha256) == (sha256, size)


def test_hash_blob_reads_the_bytes_on_disk_not_a_cached_answer(tmp_path):
    from evidence.storage.filesystem import FilesystemBlobStore

    content = b"evidence " * 300_000
    sha256 = hashlib.sha256(content).hexdigest()
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.put_file(io.BytesIO(content), sha256, len(content))
    path = tmp_path / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256
    path.chmod(0o644)
    with open(path, "r+b") as handle:
        handle.seek(len(content) - 1)
        handle.write(b"X")
    digest, length = sweep.hash_blob(store, sha256)
    assert (digest, length) == (hashlib.sha256(content[:-1] + b"X").hexdigest(), len(content))
    with open(path, "ab") as handle:  # bytes appended behind the store's back count too
        handle.write(b"more")
    assert sweep.hash_blob(store, sha256) == (hashlib.sha256(content[:-1] + b"Xmore").hexdigest(),
                                              len(content) + 4)


def test_hash_blob_reports_a_blob_truncated_while_it_is_read(tmp_path, monkeypatch):
    """No memory maps: a file cut short under the sweep gives a short length, never SIGBUS."""
    from evidence.storage.filesystem import FilesystemBlobStore

    content = os.urandom(8 << 20)
    sha256 = hashlib.sha256(content).hexdigest()
    store = FilesystemBlobStore(tmp_path / "blobs")
    store.put_file(io.BytesIO(content), sha256, len(content))
    path = tmp_path / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256
    path.chmod(0o644)
    opened = store.open

    class CutAfterFirstRead(io.RawIOBase):
        def __init__(self, stream):
            super().__init__()
            self.stream, self.reads = stream, 0

        def readable(self):
            return True

        def readinto(self, buffer):
            self.reads += 1
            if self.reads == 2:  # after the first block
                os.truncate(path, 300_000)
            return self.stream.readinto(buffer)

        def close(self):
            self.stream.close()
            super().close()

    monkeypatch.setattr(store, "open", lambda sha: CutAfterFirstRead(opened(sha)))
    digest, length = sweep.hash_blob(store, sha256)  # what the store had read ahead still counts
    assert length < len(content) and digest == hashlib.sha256(content[:length]).hexdigest()


# --- checkpoints the auditor kept ----------------------------------------------------------------


def roll_back_to(runtime, size: int, *, delete_checkpoints_above: int | None = None) -> None:
    """The attacker's SQL: later events, the nodes over them, the head and (optionally) every
    checkpoint that would give the rollback away."""
    with runtime.db.transaction() as session:
        last = session.get(CustodyEvent, size - 1)
        session.execute(text("DELETE FROM custody_events WHERE ledger_index >= :n"), {"n": size})
        session.execute(text("DELETE FROM ledger_nodes WHERE (node_index + 1) * (1 << level) > :n"), {"n": size})
        session.execute(text("UPDATE ledger_head SET size = :n, last_leaf_hash = :h"),
                        {"n": size, "h": last.leaf_hash})
        if delete_checkpoints_above is not None:
            session.execute(text("DELETE FROM checkpoints WHERE tree_size > :n"), {"n": delete_checkpoints_above})


def check_kept(client, user, note: str):
    return client.post("/api/v1/ledger/checkpoints/verify", json={"note": note}, headers=user.headers)


def test_a_kept_checkpoint_of_an_untouched_log_passes_with_a_proof_to_check_yourself(client, runtime, auditor):
    items(runtime, 2)
    kept = head(client, auditor)
    items(runtime, 1)
    response = check_kept(client, auditor, kept["note"])
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["status"] == "passed" and result["failures"] == []
    assert (result["tree_size"], result["root_hash"], result["key_id"]) == (4, kept["root_hash"], kept["key_id"])
    current = result["current"]
    assert current["tree_size"] == 6
    # the auditor's own check, with the RFC and the public key alone
    merkle.verify_consistency(4, 6, [bytes.fromhex(h) for h in result["proof"]],
                              bytes.fromhex(kept["root_hash"]), bytes.fromhex(current["root_hash"]))
    public = client.get("/api/v1/ledger/public-key", headers=auditor.headers).get_json()
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public["public_key"]))
    c2sp.verify_checkpoint_signature(key, current["checkpoint"].encode(), base64.b64decode(current["signature"]))
    # the same head is served again while nothing changes (no checkpoint per request)
    assert check_kept(client, auditor, kept["note"]).get_json()["current"]["id"] == current["id"]


def test_a_rollback_that_deleted_the_later_checkpoints_is_named_by_a_kept_one(client, runtime, auditor):
    stored = items(runtime, 2)  # leaves 0..3
    head(client, auditor)
    items(runtime, 2)  # leaves 4..7
    kept = head(client, auditor)
    assert kept["tree_size"] == 8
    roll_back_to(runtime, 4, delete_checkpoints_above=4)
    # the server's own records no longer show it: every checkpoint it keeps is consistent
    report = verify(client, runtime, auditor, "evidence", stored[0].id)
    assert "tree_size_regressed" not in {f["problem"] for f in report["failures"]}
    result = check_kept(client, auditor, kept["note"]).get_json()
    assert result["status"] == "failed"
    assert [f["problem"] for f in result["failures"]] == ["tree_size_regressed"]
    assert "rolled back" in result["failures"][0]["detail"]
    assert result["current"]["tree_size"] == 5 and result["tree_size"] == 8  # 4 + the run's verified event
    # the same note handed to a verification run
    accepted = client.post("/api/v1/verifications", json={"scope": "all", "checkpoints": [kept["note"]]},
                           headers=auditor.headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert runtime.jobs.wait_idle()
    run = client.get(f"/api/v1/verifications/{accepted.get_json()['id']}", headers=auditor.headers).get_json()
    assert run["status"] == "failed" and run["kept_checkpoints"] == 1
    assert ("kept checkpoint 1", "tree_size_regressed") in {(f["subject"], f["problem"]) for f in run["failures"]}


def test_a_log_rewritten_back_to_the_same_size_fails_consistency(client, runtime, auditor):
    items(runtime, 2)
    kept = head(client, auditor)  # 4 leaves
    items(runtime, 1)  # 6 leaves, then rewritten: the leaves after 2 replaced, same size
    head(client, auditor)
    with runtime.db.transaction() as session:
        session.execute(text("DELETE FROM custody_events WHERE ledger_index >= 2"))
        session.execute(text("DELETE FROM ledger_nodes WHERE (node_index + 1) * (1 << level) > 2"))
        session.execute(text("UPDATE ledger_head SET size = 2, last_leaf_hash = :h"),
                        {"h": session.get(CustodyEvent, 1).leaf_hash})
        session.execute(text("DELETE FROM checkpoints"))
    with runtime.db.transaction() as session:
        for n in range(4):
            record_custody_event(session, type="viewed", evidence_id=f"forged-{n}", actor_id="x", sha256="cd" * 32)
    result = check_kept(client, auditor, kept["note"]).get_json()
    assert result["current"]["tree_size"] == 6
    assert result["status"] == "failed"
    assert [f["problem"] for f in result["failures"]] == ["consistency_failed"]


def test_a_kept_checkpoint_must_verify_with_a_key_the_ledger_holds(client, runtime, auditor):
    items(runtime, 1)
    kept = head(client, auditor)
    body, line = kept["note"].split("\n\n")
    name, _, blob = line.rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    altered = f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    assert [f["problem"] for f in check_kept(client, auditor, altered).get_json()["failures"]] == ["signature_invalid"]
    # a forged note: another size, signed by a key the server does not hold
    forger = Ed25519PrivateKey.generate()
    forged = c2sp.sign_checkpoint(forger, c2sp.Checkpoint(runtime.settings.ledger_origin, 1, bytes(32)))
    note = c2sp.signed_note(forged, forger.public_key()).decode()
    result = check_kept(client, auditor, note).get_json()
    assert result["status"] == "failed" and result["key_id"] is None
    assert [f["problem"] for f in result["failures"]] == ["signing_key_unknown"]
    # body edited under a valid signature line
    edited = kept["note"].replace(f"\n{kept['tree_size']}\n", f"\n{kept['tree_size'] + 1}\n", 1)
    assert [f["problem"] for f in check_kept(client, auditor, edited).get_json()["failures"]] == ["signature_invalid"]


@pytest.mark.parametrize("note", ["not a note", "origin\n1\nAAAA\n\nno dash line\n", ""])
def test_what_is_not_a_signed_note_is_refused(client, runtime, auditor, note):
    response = check_kept(client, auditor, note)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_only_auditors_and_admins_check_kept_checkpoints(client, runtime, factory, auditor):
    kept = head(client, auditor)
    for role in ("collector", "supervisor", "legal"):
        assert check_kept(client, factory.user(role), kept["note"]).status_code == 403
    assert check_kept(client, factory.user("admin"), kept["note"]).status_code == 200
    assert client.post("/api/v1/ledger/checkpoints/verify", json={"note": kept["note"]}).status_code == 401


# --- runs lost with their process ----------------------------------------------------------------


def lost_run(runtime, auditor, status: str, heartbeat_age_seconds: float | None, created_age_seconds: float = 120):
    """A verification row as a dead process leaves it: nothing in any queue works on it."""
    from datetime import timedelta

    from core.clock import utcnow

    now = utcnow()
    with runtime.db.transaction() as session:
        row = Verification(
            scope="all", subject_id=None, requested_by=auditor.id, status=status, progress=0.3 if status == "running"
            else 0.0, checked=0, failed=0, failures=[], created_at=now - timedelta(seconds=created_age_seconds),
            started_at=now - timedelta(seconds=100) if status == "running" else None, attempts=1 if status == "running"
            else 0, runner="dead-runner" if status == "running" else None,
            heartbeat_at=None if heartbeat_age_seconds is None else now - timedelta(seconds=heartbeat_age_seconds))
        session.add(row)
        session.flush()
        return row.id


def test_queued_and_running_verifications_of_a_dead_process_are_resubmitted_and_finish(client, runtime, auditor):
    items(runtime, 1)
    queued = lost_run(runtime, auditor, "queued", None)
    running = lost_run(runtime, auditor, "running", jobs.STALE_AFTER_SECONDS + 5)
    alive = lost_run(runtime, auditor, "running", 1)  # another process is on it: left alone
    fresh = lost_run(runtime, auditor, "queued", None, created_age_seconds=1)  # its job is on its way
    resubmitted = jobs.resume_verifications(runtime)
    assert set(resubmitted) == {queued, running}
    assert runtime.jobs.wait_idle()
    for verification_id in (queued, running):
        report = client.get(f"/api/v1/verifications/{verification_id}", headers=auditor.headers).get_json()
        assert report["status"] == "passed", report
        assert report["progress"] == 1.0
    assert client.get(f"/api/v1/verifications/{running}", headers=auditor.headers).get_json()["attempts"] == 2
    assert client.get(f"/api/v1/verifications/{alive}", headers=auditor.headers).get_json()["status"] == "running"
    # at start-up nothing queued is young enough to wait for
    assert jobs.resume_verifications(runtime, queued_grace_seconds=0) == [fresh]
    assert runtime.jobs.wait_idle()
    # a delivery of a run that another runner holds with a live lease does nothing
    jobs.run_verification(runtime, alive)
    with runtime.db.transaction() as session:
        row = session.get(Verification, alive)
        assert (row.status, row.runner, row.attempts) == ("running", "dead-runner", 1)


def test_a_run_taken_over_after_its_lease_lapsed_leaves_the_report_to_the_new_runner(client, runtime, auditor,
                                                                                      monkeypatch):
    items(runtime, 1)
    verification_id = lost_run(runtime, auditor, "queued", None)
    original = sweep.Sweep.run

    def slow_run(sweep):
        report = original(sweep)
        # meanwhile the lease lapsed and another runner claimed the run
        sql(runtime, "UPDATE verifications SET runner = 'other-runner' WHERE id = :id", id=verification_id)
        return report

    monkeypatch.setattr(sweep.Sweep, "run", slow_run)
    jobs.run_verification(runtime, verification_id)
    with runtime.db.transaction() as session:
        row = session.get(Verification, verification_id)
        assert row.status == "running" and row.runner == "other-runner" and row.finished_at is None


def test_the_heartbeat_renews_the_lease_while_a_run_works(client, runtime, auditor, monkeypatch):
    import time as real_time

    items(runtime, 1)
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.05)
    verification_id = lost_run(runtime, auditor, "queued", None)
    beats = []
    original = sweep.Sweep.run

    def slow_run(sweep):
        for _ in range(3):
            real_time.sleep(0.15)
            with runtime.db.transaction() as session:
                beats.append(session.get(Verification, verification_id).heartbeat_at)
        return original(sweep)

    monkeypatch.setattr(sweep.Sweep, "run", slow_run)
    jobs.run_verification(runtime, verification_id)
    assert beats == sorted(beats) and len(set(beats)) == 3


def test_the_scheduler_resubmits_lost_runs_at_start(monkeypatch):
    from custody.jobs import CheckpointScheduler

    submitted = []

    class Jobs:
        def submit(self, name, payload):
            submitted.append((name, payload))

    class Runtime:
        jobs = Jobs()

    scheduler = CheckpointScheduler(Runtime(), interval_seconds=3600)
    scheduler.start()
    try:
        for _ in range(100):
            if submitted:
                break
            import time

            time.sleep(0.01)
    finally:
        scheduler.stop()
    assert submitted[0] == ("verification.resume", {"queued_grace_seconds": 0})


def test_a_celery_worker_resubmits_lost_runs_when_it_starts(client, runtime, auditor, monkeypatch):
    """The Celery topology has no embedded scheduler: the worker's `worker_ready` does its start-up
    resume, through the broker (here a recorder: no broker needed)."""
    from celery import Celery
    from celery.signals import worker_ready

    from api.worker import make_celery
    from core.jobs import run_job

    items(runtime, 1)
    lost = lost_run(runtime, auditor, "running", jobs.STALE_AFTER_SECONDS + 5)
    celery_app = make_celery(runtime.settings.with_overrides(jobs="celery", broker_url="memory://"))
    sent = []

    def send_task(name, args=(), countdown=None, **_options):
        sent.append((name, args, countdown))

    class Consumer:  # what `worker_ready` is sent with: the worker's consumer, which knows its app
        def __init__(self, app):
            self.app = app

    monkeypatch.setattr(celery_app, "send_task", send_task)
    # what celery.apps.worker does once the worker's consumer is ready
    worker_ready.send(sender=Consumer(celery_app))
    assert [(name, args) for name, args, _ in sent] == [("fieldproof.run_job", ("verification.resume", {}))] * 2
    assert sent[0][2] is None and sent[1][2] > jobs.STALE_AFTER_SECONDS  # now, and once a fresh lease lapsed
    run_job(runtime, *sent[0][1])  # what a pool process does with the message
    assert runtime.jobs.wait_idle()
    report = client.get(f"/api/v1/verifications/{lost}", headers=auditor.headers).get_json()
    assert (report["status"], report["attempts"]) == ("passed", 2), report
    # a worker of some other Celery app in the same process is none of ours
    other = Celery("other", broker="memory://", set_as_current=False)
    monkeypatch.setattr(other, "send_task", send_task)
    sent.clear()
    worker_ready.send(sender=Consumer(other))
    assert sent == []
