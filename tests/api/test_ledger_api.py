"""The ledger over HTTP: what an auditor's own tools need, checked with the RFC math alone."""
from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from api.cli import main
from core.errors import ConfigurationError
from core.jobs import run_job
from core.keys import key_path, load_signer, read_key_file
from custody.append import record_custody_event
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.jobs import CheckpointScheduler

SHA = "cd" * 32


@pytest.fixture
def runtime(app):
    return app.extensions["fieldproof"]


def append(runtime, count):
    with runtime.db.transaction() as session:
        for number in range(count):
            record_custody_event(session, type="viewed", evidence_id=f"item-{number}", actor_id="actor", sha256=SHA)


def leaves(runtime):
    from sqlalchemy import select

    from custody.models import CustodyEvent

    with runtime.db.transaction() as session:
        return [e.leaf.encode() for e in session.scalars(select(CustodyEvent).order_by(CustodyEvent.ledger_index))]


def public_key(client, headers, key_id=None):
    query = f"?key_id={key_id}" if key_id else ""
    body = client.get(f"/api/v1/ledger/public-key{query}", headers=headers).get_json()
    return serialization.load_pem_public_key(body["public_key_pem"].encode()), body


def test_head_is_a_signed_c2sp_checkpoint_of_the_leaves(client, factory, runtime):
    auditor = factory.user("auditor")
    append(runtime, 11)
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    key, key_body = public_key(client, auditor.headers)
    checkpoint = c2sp.verify_checkpoint_signature(key, head["checkpoint"].encode(), base64.b64decode(head["signature"]))
    root = merkle.root_from_leaves(leaves(runtime))
    assert (checkpoint.tree_size, checkpoint.root_hash) == (11, root)
    assert head["tree_size"] == 11 and head["root_hash"] == root.hex()
    assert head["checkpoint"] == f"fieldproof.local/custody\n11\n{base64.b64encode(root).decode()}\n"
    assert head["key_id"] == key_body["key_id"] == c2sp.key_id(key.public_bytes_raw())
    assert key_body["algorithm"] == "ed25519" and key_body["current"] is True
    signed = c2sp.parse_signed_note(head["note"].encode(), key)
    assert signed.signature == base64.b64decode(head["signature"])


def test_head_signs_again_only_when_the_tree_grew(client, factory, runtime):
    reader = factory.user("collector")
    first = client.get("/api/v1/ledger/head", headers=reader.headers).get_json()
    assert first["tree_size"] == 0 and first["root_hash"] == merkle.EMPTY_ROOT.hex()
    assert client.get("/api/v1/ledger/head", headers=reader.headers).get_json()["id"] == first["id"]
    append(runtime, 2)
    second = client.get("/api/v1/ledger/head", headers=reader.headers).get_json()
    assert second["id"] != first["id"] and second["tree_size"] == 2
    listed = client.get("/api/v1/ledger/checkpoints", headers=reader.headers)
    assert [c["id"] for c in listed.get_json()] == [second["id"], first["id"]]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2


def test_proofs_verify_against_signed_heads(client, factory, runtime):
    legal = factory.user("legal")
    append(runtime, 6)
    older = client.get("/api/v1/ledger/head", headers=legal.headers).get_json()
    append(runtime, 7)
    newer = client.get("/api/v1/ledger/head", headers=legal.headers).get_json()
    all_leaves = leaves(runtime)
    for index in (0, 5, 12):
        proof = client.get(f"/api/v1/ledger/proofs/inclusion?index={index}&tree_size=13",
                           headers=legal.headers).get_json()
        assert proof["index"] == index and proof["tree_size"] == 13
        merkle.verify_inclusion(index, 13, merkle.leaf_hash(all_leaves[index]),
                                [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(newer["root_hash"]))
    proof = client.get("/api/v1/ledger/proofs/consistency?first=6&second=13", headers=legal.headers).get_json()
    assert (proof["first"], proof["second"]) == (6, 13)
    merkle.verify_consistency(6, 13, [bytes.fromhex(h) for h in proof["proof"]],
                              bytes.fromhex(older["root_hash"]), bytes.fromhex(newer["root_hash"]))
    # without tree_size / second: the current tree
    current = client.get("/api/v1/ledger/proofs/inclusion?index=3", headers=legal.headers).get_json()
    assert current["tree_size"] == 13


@pytest.mark.parametrize("query", [
    "inclusion?index=5&tree_size=5", "inclusion?index=0&tree_size=9", "inclusion?index=-1",
    "inclusion?index=x", "inclusion", "consistency?first=4&second=3", "consistency?first=1&second=99",
])
def test_impossible_proofs_are_422(client, factory, runtime, query):
    append(runtime, 5)
    response = client.get(f"/api/v1/ledger/proofs/{query}", headers=factory.user("supervisor").headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_ledger_reads_need_a_token_and_issuing_needs_auditor_or_admin(client, factory):
    assert client.get("/api/v1/ledger/head").status_code == 401
    assert client.get("/api/v1/ledger/public-key").status_code == 401
    assert client.post("/api/v1/ledger/checkpoints", headers=factory.user("collector").headers).status_code == 403
    assert client.post("/api/v1/ledger/checkpoints", headers=factory.user("supervisor").headers).status_code == 403
    issued = client.post("/api/v1/ledger/checkpoints", headers=factory.user("auditor").headers)
    assert issued.status_code == 201 and issued.get_json()["tree_size"] == 0
    assert client.post("/api/v1/ledger/checkpoints", headers=factory.user("admin").headers).status_code == 201


def test_an_unknown_key_id_is_404(client, factory):
    response = client.get(f"/api/v1/ledger/public-key?key_id={'0' * 64}", headers=factory.user("auditor").headers)
    assert response.status_code == 404


def cli(settings, *args):
    env = {"FIELDPROOF_DATA_DIR": str(settings.data_dir), "FIELDPROOF_DATABASE_URL": settings.database_url,
           "FIELDPROOF_SECRET_KEY": settings.secret_key, "FIELDPROOF_STORAGE_URL": settings.storage_url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_rotation_signs_new_heads_with_the_new_key_and_old_heads_still_verify(client, factory, runtime, settings):
    auditor = factory.user("auditor")
    append(runtime, 3)
    old_head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    result = cli(settings, "keys", "rotate")
    assert result.exit_code == 0, result.output
    append(runtime, 2)
    new_head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    assert new_head["key_id"] != old_head["key_id"]
    new_key, current = public_key(client, auditor.headers)
    assert current["key_id"] == new_head["key_id"]
    c2sp.verify_checkpoint_signature(new_key, new_head["checkpoint"].encode(), base64.b64decode(new_head["signature"]))
    old_key, retired = public_key(client, auditor.headers, old_head["key_id"])
    assert retired["retired_at"] is not None and retired["current"] is False
    c2sp.verify_checkpoint_signature(old_key, old_head["checkpoint"].encode(), base64.b64decode(old_head["signature"]))
    with pytest.raises(c2sp.SignatureError):
        c2sp.verify_checkpoint_signature(new_key, old_head["checkpoint"].encode(),
                                         base64.b64decode(old_head["signature"]))
    keys = client.get("/api/v1/ledger/keys", headers=auditor.headers).get_json()
    assert {k["key_id"] for k in keys} == {old_head["key_id"], new_head["key_id"]}
    # the old key file stays on disk, and the rotation is itself in the ledger
    path = key_path(settings)
    assert read_key_file(path).key_id == new_head["key_id"]
    assert read_key_file(next(path.parent.glob("*.retired.pem"))).key_id == old_head["key_id"]
    assert any(b'"type":"key_rotated"' in leaf and new_head["key_id"].encode() in leaf for leaf in leaves(runtime))


def test_ledger_checkpoint_command_prints_a_signed_note(settings, runtime):
    append(runtime, 4)
    result = cli(settings, "ledger", "checkpoint")
    assert result.exit_code == 0, result.output
    assert "tree size 4" in result.output and "\n— fieldproof.local/custody " in result.output


def test_the_periodic_job_issues_only_when_something_changed(client, factory, runtime):
    reader = factory.user("auditor")
    run_job(runtime, "ledger.issue_checkpoint", {})
    run_job(runtime, "ledger.issue_checkpoint", {})
    assert len(client.get("/api/v1/ledger/checkpoints", headers=reader.headers).get_json()) == 1
    append(runtime, 1)
    runtime.jobs.submit("ledger.issue_checkpoint", {})
    assert runtime.jobs.wait_idle()
    heads = client.get("/api/v1/ledger/checkpoints", headers=reader.headers).get_json()
    assert [h["tree_size"] for h in heads] == [1, 0]


def test_the_scheduler_runs_only_when_an_interval_is_set(settings):
    from api.app import create_app

    quiet = create_app(settings)
    assert "checkpoints" not in quiet.extensions["fieldproof"].extras
    hourly = create_app(settings.with_overrides(checkpoint_interval_seconds=3600))
    scheduler = hourly.extensions["fieldproof"].extras["checkpoints"]
    assert isinstance(scheduler, CheckpointScheduler) and scheduler.interval == 3600
    scheduler.stop()
    for application in (quiet, hourly):
        application.extensions["fieldproof"].db.dispose()


def test_development_generates_a_key_once_and_production_refuses_without_one(settings, tmp_path):
    first = load_signer(settings)
    assert load_signer(settings).key_id == first.key_id  # kept, not regenerated
    production = settings.with_overrides(env="production", signing_key_file=tmp_path / "absent.pem")
    with pytest.raises(ConfigurationError):
        load_signer(production)
    unreadable = tmp_path / "garbage.pem"
    unreadable.write_text("not a key")
    with pytest.raises(ConfigurationError):
        load_signer(production.with_overrides(signing_key_file=unreadable))
    assert load_signer(production.with_overrides(signing_key_file=key_path(settings))).key_id == first.key_id


def test_a_fresh_process_finds_the_custody_jobs_by_name(tmp_path):
    """The embedded runner too: verification runs and checkpoints are submitted by name."""
    import subprocess
    import sys

    script = (
        "from core.settings import Settings\n"
        "from api.app import create_app\n"
        "from core.jobs import job_function\n"
        f"create_app(Settings(env='development', data_dir={str(tmp_path)!r}, database_url='sqlite:///"
        f"{tmp_path}/db.sqlite', storage_url='file://{tmp_path}/blobs', secret_key='s' * 48))\n"
        "for name in ('verification.run', 'verification.resume', 'ledger.issue_checkpoint'):\n"
        "    job_function(name)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
