"""Hostile uploads: each gets its 4xx (or the first item, for a replay), nothing else is stored,
no spool file is left behind, and the server goes on serving."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from evidence.models import EvidenceItem
from tests.evidence_corpus import capture, executable, photo, png_bomb, sha256, truncated_jpeg


def rows(app) -> int:
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(EvidenceItem))


def blobs(app) -> set[str]:
    return set(app.extensions["fieldproof"].blobs.iter_keys())


def spooled(app) -> list:
    """Spool files left behind: in the filesystem store's spool directory, or the data dir's."""
    runtime = app.extensions["fieldproof"]
    dirs = [runtime.settings.data_dir / "spool"]
    if hasattr(runtime.blobs, "root"):
        dirs.append(runtime.blobs.root / "spool")
    return [path for directory in dirs if directory.exists() for path in directory.iterdir()]


def assert_nothing_kept(app):
    assert rows(app) == 0
    assert blobs(app) == set()
    assert spooled(app) == []


def assert_still_serving(client, world):
    response = world.upload(client, photo(colour=(5, 6, 7)))
    assert response.status_code == 201, response.get_json()


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


def test_wrong_hash_is_422_and_nothing_is_kept(client, world, app):
    data = photo()
    body = problem(world.upload(client, data, sha256=sha256(b"something else")), 422, "hash_mismatch")
    assert body["context"]["actual"] == sha256(data)
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_executable_named_jpg_is_415(client, world, app):
    problem(world.upload(client, executable(), filename="receipt.jpg"), 415, "unsupported_media_type")
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_decompression_bomb_is_refused(client, world, app):
    bomb = png_bomb()
    assert len(bomb) < 100_000
    problem(world.upload(client, bomb, filename="bomb.png"), 422, "decompression_bomb")
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_truncated_jpeg_is_refused(client, world, app):
    problem(world.upload(client, truncated_jpeg()), 422, "corrupt_media")
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_bytes_that_are_not_the_declared_kind_are_refused(client, world, app):
    problem(world.upload(client, photo(), kind="audio"), 422, "media_mismatch")
    assert_nothing_kept(app)


def test_unknown_visit_is_404(client, world, app):
    problem(world.upload(client, photo(), visit_id="00000000-0000-0000-0000-000000000000"), 404)
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_another_collectors_visit_is_404(client, world, app):
    problem(world.upload(client, photo(), visit_id=world.other_visit_id), 404)
    assert_nothing_kept(app)
    assert_still_serving(client, world)


def test_replay_returns_the_first_item_and_stores_the_bytes_once(client, world, app):
    data = photo()
    metadata = capture(world.visit_id, data)
    first = world.upload(client, data, key="capture-0001", metadata=metadata)
    assert first.status_code == 201
    kept = blobs(app)
    replay = world.upload(client, data, key="capture-0001", metadata=dict(reversed(metadata.items())))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert rows(app) == 1 and blobs(app) == kept and spooled(app) == []
    other = photo(colour=(1, 1, 1))
    problem(world.upload(client, other, key="capture-0001"), 409)
    assert rows(app) == 1


def test_same_bytes_without_a_key_make_a_second_item_but_one_blob(client, world, app):
    data = photo()
    one, two = world.upload(client, data).get_json(), world.upload(client, data).get_json()
    assert one["id"] != two["id"] and one["sha256"] == two["sha256"]
    assert len(blobs(app)) == 2  # the photo and its thumbnail, each once


@pytest.mark.parametrize("body, status", [
    (b"--X\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}", 400),  # ends inside a part
    (b"not multipart at all", 400),
])
def test_malformed_multipart_is_400(client, world, app, body, status):
    response = client.post("/api/v1/evidence", data=body, headers=world.collector.headers,
                           content_type="multipart/form-data; boundary=X")
    problem(response, status)
    assert_nothing_kept(app)


def test_missing_parts_and_bad_metadata_are_refused(client, world, app):
    data = photo()
    only_file = client.post("/api/v1/evidence", headers=world.collector.headers, content_type="multipart/form-data",
                            data={"file": (io.BytesIO(data), "x.jpg")})
    problem(only_file, 422)
    only_meta = client.post("/api/v1/evidence", headers=world.collector.headers, content_type="multipart/form-data",
                            data={"metadata": json.dumps(capture(world.visit_id, data))})
    problem(only_meta, 422)
    problem(world.upload(client, data, metadata='{"visit_id": "a", "visit_id": "b"}'), 400)
    problem(world.upload(client, data, metadata="[1, 2]"), 400)
    two_files = client.post("/api/v1/evidence", headers=world.collector.headers, content_type="multipart/form-data",
                            data={"metadata": json.dumps(capture(world.visit_id, data)),
                                  "file": [(io.BytesIO(data), "a.jpg"), (io.BytesIO(data), "b.jpg")]})
    problem(two_files, 422)
    assert_nothing_kept(app)


def test_wrong_content_type_is_415_and_no_token_is_401(client, world, app):
    problem(client.post("/api/v1/evidence", json={}, headers=world.collector.headers), 415)
    problem(client.post("/api/v1/evidence", data={"metadata": "{}"}, content_type="multipart/form-data"), 401)
    assert_nothing_kept(app)


class TestSizeLimit:
    LIMIT = 64 * 1024

    @pytest.fixture
    def settings(self, settings):
        return settings.with_overrides(evidence_max_bytes=self.LIMIT)

    def test_oversize_file_is_413(self, client, world, app):
        big = photo((1200, 900)) + b"\x00" * self.LIMIT
        problem(world.upload(client, big), 413)
        assert_nothing_kept(app)
        assert_still_serving(client, world)

    def test_oversize_chunked_body_is_413_while_streaming(self, client, world, app):
        data = b"\xff\xd8\xff" + b"\x00" * (2 * self.LIMIT)
        meta = json.dumps(capture(world.visit_id, data)).encode()
        body = (b"--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n" + meta +
                b"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n" + data +
                b"\r\n--B--\r\n")
        response = client.post("/api/v1/evidence", input_stream=io.BytesIO(body),
                               headers=world.collector.headers | {"Transfer-Encoding": "chunked",
                                                                  "Content-Type": "multipart/form-data; boundary=B"},
                               environ_overrides={"wsgi.input_terminated": True})
        problem(response, 413)
        assert_nothing_kept(app)
        assert_still_serving(client, world)

    def test_direct_upload_announcing_too_much_is_413(self, client, world, app):
        data = photo()
        response = client.post("/api/v1/evidence/uploads", headers=world.collector.headers,
                               json=capture(world.visit_id, data) | {"size": self.LIMIT + 1})
        problem(response, 413)
        assert_nothing_kept(app)


def test_direct_upload_body_longer_than_announced_is_refused(client, world, app):
    data = photo()
    pending = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": len(data)},
                          headers=world.collector.headers).get_json()
    response = client.put(f"/api/v1/evidence/{pending['id']}/content", data=data + b"extra",
                          headers=world.collector.headers, content_type="application/octet-stream")
    problem(response, 413)
    assert blobs(app) == set() and spooled(app) == []
    stranger = client.put(f"/api/v1/evidence/{pending['id']}/content", data=data,
                          headers=world.other.headers, content_type="application/octet-stream")
    problem(stranger, 404)


def test_direct_upload_of_an_executable_is_refused_at_complete_and_removed(client, world, app):
    data = executable()
    pending = client.post("/api/v1/evidence/uploads", json=capture(world.visit_id, data) | {"size": len(data)},
                          headers=world.collector.headers).get_json()
    assert client.put(f"/api/v1/evidence/{pending['id']}/content", data=data, headers=world.collector.headers,
                      content_type="application/octet-stream").status_code == 204
    store = app.extensions["fieldproof"].blobs
    assert store.head_staging(pending["id"]) is not None and not store.exists(sha256(data))
    # The test store keeps blobs 5 years, but refused bytes never reach a content address: they
    # are removed from staging, so nothing is retained and the sweep has nothing to report.
    problem(client.post(f"/api/v1/evidence/{pending['id']}/complete", headers=world.collector.headers), 415)
    item = client.get(f"/api/v1/evidence/{pending['id']}", headers=world.collector.headers).get_json()
    assert item["status"] == "rejected" and item["rejection"] == "unsupported_media_type"
    assert not store.exists(sha256(data)) and store.head_staging(pending["id"]) is None
    from evidence.services import sweep_storage

    with app.extensions["fieldproof"].db.transaction() as session:
        assert sweep_storage(session, store).unreferenced == []


def test_multipart_reader_finds_delimiters_split_across_reads(monkeypatch, tmp_path):
    """The hand-written reader on tiny reads: preamble, transport padding, a delimiter look-alike
    inside the file, delimiters straddling every block edge, an epilogue."""
    import api.uploads as uploads
    from evidence.spool import spool_stream

    data = b"\xff\xd8 not the end: \r\n--B0undary-ish \r\n--Bx" + bytes(range(256)) * 3
    body = (b"preamble\r\n--Boundary  \r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\": 1}"
            b"\r\n--Boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n--Boundary--\r\nepilogue")
    for read_size in (1, 2, 3, 7, 13, 64, 1 << 20):
        monkeypatch.setattr(uploads, "READ_SIZE", read_size)
        with uploads.read_multipart(io.BytesIO(body), "multipart/form-data; boundary=Boundary", file_part="file",
                                    spool=lambda chunks: spool_stream(chunks, tmp_path, max_bytes=10_000),
                                    max_field_bytes=100) as upload:
            assert upload.fields == {"metadata": ['{"a": 1}']} and upload.file_names == ["file"]
            assert upload.spooled.path.read_bytes() == data
    assert list(tmp_path.iterdir()) == []
