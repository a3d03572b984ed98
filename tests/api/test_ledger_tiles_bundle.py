"""`verify-bundle --tiles`: a real packet's bundle checked against the log as exported to tiles,
offline from a directory and from a static web host on loopback."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest
from click.testing import CliRunner

from api.commands.packets import verify_bundle_command
from legal_docs.verify_bundle import directory_tiles, verify_bundle
from tests.api.test_ledger_api import append, cli
from tests.api.test_packets import build, upload


@pytest.fixture
def exported(client, app, world, settings, tmp_path):
    """A built packet's bundle, and the log exported as tiles after more events were appended."""
    runtime = app.extensions["fieldproof"]
    upload(client, world, minutes_ago=5)
    before = tmp_path / "before"
    assert cli(settings, "ledger", "export-tiles", str(before)).exit_code == 0
    packet = build(client, app, world)
    assert packet["status"] == "ready", packet["error"]
    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers)
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    append(runtime, 300)  # the log grows past the bundle's checkpoint, across a tile boundary
    tiles = tmp_path / "tiles"
    result = cli(settings, "ledger", "export-tiles", str(tiles))
    assert result.exit_code == 0, result.output
    return path, tiles, before, packet


def test_a_bundle_verifies_against_the_exported_tiles(exported):
    path, tiles, _before, packet = exported
    report = verify_bundle(path, tiles=directory_tiles(tiles), tiles_name=str(tiles))
    assert report.ok, report.failures
    assert report.tiles_tree_size > packet["checkpoint_tree_size"] + 299
    assert report.tiles_events_checked == report.events_checked > 0
    result = CliRunner().invoke(verify_bundle_command, [str(path), "--tiles", str(tiles)])
    assert result.exit_code == 0, result.output
    assert "custody events recomputed from tiles" in result.output


def test_tampered_tiles_or_an_older_log_fail(exported, tmp_path):
    path, tiles, before, _packet = exported
    entries = sorted((tiles / "tile/entries").rglob("*"))
    first_bundle = next(p for p in entries if p.is_file())
    data = first_bundle.read_bytes()
    first_bundle.write_bytes(data[:10] + bytes([data[10] ^ 1]) + data[11:])
    first_level0 = tiles / "tile/0" / first_bundle.relative_to(tiles / "tile/entries")
    report = verify_bundle(path, tiles=directory_tiles(tiles))
    assert {f.problem for f in report.failures} == {"tiles_entry_mismatch"}
    # a forged level-0 tile: the tiles no longer give their signed checkpoint's root
    level0 = first_level0.read_bytes()
    first_level0.write_bytes(bytes(32) + level0[32:])
    report = verify_bundle(path, tiles=directory_tiles(tiles))
    assert [f.problem for f in report.failures] == ["tiles_root_mismatch"]
    # tiles exported before the packet was built: they cannot vouch for its checkpoint
    report = verify_bundle(path, tiles=directory_tiles(before))
    assert [f.problem for f in report.failures] == ["tree_size_regressed"]
    # a directory that is not a tiles copy
    report = verify_bundle(path, tiles=directory_tiles(tmp_path / "nothing"))
    assert [f.problem for f in report.failures] == ["tiles_unreadable"]
    result = CliRunner().invoke(verify_bundle_command, [str(path), "--tiles", str(before)])
    assert result.exit_code == 1 and "tree_size_regressed" in result.output


def test_verify_bundle_reads_tiles_from_a_static_web_host(exported):
    path, tiles, _before, _packet = exported
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tiles))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = CliRunner().invoke(verify_bundle_command, [str(path), "--tiles", url])
        assert result.exit_code == 0, result.output
        assert f"tiles: {url}" in result.output
        missing = CliRunner().invoke(verify_bundle_command, [str(path), "--tiles", url + "elsewhere/"])
        assert missing.exit_code == 1 and "tiles_unreadable" in missing.output
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_after_a_key_rotation_the_tiles_key_is_given_separately(exported, client, world, settings, tmp_path):
    path, _tiles, _before, _packet = exported
    assert cli(settings, "keys", "rotate").exit_code == 0
    rotated = tmp_path / "rotated"
    assert cli(settings, "ledger", "export-tiles", str(rotated)).exit_code == 0
    report = verify_bundle(path, tiles=directory_tiles(rotated))
    assert [f.problem for f in report.failures] == ["signature_missing"]
    new_key = client.get("/api/v1/ledger/public-key", headers=world.legal.headers).get_json()["public_key_pem"]
    (tmp_path / "new.pem").write_text(new_key)
    report = verify_bundle(path, tiles=directory_tiles(rotated), tiles_key_pem=new_key.encode())
    assert report.ok, report.failures
    result = CliRunner().invoke(verify_bundle_command, [str(path), "--tiles", str(rotated),
                                                        "--tiles-public-key", str(tmp_path / "new.pem")])
    assert result.exit_code == 0, result.output
