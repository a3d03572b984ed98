"""The ledger served as C2SP tlog-tiles: contents recomputed from the leaves, caching, roles, and
`fieldproof ledger export-tiles` writing the same files incrementally and atomically."""
from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization

from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.tiles import Tile, TileReader, parse_entry_bundle, tiles_for_size, verify_tiles
from tests.api.test_ledger_api import append, cli, leaves
from tests.vectors import generate as rfc

PREFIX = "/api/v1/ledger/"


@pytest.fixture
def runtime(app):
    return app.extensions["fieldproof"]


def get(client, headers, path):
    return client.get(PREFIX + path, headers=headers)


def key_of(client, headers):
    body = client.get(PREFIX + "public-key", headers=headers).get_json()
    return serialization.load_pem_public_key(body["public_key_pem"].encode())


def test_tiles_hold_the_hashes_and_leaves_the_spec_names(client, factory, runtime):
    auditor = factory.user("auditor")
    append(runtime, 300)
    stored = leaves(runtime)
    full = get(client, auditor.headers, "tile/0/000")
    assert full.status_code == 200 and full.mimetype == "application/octet-stream"
    assert full.data == b"".join(merkle.leaf_hash(leaf) for leaf in stored[:256])
    assert full.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    partial = get(client, auditor.headers, "tile/0/001.p/44")
    assert partial.data == b"".join(merkle.leaf_hash(leaf) for leaf in stored[256:300])
    assert "immutable" not in partial.headers["Cache-Control"]
    assert "max-age=60" in partial.headers["Cache-Control"]
    # a narrower partial tile of the same tile is the prefix (served for an older checkpoint's size)
    assert get(client, auditor.headers, "tile/0/001.p/10").data == partial.data[:320]
    level1 = get(client, auditor.headers, "tile/1/000.p/1")
    assert level1.data == rfc.mth(stored[:256])
    bundle = get(client, auditor.headers, "tile/entries/000")
    assert parse_entry_bundle(bundle.data, 256) == stored[:256]
    assert bundle.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert parse_entry_bundle(get(client, auditor.headers, "tile/entries/001.p/44").data, 44) == stored[256:]


def test_inclusion_proofs_from_served_tiles_equal_the_api_proofs(client, factory, runtime):
    legal = factory.user("legal")
    append(runtime, 259)
    note = get(client, legal.headers, "checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    assert note.headers["Cache-Control"] == "no-cache"
    head = get(client, legal.headers, "head").get_json()
    assert note.get_data(as_text=True) == head["note"]
    checkpoint = c2sp.parse_signed_note(note.data, key_of(client, legal.headers)).checkpoint
    assert checkpoint.tree_size == 259

    def fetch(tile):
        response = get(client, legal.headers, tile.path)
        assert response.status_code == 200, tile.path
        return response.data

    reader = TileReader(fetch, checkpoint.tree_size)
    assert reader.root() == checkpoint.root_hash
    for size in (1, 7, 128, 256, 257, 259):
        for index in sorted({0, size // 2, size - 1}):
            api = get(client, legal.headers, f"proofs/inclusion?index={index}&tree_size={size}").get_json()
            assert [node.hex() for node in reader.inclusion_proof(index, size)] == api["audit_path"]
            assert reader.leaf_hash(index).hex() == api["leaf_hash"]
        api = get(client, legal.headers, f"proofs/consistency?first={size}&second=259").get_json()
        assert [node.hex() for node in reader.consistency_proof(size)] == api["proof"]
    assert verify_tiles(fetch, 259, checkpoint.root_hash) == 5  # 0/000, entries/000, 0/001.p/3, its bundle, 1/000.p/1


@pytest.mark.parametrize("path", [
    "tile/0/001",  # full tile not yet complete
    "tile/0/000.p/11",  # wider than the tree
    "tile/0/002.p/1", "tile/1/000.p/1", "tile/entries/001", "tile/entries/000.p/11", "tile/5/000",
])
def test_tiles_beyond_the_tree_are_404(client, factory, runtime, path):
    append(runtime, 10)
    response = get(client, factory.user("collector").headers, path)
    assert response.status_code == 404 and response.content_type == "application/problem+json"
    assert "Cache-Control" not in response.headers or "immutable" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", [
    "tile/00/000", "tile/64/000", "tile/0/0", "tile/0/x000/001", "tile/0/000.p/256", "tile/0/000.p/0",
    "tile/entries/000.p/07", "tile/x/000", "tile/0/000/extra",
])
def test_paths_that_are_not_a_tiles_are_problem_404(client, factory, runtime, path):
    append(runtime, 10)
    response = get(client, factory.user("supervisor").headers, path)
    assert response.status_code == 404 and response.content_type == "application/problem+json"
    assert "not a tile path" in response.get_json()["detail"]


def test_tiles_need_a_ledger_reader(client, factory, runtime):
    append(runtime, 3)
    for path in ("checkpoint", "tile/0/000.p/3", "tile/entries/000.p/3"):
        assert get(client, {}, path).status_code == 401
        for role in ("admin", "supervisor", "collector", "legal", "auditor"):
            assert get(client, factory.user(role).headers, path).status_code == 200, (role, path)


def test_export_tiles_writes_the_served_files_incrementally_and_atomically(client, factory, runtime, settings,
                                                                          tmp_path):
    auditor = factory.user("auditor")
    out = tmp_path / "mirror"
    append(runtime, 300)
    first = cli(settings, "ledger", "export-tiles", str(out))
    assert first.exit_code == 0, first.output
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    expected = {t.path for t in tiles_for_size(300)} | {"tile/entries/000", "tile/entries/001.p/44", "checkpoint"}
    assert written == expected
    for path in expected - {"checkpoint"}:
        assert (out / path).read_bytes() == get(client, auditor.headers, path).data, path
    assert (out / "checkpoint").read_text() == get(client, auditor.headers, "head").get_json()["note"]
    assert "tree size 300" in first.output and "wrote 6 files" in first.output

    # nothing new: nothing written, not even touched
    stamps = {p: os.stat(out / p).st_mtime_ns for p in expected}
    again = cli(settings, "ledger", "export-tiles", str(out))
    assert again.exit_code == 0 and "wrote 0 files" in again.output, again.output
    assert {p: os.stat(out / p).st_mtime_ns for p in expected} == stamps

    # growth: full tiles kept as they are (immutable), the new ones and the new checkpoint written
    (out / "tile/0/000").write_bytes(b"kept as it was")  # proves a full tile on disk is not rewritten
    append(runtime, 220)
    grown = cli(settings, "ledger", "export-tiles", str(out))
    assert grown.exit_code == 0, grown.output
    assert (out / "tile/0/000").read_bytes() == b"kept as it was"
    assert (out / "tile/0/001").read_bytes() == get(client, auditor.headers, "tile/0/001").data
    assert (out / "tile/0/002.p/8").is_file() and (out / "tile/1/000.p/2").is_file()
    assert (out / "tile/0/001.p/44").is_file()  # an older checkpoint's partial tile stays for its readers
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left behind
    assert (out / "checkpoint").read_text().split("\n")[1] == "520"


def test_export_tiles_leaves_no_partial_file_when_a_write_fails(settings, runtime, tmp_path, monkeypatch):
    from core import files
    from custody import tiles

    append(runtime, 3)
    out = tmp_path / "mirror"
    real_replace = os.replace

    def failing(source, target):
        if str(target).endswith("checkpoint"):
            raise OSError("disk full")
        return real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", failing)
    with runtime.db.transaction() as session:
        with pytest.raises(OSError):
            tiles.export_tiles(session, out, "note\n", 3)
    assert not (out / "checkpoint").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    assert (out / "tile/0/000.p/3").is_file()


def test_pending_leaves_never_show_in_tiles(client, factory, runtime):
    """A tile exists only once the integrated tree covers it: the head's size decides."""
    from sqlalchemy import update

    from custody.models import HEAD_ID, LedgerHead

    append(runtime, 5)
    with runtime.db.transaction() as session:
        session.execute(update(LedgerHead).where(LedgerHead.id == HEAD_ID).values(size=4))
    reader = factory.user("auditor").headers
    assert get(client, reader, "tile/0/000.p/4").status_code == 200
    assert get(client, reader, "tile/0/000.p/5").status_code == 404
    assert get(client, reader, "tile/entries/000.p/5").status_code == 404
    assert Tile(0, 0, 4).path == "tile/0/000.p/4"


def test_verify_tiles_checks_an_exported_copy_offline(client, factory, runtime, settings, tmp_path):
    from click.testing import CliRunner

    from api.commands.ledger import ledger_verify_tiles

    append(runtime, 270)
    out = tmp_path / "mirror"
    assert cli(settings, "ledger", "export-tiles", str(out)).exit_code == 0
    pem = tmp_path / "ledger.pem"
    pem.write_text(client.get(PREFIX + "public-key", headers=factory.user("auditor").headers)
                   .get_json()["public_key_pem"])
    result = CliRunner().invoke(ledger_verify_tiles, [str(out), "--public-key", str(pem)])
    assert result.exit_code == 0, result.output
    assert "result: VERIFIED" in result.output and "270 leaves chained" in result.output
    bundle = out / "tile/entries/001.p/14"
    bundle.write_bytes(bundle.read_bytes().replace(b'"viewed"', b'"sealed"', 1))
    failed = CliRunner().invoke(ledger_verify_tiles, [str(out), "--public-key", str(pem)])
    assert failed.exit_code == 1 and "[entry_mismatch]" in failed.output


def test_a_tile_is_one_query(client, factory, runtime):
    from sqlalchemy import event

    from custody import tiles
    from custody.ledger.tiles import Tile

    append(runtime, 300)
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with runtime.db.transaction() as session:
        size = tiles.tree_size(session)
        event.listen(runtime.db.engine, "before_cursor_execute", record)
        try:
            for tile in (Tile(0, 0), Tile(0, 1, 44), Tile(1, 0, 1), Tile(None, 0), Tile(None, 1, 44)):
                before = len(statements)
                tiles.read_tile(session, tile, size)
                assert len(statements) - before == 1, tile.path
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", record)
