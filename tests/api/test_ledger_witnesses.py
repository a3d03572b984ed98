"""Witnesses: C2SP verifier keys, cosignatures kept and served, and a witness that refuses split views."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.serving import make_server

from api.cli import main
from custody.append import record_custody_event
from custody.cosigner import WitnessRefusal, WitnessState, check_and_advance
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.cosignature import (
    COSIGNATURE_TYPE,
    cosignature_line,
    find_cosignatures,
    parse_verifier_key,
    verifier_key,
)

SHA = "ab" * 32


@pytest.fixture
def runtime(app):
    return app.extensions["fieldproof"]


def append(runtime, count, prefix="item"):
    with runtime.db.transaction() as session:
        for number in range(count):
            record_custody_event(session, type="viewed", evidence_id=f"{prefix}-{number}", actor_id="a", sha256=SHA)


@contextmanager
def serving(app):
    """The real app behind a real HTTP server on loopback."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def write_key(path):
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def witness(*args, token):
    return CliRunner().invoke(main, ["witness", *args], env={"FIELDPROOF_API_TOKEN": token})


# --- verifier keys against the spec ---------------------------------------------------------------


def test_the_signed_note_spec_example_vkey_parses_and_verifies_its_note():
    vkey = parse_verifier_key("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    note = ("This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Zt"
            "g1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n").encode()
    text, _ = c2sp.open_note(note, vkey.public_key, vkey.name)
    assert text == b"This is an example message.\n"
    assert str(vkey) == "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    with pytest.raises(ValueError, match="key id"):
        parse_verifier_key("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")


def test_public_key_serves_the_c2sp_vkey_of_the_checkpoint_key(client, factory, runtime, settings):
    auditor = factory.user("auditor")
    body = client.get("/api/v1/ledger/public-key", headers=auditor.headers).get_json()
    raw = base64.b64decode(body["public_key"])
    name, key_hash, material = body["vkey"].split("+", 2)
    assert name == settings.ledger_origin
    assert key_hash == hashlib.sha256(name.encode() + b"\x0a\x01" + raw).digest()[:4].hex()
    assert base64.b64decode(material) == b"\x01" + raw
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    vkey = parse_verifier_key(body["vkey"])
    assert c2sp.parse_signed_note(head["note"].encode(), vkey.public_key, vkey.name).checkpoint.tree_size == 0


def test_cosignature_lines_follow_tlog_cosignature():
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    body = b"example.com/log\n3\n" + base64.b64encode(b"\x07" * 32) + b"\n"
    line = cosignature_line(key, "w.example/1", body, 1679315147)
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4] == hashlib.sha256(b"w.example/1\n\x04" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1679315147
    key.public_key().verify(blob[12:], b"cosignature/v1\ntime 1679315147\n" + body)
    vkey = parse_verifier_key(verifier_key("w.example/1", raw, COSIGNATURE_TYPE))
    note = body + b"\n\xe2\x80\x94 example.com/log " + base64.b64encode(b"\0" * 68) + b"\n" + line.encode()
    _, found, errors = find_cosignatures(note, [vkey])
    assert list(found) == ["w.example/1"] and not errors
    tampered = note.replace(b"\n3\n", b"\n4\n")
    _, found, errors = find_cosignatures(tampered, [vkey])
    assert not found and errors[0][1].code == "cosignature_invalid"


# --- the witness's checks, on notes of a log it follows ----------------------------------------------


class Log:
    """A tiny log with its own key: enough to show a witness consistent and forked views."""

    def __init__(self, key=None, origin="log.example/custody"):
        self.key = key or Ed25519PrivateKey.generate()
        self.origin, self.leaves = origin, []
        self.vkey = verifier_key(origin, self.key.public_key().public_bytes_raw())

    def note(self) -> bytes:
        checkpoint = c2sp.Checkpoint(self.origin, len(self.leaves), merkle.root_from_leaves(self.leaves))
        return c2sp.signed_note(c2sp.sign_checkpoint(self.key, checkpoint), self.key.public_key())

    def proof(self, first, second):
        store = merkle.MemoryNodeStore()
        for leaf in self.leaves[:second]:
            store.append(merkle.leaf_hash(leaf))
        return merkle.consistency_proof(store.get_node, first, second)


def test_the_witness_refuses_a_split_view_and_a_rollback():
    log = Log()
    log.leaves = [b"a", b"b", b"c"]
    state, _ = check_and_advance(None, "w", log.vkey, log.note(), log.proof)
    log.leaves += [b"d"]
    state, checkpoint = check_and_advance(state, "w", log.vkey, log.note(), log.proof)
    assert checkpoint.tree_size == 4

    fork = Log(key=log.key)  # the same operator key, another history of the same size
    fork.leaves = [b"a", b"b", b"c", b"X"]
    with pytest.raises(WitnessRefusal) as refused:
        check_and_advance(state, "w", log.vkey, fork.note(), fork.proof)
    assert refused.value.code == "split_view"

    fork.leaves += [b"e"]  # grown past the cosigned size, but not from it
    with pytest.raises(WitnessRefusal) as refused:
        check_and_advance(state, "w", log.vkey, fork.note(), fork.proof)
    assert refused.value.code == "inconsistent"

    log.leaves = log.leaves[:2]
    with pytest.raises(WitnessRefusal) as refused:
        check_and_advance(state, "w", log.vkey, log.note(), log.proof)
    assert refused.value.code == "rollback"

    bogus = c2sp.signed_note(c2sp.sign_checkpoint(log.key, c2sp.Checkpoint(log.origin, 0, b"\x01" * 32)),
                             log.key.public_key())
    with pytest.raises(WitnessRefusal) as refused:
        check_and_advance(None, "w", log.vkey, bogus, log.proof)
    assert refused.value.code == "empty_tree_root"

    stranger = Log(origin=log.origin)
    with pytest.raises(WitnessRefusal) as refused:
        check_and_advance(state, "w", log.vkey, stranger.note(), stranger.proof)
    assert refused.value.code == "log_signature_invalid"


# --- registration and cosignatures over the API -------------------------------------------------------


def test_only_admins_register_witnesses_and_bad_vkeys_are_422(client, factory):
    admin, auditor = factory.user("admin"), factory.user("auditor")
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key("audit.example/w", key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)
    assert client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey},
                       headers=auditor.headers).status_code == 403
    note_key = verifier_key("audit.example/w", key.public_key().public_bytes_raw())  # type 0x01, not a cosigner
    for bad in (vkey[:-3] + "AAA", note_key, vkey.replace("audit.example/w", "other.example/w", 1)):
        answer = client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": bad},
                             headers=admin.headers)
        assert answer.status_code == 422, bad
    assert client.get("/api/v1/ledger/witnesses", headers=auditor.headers).get_json() == []
    created = client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey},
                          headers=admin.headers)
    assert created.status_code == 201 and created.get_json()["vkey"] == vkey
    other = verifier_key("audit.example/w", Ed25519PrivateKey.generate().public_key().public_bytes_raw(),
                         COSIGNATURE_TYPE)
    assert client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": other},
                       headers=admin.headers).status_code == 409


def test_cosignatures_from_unknown_keys_are_refused(client, factory, runtime):
    auditor = factory.user("auditor")
    append(runtime, 2)
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    line = cosignature_line(Ed25519PrivateKey.generate(), "nobody.example/w", head["checkpoint"].encode(), 1700000000)
    answer = client.post("/api/v1/ledger/cosignatures", json={"note": head["note"] + line}, headers=auditor.headers)
    assert answer.status_code == 422
    assert client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()["cosignatures"] == []


def test_a_witness_cosigns_over_http_keeps_its_state_across_runs_and_refuses_a_forked_log(
        app, client, factory, runtime, tmp_path, database_template):
    admin, auditor = factory.user("admin"), factory.user("auditor")
    key_file, state_file = tmp_path / "witness.pem", tmp_path / "state" / "witness.json"
    write_key(key_file)
    printed = witness("--print-vkey", "--key", str(key_file), "--name", "audit.example/w", token="")
    assert printed.exit_code == 0, printed.output
    vkey = printed.output.strip()
    assert client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey},
                       headers=admin.headers).status_code == 201
    append(runtime, 3)
    with serving(app) as url:
        first = witness("--url", url, "--key", str(key_file), "--state", str(state_file), "--name", "audit.example/w",
                        token=auditor.token)
        assert first.exit_code == 0, first.output
        assert json.loads(state_file.read_text())["tree_size"] == 3
        append(runtime, 4, prefix="more")
        # a later run (a restarted witness): the name and the cosigned size come from the state file
        second = witness("--url", url, "--key", str(key_file), "--state", str(state_file), token=auditor.token)
        assert second.exit_code == 0, second.output
    state = WitnessState.load(state_file)
    assert (state.tree_size, state.name) == (7, "audit.example/w")
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    assert [c["witness"] for c in head["cosignatures"]] == ["audit.example/w"]
    cosigned = (head["note"] + head["cosignatures"][0]["line"]).encode()
    _, found, _ = find_cosignatures(cosigned, [parse_verifier_key(vkey)])
    assert "audit.example/w" in found

    # The operator shows the witness a second log under the same key: same size 7, another history.
    if database_template[0] != "sqlite":
        return
    from tests.e2e.conftest import fresh_app

    forked_dir = tmp_path / "forked"
    forked_dir.mkdir()
    forked = fresh_app(database_template, forked_dir, signing_key_file=runtime.settings.signing_key_file
                       or (runtime.settings.data_dir / "keys" / "ledger-ed25519.pem"))
    try:
        fork_runtime = forked.extensions["fieldproof"]
        append(fork_runtime, 7, prefix="forged")
        from tests.factories import Factory

        fork_auditor = Factory(forked, forked.test_client()).user("auditor")
        with serving(forked) as url:
            refused = witness("--url", url, "--key", str(key_file), "--state", str(state_file),
                              token=fork_auditor.token)
    finally:
        fork_runtime.db.dispose()
    assert refused.exit_code == 2
    assert "SPLIT VIEW" in refused.output and "REFUSED" in refused.output
    assert WitnessState.load(state_file).tree_size == 7 and WitnessState.load(state_file).root_hash == state.root_hash


def test_signed_notes_with_control_characters_are_refused():
    """C2SP signed-note: notes MUST NOT contain ASCII control characters other than newline."""
    log = Log()
    note = log.note()
    assert c2sp.parse_signed_note(note, log.key.public_key()).checkpoint.tree_size == 0
    with pytest.raises(c2sp.CheckpointFormatError):
        c2sp.parse_signed_note(note.replace(b"\n\n", b"\n\t\n", 1), log.key.public_key())
    with pytest.raises(c2sp.CheckpointFormatError):
        c2sp.parse_signed_note(note.replace(b"\n", b"\r\n", 1), log.key.public_key())


def test_a_cosigned_note_for_a_checkpoint_never_issued_is_422(client, factory, runtime):
    admin, auditor = factory.user("admin"), factory.user("auditor")
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key("audit.example/w", key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)
    client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey}, headers=admin.headers)
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    forged = head["note"].replace("\n0\n", "\n99999999999\n", 1)
    line = cosignature_line(key, "audit.example/w", forged.split("\n\n")[0].encode() + b"\n", 1700000000)
    answer = client.post("/api/v1/ledger/cosignatures", json={"note": forged + line}, headers=auditor.headers)
    assert answer.status_code == 422
    good = cosignature_line(key, "audit.example/w", head["checkpoint"].encode(), 1700000000)
    accepted = client.post("/api/v1/ledger/cosignatures", json={"note": head["note"] + good}, headers=auditor.headers)
    assert accepted.status_code == 201 and accepted.get_json()["witnesses"] == ["audit.example/w"]


def test_a_packet_gets_the_cosignatures_of_a_later_checkpoint_with_the_proof_that_it_extends_its_own(
        client, factory, runtime, tmp_path):
    from dataclasses import replace

    from custody.checkpoints import issue_checkpoint
    from custody.models import SigningKey
    from legal_docs.assembly import with_witnesses
    from legal_docs.content import LedgerSnapshot
    from tests.legal_factories import make_packet_content

    admin, auditor = factory.user("admin"), factory.user("auditor")
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key("audit.example/w", key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)
    client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey}, headers=admin.headers)
    append(runtime, 3)
    with runtime.db.transaction() as session:
        row = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)
        packet_ledger = LedgerSnapshot(checkpoint=row.body.encode(), signature=base64.b64decode(row.signature),
                                       key_id=row.key_id,
                                       public_key_pem=session.get(SigningKey, row.key_id).public_key_pem.encode())
    content, _ = make_packet_content(tmp_path / "in", photos=1, pdf=False, audio=False)
    content = replace(content, ledger=packet_ledger)
    assert with_witnesses(runtime, content) is content  # nobody cosigned anything yet

    append(runtime, 2, prefix="later")
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    line = cosignature_line(key, "audit.example/w", head["checkpoint"].encode(), 1_700_000_000)
    assert client.post("/api/v1/ledger/cosignatures", json={"note": head["note"] + line},
                       headers=auditor.headers).status_code == 201
    witnessed = with_witnesses(runtime, content).ledger.witnessed
    assert witnessed is not None and witnessed.cosignatures == (line,)
    assert witnessed.note.decode() == head["note"]
    later = c2sp.Checkpoint.parse(head["checkpoint"].encode())
    merkle.verify_consistency(3, 5, [bytes.fromhex(node) for node in witnessed.consistency_proof],
                              content.ledger.parsed.root_hash, later.root_hash)


def test_notes_and_vkeys_that_are_not_utf8_are_422(client, factory):
    admin, auditor = factory.user("admin"), factory.user("auditor")
    answer = client.post("/api/v1/ledger/cosignatures", json={"note": "x\ud800\n\n\u2014 a AAAA\n"},
                         headers=auditor.headers)
    assert answer.status_code == 422
    answer = client.post("/api/v1/ledger/witnesses", json={"name": "a", "vkey": "a\ud800+00000000+AA=="},
                         headers=admin.headers)
    assert answer.status_code == 422


def test_a_checkpoint_signed_after_a_key_rotation_is_not_offered_for_an_older_packet(client, factory, runtime):
    from custody.checkpoints import issue_checkpoint, rotate_signing_key, witnessed_since

    admin, auditor = factory.user("admin"), factory.user("auditor")
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key("audit.example/w", key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)
    client.post("/api/v1/ledger/witnesses", json={"name": "audit.example/w", "vkey": vkey}, headers=admin.headers)
    append(runtime, 2)
    with runtime.db.transaction() as session:
        old = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)
        old_size, old_key = old.tree_size, old.key_id
    with runtime.db.transaction() as session:
        rotate_signing_key(session, runtime)
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    assert head["key_id"] != old_key
    line = cosignature_line(key, "audit.example/w", head["checkpoint"].encode(), 1_700_000_000)
    assert client.post("/api/v1/ledger/cosignatures", json={"note": head["note"] + line},
                       headers=auditor.headers).status_code == 201
    with runtime.db.transaction() as session:
        assert witnessed_since(session, old_size, old_key) is None
        assert witnessed_since(session, old_size, head["key_id"]).tree_size == head["tree_size"]
