"""Verification runs read the ledger as it is published: the stored tree through the tiles the API
serves, and (FIELDPROOF_LEDGER_MIRROR) the copy on a static host or in a directory, end to end
and against our own leaves. Each test publishes or damages something, runs a verification through
the API and reads the report."""
from __future__ import annotations

import json
import shutil

import pytest

from custody.append import record_custody_event
from custody.checkpoints import current_tree_head
from custody.ledger.tiles import Tile
from custody.tiles import export_tiles
from tests.api.test_ledger_api import append, cli
from tests.api.test_verifications import sql, verify
from tests.mirror_server import MirrorServer
from tests.unit.custody.test_mirror import chained, mirror


@pytest.fixture
def runtime(app):
    return app.extensions["fieldproof"]


@pytest.fixture
def auditor(factory):
    return factory.user("auditor")


def use_mirror(monkeypatch, runtime, location) -> None:
    """Runs from now on check `location`, as FIELDPROOF_LEDGER_MIRROR would have it."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.with_overrides(
        ledger_mirror=str(location), ledger_mirror_timeout_seconds=5))


def export(runtime, directory) -> int:
    with runtime.db.transaction() as session:
        head = current_tree_head(session, runtime.signer, runtime.settings.ledger_origin)
        export_tiles(session, directory, head.note, head.tree_size)
    return head.tree_size


def size_of(client, user) -> int:
    return client.get("/api/v1/ledger/head", headers=user.headers).get_json()["tree_size"]


def mirror_failures(report) -> list[tuple[str, str]]:
    return [(f["subject"], f["problem"]) for f in report["failures"]]


def write(directory, files) -> None:
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)


# --- the stored tree, read through the tiles the API serves -----------------------------------------


def test_a_corrupted_stored_node_is_named_by_the_tile_the_api_serves(client, runtime, auditor):
    append(runtime, 300)
    size = size_of(client, auditor)
    sql(runtime, "UPDATE ledger_nodes SET hash = :forged WHERE level = 0 AND node_index = 257", forged=b"\x07" * 32)
    served = client.get(f"/api/v1/ledger/tile/0/001.p/{size - 256}", headers=auditor.headers)
    assert served.data[32:64] == b"\x07" * 32  # what auditors receive is what the run compares
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    tile = [f for f in report["failures"] if f["subject"] == f"tile/0/001.p/{size - 256}"]
    assert [f["problem"] for f in tile] == ["node_mismatch"]
    assert tile[0]["evidence_id"] == "item-257" and "hash 1 of tile/0/001.p/" in tile[0]["detail"]


def test_a_forged_node_of_a_higher_tile_and_a_missing_one_are_named_by_their_tiles(client, runtime, auditor):
    append(runtime, 300)
    sql(runtime, "UPDATE ledger_nodes SET hash = :forged WHERE level = 8 AND node_index = 0", forged=bytes(32))
    sql(runtime, "DELETE FROM ledger_nodes WHERE level = 0 AND node_index = 3")
    report = verify(client, runtime, auditor)
    assert ("tile/1/000.p/1", "node_mismatch") in mirror_failures(report)
    assert ("tile/0/000", "node_missing") in mirror_failures(report)
    missing = next(f for f in report["failures"] if f["subject"] == "tile/0/000")
    assert "hash 3 of tile/0/000" in missing["detail"] and missing["evidence_id"] == "item-3"
    # the levels between tiles are in no tile: still named as the nodes the proofs read
    sql(runtime, "UPDATE ledger_nodes SET hash = :forged WHERE level = 3 AND node_index = 1", forged=bytes(32))
    assert ("ledger node 3/1", "node_mismatch") in mirror_failures(verify(client, runtime, auditor))


def test_a_leaf_no_entry_bundle_can_carry_is_named_by_its_bundle(client, runtime, auditor):
    append(runtime, 3)
    with runtime.db.transaction() as session:
        record_custody_event(session, type="viewed", evidence_id="item-long", actor_id="actor",
                             details={"note": "x" * 70_000})
    report = verify(client, runtime, auditor)
    assert ("tile/entries/000.p/4", "entries_unreadable") in mirror_failures(report)
    assert not [f for f in report["failures"] if f["problem"] not in ("entries_unreadable",)]


# --- a published mirror ---------------------------------------------------------------------------


def test_a_mirror_written_by_export_tiles_passes_and_one_behind_still_does(client, runtime, auditor, settings,
                                                                          tmp_path, monkeypatch):
    append(runtime, 300)
    published = tmp_path / "mirror"
    assert cli(settings, "ledger", "export-tiles", str(published)).exit_code == 0
    use_mirror(monkeypatch, runtime, published)
    report = verify(client, runtime, auditor)
    assert report["status"] == "passed", report["failures"]
    head = client.get("/api/v1/ledger/head", headers=auditor.headers).get_json()
    assert report["mirror"] == {"location": str(published), "status": "passed", "tree_size": 300,
                                "root_hash": report["mirror"]["root_hash"], "key_id": head["key_id"],
                                "files_checked": 6, "leaves_checked": 300}
    append(runtime, 40)  # the ledger moves on; the mirror is behind until the next export
    behind = verify(client, runtime, auditor)
    assert behind["status"] == "passed" and behind["mirror"]["tree_size"] == 300


def test_a_run_of_a_narrower_scope_or_without_a_mirror_reports_none(client, runtime, auditor, factory, tmp_path,
                                                                     monkeypatch):
    append(runtime, 3)
    assert verify(client, runtime, auditor)["mirror"] is None
    use_mirror(monkeypatch, runtime, tmp_path / "nowhere")
    case_id = factory.case()["id"]
    assert verify(client, runtime, auditor, "case", case_id)["mirror"] is None


@pytest.mark.parametrize(("path", "change", "problem"), [
    ("tile/0/000", lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:], "mirror_tile_invalid"),
    ("tile/0/001.p/44", lambda data: data[:-32], "mirror_tile_invalid"),
    ("tile/entries/001.p/44", lambda data: data.replace(b'"viewed"', b'"sealed"', 1), "mirror_entry_invalid"),
    ("tile/entries/000", lambda data: data[:-3], "mirror_entry_invalid"),
    ("checkpoint", lambda data: data.replace(b"\n300\n", b"\n301\n"), "mirror_checkpoint_invalid"),
    ("checkpoint", lambda data: b"x" * (1 << 17), "mirror_checkpoint_invalid"),
    ("tile/0/000", lambda data: data * 2, "mirror_tile_invalid"),
])
def test_a_tampered_mirror_is_named_with_its_problem(client, runtime, auditor, tmp_path, monkeypatch, path, change,
                                                     problem):
    append(runtime, 300)
    published = tmp_path / "mirror"
    export(runtime, published)
    (published / path).write_bytes(change((published / path).read_bytes()))
    use_mirror(monkeypatch, runtime, published)
    report = verify(client, runtime, auditor)
    assert report["status"] == "failed"
    assert mirror_failures(report) == [("mirror", problem)]
    assert report["failures"][0]["detail"].startswith(f"the mirror at {published}: ")
    assert report["mirror"]["status"] == "failed"


def test_a_mirror_of_another_log_signed_with_our_key_is_a_fork(client, runtime, auditor, tmp_path, monkeypatch):
    append(runtime, 300)
    forked = tmp_path / "forked"
    write(forked, mirror(chained(280), runtime.signer.key.private_key, runtime.settings.ledger_origin))
    use_mirror(monkeypatch, runtime, forked)
    report = verify(client, runtime, auditor)
    assert mirror_failures(report) == [("mirror", "mirror_fork")]  # internally sound: only the fork
    assert "280 leaves" in report["failures"][0]["detail"]
    assert report["mirror"]["tree_size"] == 280 and report["mirror"]["leaves_checked"] == 280


def test_a_mirror_ahead_of_the_ledger_is_named(client, runtime, auditor, tmp_path, monkeypatch):
    append(runtime, 300)
    published = tmp_path / "mirror"
    export(runtime, published)
    sql(runtime, "DELETE FROM custody_events WHERE ledger_index >= 290")  # rolled back behind the mirror's back
    sql(runtime, "DELETE FROM ledger_nodes WHERE (node_index + 1) * (1 << level) > 290")
    use_mirror(monkeypatch, runtime, published)
    report = verify(client, runtime, auditor)
    assert ("mirror", "mirror_ahead") in mirror_failures(report)
    assert ("mirror", "mirror_fork") not in mirror_failures(report)
    write(tmp_path / "ahead", mirror(chained(400), runtime.signer.key.private_key, runtime.settings.ledger_origin))
    use_mirror(monkeypatch, runtime, tmp_path / "ahead")
    assert ("mirror", "mirror_ahead") in mirror_failures(verify(client, runtime, auditor))


def test_a_mirror_signed_by_another_key_or_for_another_log_is_refused(client, runtime, auditor, tmp_path,
                                                                      monkeypatch):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    append(runtime, 10)
    stranger = tmp_path / "stranger"
    write(stranger, mirror(chained(10), Ed25519PrivateKey.generate(), runtime.settings.ledger_origin))
    use_mirror(monkeypatch, runtime, stranger)
    report = verify(client, runtime, auditor)
    assert mirror_failures(report) == [("mirror", "mirror_checkpoint_invalid")]
    assert "signing_key_unknown" in report["failures"][0]["detail"]
    other_log = tmp_path / "other"
    write(other_log, mirror(chained(10), runtime.signer.key.private_key, "elsewhere.example/custody"))
    use_mirror(monkeypatch, runtime, other_log)
    assert "origin_mismatch" in verify(client, runtime, auditor)["failures"][0]["detail"]


def test_an_unreachable_mirror_is_named(client, runtime, auditor, tmp_path, monkeypatch):
    append(runtime, 10)
    use_mirror(monkeypatch, runtime, tmp_path / "never-exported")
    report = verify(client, runtime, auditor)
    assert mirror_failures(report) == [("mirror", "mirror_unreachable")]
    assert report["mirror"]["tree_size"] is None and report["mirror"]["status"] == "failed"
    published = tmp_path / "mirror"
    bundle = Tile(None, 0, export(runtime, published)).path
    (published / bundle).unlink()
    use_mirror(monkeypatch, runtime, published)
    report = verify(client, runtime, auditor)
    assert mirror_failures(report) == [("mirror", "mirror_unreachable")]
    assert bundle in report["failures"][0]["detail"]


def test_a_mirror_written_before_a_key_rotation_still_verifies(client, runtime, auditor, settings, tmp_path,
                                                                monkeypatch):
    append(runtime, 20)
    published = tmp_path / "mirror"
    export(runtime, published)
    old_key = runtime.signer.key_id
    assert cli(settings, "keys", "rotate").exit_code == 0
    assert runtime.signer.key_id != old_key
    use_mirror(monkeypatch, runtime, published)
    report = verify(client, runtime, auditor)
    assert report["status"] == "passed", report["failures"]
    assert report["mirror"]["key_id"] == old_key


def test_a_mirror_on_a_static_host_is_read_over_http_and_its_credentials_never_shown(client, runtime, auditor,
                                                                                      tmp_path, monkeypatch):
    append(runtime, 300)
    published = tmp_path / "site" / "custody"
    export(runtime, published)
    with MirrorServer(root=tmp_path / "site") as server:
        host = server.url.removeprefix("http://")
        use_mirror(monkeypatch, runtime, f"http://auditor:pa55word@{host}custody/?sig=t0ken-abc")
        report = verify(client, runtime, auditor)
        assert report["status"] == "passed", report["failures"]
        assert report["mirror"]["location"] == f"http://{host}custody/"
        assert report["mirror"]["files_checked"] == 6
        assert {query for _path, query, _headers in server.requests} == {"sig=t0ken-abc"}

        server.misbehave["custody/tile/0/000"] = "flood"
        flooded = verify(client, runtime, auditor)
        assert mirror_failures(flooded) == [("mirror", "mirror_tile_invalid")]
        assert "larger than any file" in flooded["failures"][0]["detail"]
        server.misbehave["custody/tile/0/000"] = "missing"
        missing = verify(client, runtime, auditor)
        assert mirror_failures(missing) == [("mirror", "mirror_unreachable")]
        assert "HTTP 404" in missing["failures"][0]["detail"]
        shutil.rmtree(published / "tile" / "entries")
        del server.misbehave["custody/tile/0/000"]
        assert mirror_failures(verify(client, runtime, auditor)) == [("mirror", "mirror_unreachable")]
    text = json.dumps([report, flooded, missing])
    assert "pa55word" not in text and "t0ken" not in text
    gone = verify(client, runtime, auditor)  # the host is down
    assert mirror_failures(gone) == [("mirror", "mirror_unreachable")]
    assert "pa55word" not in json.dumps(gone) and "t0ken" not in json.dumps(gone)


def test_tile_paths_in_the_report_are_the_paths_the_api_serves(client, runtime, auditor):
    append(runtime, 5)
    sql(runtime, "UPDATE ledger_nodes SET hash = :forged WHERE level = 0 AND node_index = 4", forged=bytes(32))
    report = verify(client, runtime, auditor)
    subject = next(f["subject"] for f in report["failures"] if f["problem"] == "node_mismatch")
    assert subject == Tile(0, 0, 5).path
    assert client.get(f"/api/v1/ledger/{subject}", headers=auditor.headers).status_code == 200
