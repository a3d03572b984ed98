"""Reading a published tiles copy: a directory or a loopback static host, bounded whatever it serves,
and never a password or token in what is shown."""
from __future__ import annotations

import base64

import pytest

from custody.mirrors import (
    MAX_CHECKPOINT_BYTES,
    MAX_TILE_FILE_BYTES,
    TileFileTooLarge,
    TilesUnreadable,
    directory_tiles,
    mirror_tiles,
    shown_location,
    url_tiles,
)
from tests.mirror_server import MirrorServer

TILE = bytes(range(32)) * 256


@pytest.mark.parametrize(("location", "shown"), [
    ("https://tiles.example.org/custody/", "https://tiles.example.org/custody/"),
    ("https://user:s3cret@cdn.example.net:8443/log?token=abc#x", "https://cdn.example.net:8443/log"),
    ("http://[::1]:8080/log", "http://[::1]:8080/log"),
    ("/srv/tiles", "/srv/tiles"),
])
def test_a_location_is_shown_without_credentials_or_query(location, shown):
    assert shown_location(location) == shown


def test_a_directory_serves_only_tile_paths_within_their_size(tmp_path):
    (tmp_path / "tile/0").mkdir(parents=True)
    (tmp_path / "tile/0/000").write_bytes(TILE)
    (tmp_path / "tile/0/001").write_bytes(TILE + b"x")
    (tmp_path / "checkpoint").write_bytes(b"n" * (MAX_CHECKPOINT_BYTES + 1))
    (tmp_path / "secret").write_bytes(b"not a tile")
    fetch = directory_tiles(tmp_path)
    assert fetch("tile/0/000") == TILE
    with pytest.raises(TileFileTooLarge) as caught:
        fetch("tile/0/001")
    assert caught.value.path == "tile/0/001"
    with pytest.raises(TileFileTooLarge):
        fetch("checkpoint")
    for path in ("secret", "../secret", "tile/0/../../secret", "tile/0/0"):
        with pytest.raises(TilesUnreadable, match="not a tile path"):
            fetch(path)
    with pytest.raises(TilesUnreadable) as missing:
        fetch("tile/0/002")
    assert not isinstance(missing.value, TileFileTooLarge)
    assert mirror_tiles(str(tmp_path))("tile/0/000") == TILE


def test_http_reads_tiles_with_credentials_sent_and_never_shown(tmp_path):
    with MirrorServer(files={"log/tile/0/000": TILE, "log/checkpoint": b"note\n"}) as server:
        port = server.url.rsplit(":", 1)[1].rstrip("/")
        fetch = url_tiles(f"http://reader:pa55word@127.0.0.1:{port}/log?token=t0ken", timeout=5)
        assert fetch("tile/0/000") == TILE and fetch("checkpoint") == b"note\n"
        path, query, headers = server.requests[0]
        assert path == "log/tile/0/000" and query == "token=t0ken"
        assert headers["authorization"] == "Basic " + base64.b64encode(b"reader:pa55word").decode()
        assert headers["accept-encoding"] == "identity"
        with pytest.raises(TilesUnreadable) as caught:
            fetch("tile/0/001")
        assert "HTTP 404" in str(caught.value)
        assert "pa55word" not in str(caught.value) and "t0ken" not in str(caught.value)
        assert f"http://127.0.0.1:{port}/log/tile/0/001" in str(caught.value)


@pytest.mark.parametrize(("misbehaviour", "error", "says"), [
    ("huge", TileFileTooLarge, "larger than any file"),
    ("flood", TileFileTooLarge, "larger than any file"),
    ("gzip", TilesUnreadable, "gzip-encoded"),
    ("missing", TilesUnreadable, "HTTP 404"),
    ("stall", TilesUnreadable, "timed out"),
])
def test_a_hostile_host_costs_a_named_failure_not_memory_or_time(misbehaviour, error, says):
    with MirrorServer(files={"tile/entries/000": b"x"}) as server:
        server.misbehave["tile/entries/000"] = misbehaviour
        fetch = url_tiles(server.url, timeout=0.5)
        with pytest.raises(error, match=says) as caught:
            fetch("tile/entries/000")
        if error is TileFileTooLarge:
            assert caught.value.path == "tile/entries/000" and str(MAX_TILE_FILE_BYTES) in str(caught.value)


def test_an_unreachable_host_is_named_without_its_password():
    with MirrorServer() as server:
        url = server.url.replace("http://", "http://auditor:hunter2@")
    with pytest.raises(TilesUnreadable) as caught:  # the server is gone: nothing listens on its port
        url_tiles(url, timeout=2)("checkpoint")
    assert "hunter2" not in str(caught.value) and "refused" in str(caught.value).lower()
