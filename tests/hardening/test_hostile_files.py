"""The hostile-file corpus (`corpus.py`, generated here, never downloaded) against evidence ingest.

Every refused file: its status and stable `code`, no row, no blob, no spool file left, the
server still serving, and the process's peak memory bounded while the whole corpus goes through
both ingest paths (streamed multipart and direct upload + complete).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence.models import EvidenceItem
from tests.evidence_corpus import capture, photo, sha256
from tests.hardening.corpus import HOSTILE_FILENAMES, ODD_EXIF, REFUSED
from tests.hardening.memory import rss_growth

MEMORY_BOUND_MB = 200


def live_rows(app) -> int:
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(EvidenceItem).where(EvidenceItem.status != "rejected"))


def blob_keys(app) -> set[str]:
    return set(app.extensions["fieldproof"].blobs.iter_keys())


def spool_files(app) -> list[Path]:
    """Whatever is left in any spool: the data dir's and the filesystem store's own."""
    runtime = app.extensions["fieldproof"]
    from evidence.services import spool_directory

    found = []
    for spool in {runtime.settings.data_dir / "spool", spool_directory(runtime)}:
        found += list(spool.iterdir()) if spool.exists() else []
    return found


def check_refusal(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    if code:
        assert body["code"] == code, body
    assert "Traceback" not in response.get_data(as_text=True)


def test_every_hostile_file_is_refused_streamed(app, client, world):
    before_blobs, before_rows = blob_keys(app), live_rows(app)
    with rss_growth() as growth:
        for name, make, kind, status, code in REFUSED:
            data = make()
            body, content_type = _multipart_raw(capture(world.visit_id, data, kind=kind), data, f"{name}.bin".encode())
            response = client.post("/api/v1/evidence", data=body, content_type=content_type,
                                   headers=world.collector.headers)
            try:
                check_refusal(response, status, code)
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from None
            assert live_rows(app) == before_rows, name
            assert blob_keys(app) == before_blobs, name
            assert spool_files(app) == [], name
    assert growth.peak_growth_mb < MEMORY_BOUND_MB, f"peak RSS grew {growth.peak_growth_mb:.0f} MB"
    # the server is still up and still takes a good photo
    assert world.upload(client, photo(colour=(9, 9, 9))).status_code == 201


def test_every_hostile_file_is_refused_through_direct_upload(app, client, world):
    """PUT the bytes, then `complete`: refused there, the row marked rejected, no live item."""
    before_rows = live_rows(app)
    with rss_growth() as growth:
        for name, make, kind, status, code in REFUSED:
            data = make()
            if not data:
                continue  # a direct upload announces size >= 1
            pending = client.post("/api/v1/evidence/uploads", headers=world.collector.headers,
                                  json=capture(world.visit_id, data, kind=kind) | {"size": len(data)})
            if pending.status_code != 201:
                check_refusal(pending, 422, None)  # e.g. recording consent: refused before any bytes
                continue
            item = pending.get_json()
            put = client.put(f"/api/v1/evidence/{item['id']}/content", data=data, headers=world.collector.headers,
                             content_type="application/octet-stream")
            assert put.status_code == 204, (name, put.get_data(as_text=True)[:300])
            done = client.post(f"/api/v1/evidence/{item['id']}/complete", headers=world.collector.headers)
            try:
                check_refusal(done, status, code)
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from None
            got = client.get(f"/api/v1/evidence/{item['id']}", headers=world.collector.headers).get_json()
            assert got["status"] == "rejected", (name, got["status"])
            assert client.get(f"/api/v1/evidence/{item['id']}/content",
                              headers=world.collector.headers).status_code == 409
            assert live_rows(app) == before_rows and spool_files(app) == [], name
    assert growth.peak_growth_mb < MEMORY_BOUND_MB, f"peak RSS grew {growth.peak_growth_mb:.0f} MB"
    # what the refused uploads left in the store is exactly what the sweep reports, nothing more
    from evidence.services import sweep_storage

    with app.extensions["fieldproof"].db.transaction() as session:
        report = sweep_storage(session, app.extensions["fieldproof"].blobs)
    assert set(report.unreferenced) <= blob_keys(app)
    live = {k for k in blob_keys(app) if k not in report.unreferenced}
    assert live == set()  # nothing was sealed in this test


@pytest.mark.parametrize("name,make", ODD_EXIF, ids=[n for n, _ in ODD_EXIF])
def test_malformed_exif_is_sealed_with_bounded_untrusted_metadata(app, client, world, name, make):
    data = make()
    response = world.upload(client, data, filename=f"{name}.jpg")
    assert response.status_code in (201, 422), response.get_data(as_text=True)[:500]
    if response.status_code == 422:
        check_refusal(response, 422, "corrupt_media")
        assert live_rows(app) == 0 and spool_files(app) == []
        return
    item = response.get_json()
    assert item["sha256"] == sha256(data) and item["status"] == "sealed"
    text = json.dumps(item)
    assert "<script>" not in text and "\u202e" * 200 not in text and len(text) < 20_000
    for value in (item.get("exif") or {}).values():
        assert not isinstance(value, str) or len(value) <= 128
    assert spool_files(app) == []
    # the page that shows it escapes whatever survived
    from tests.console.conftest import ConsoleSession

    console = ConsoleSession(client)
    console.login(world.legal)
    page = client.get(f"/console/evidence/{item['id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page


def _multipart_raw(metadata: dict, data: bytes, filename: bytes) -> tuple[bytes, str]:
    boundary = "hardening-boundary-7d1f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n".encode()
            + json.dumps(metadata).encode() + f"\r\n--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
            + b"Content-Type: image/jpeg\r\n\r\n" + data + f"\r\n--{boundary}--\r\n".encode())
    return body, f"multipart/form-data; boundary={boundary}"


def test_hostile_filenames_are_never_used(app, client, world, tmp_path):
    """Names are ignored: keys come from the SHA-256, downloads are named by id, nothing lands elsewhere."""
    data_dir = app.extensions["fieldproof"].settings.data_dir
    outside = {p for p in Path("/tmp").glob("*")} | {p for p in data_dir.parent.glob("*")}
    for index, name in enumerate(HOSTILE_FILENAMES):
        data = photo(colour=(index, 2 * index, 200))
        body, content_type = _multipart_raw(capture(world.visit_id, data), data,
                                            name.encode("utf-8", "surrogateescape"))
        response = client.post("/api/v1/evidence", data=body, content_type=content_type,
                               headers=world.collector.headers)
        assert response.status_code in (201, 400), (name, response.get_data(as_text=True)[:300])
        if response.status_code == 400:
            continue  # a header the multipart parser itself refuses (CR/LF inside a quoted name)
        item = response.get_json()
        assert name not in json.dumps(item) or name in ("", ".")
        content = client.get(f"/api/v1/evidence/{item['id']}/content", headers=world.collector.headers)
        assert content.status_code == 200 and hashlib.sha256(content.data).hexdigest() == item["sha256"]
        disposition = content.headers.get("Content-Disposition", "")
        assert "\r" not in disposition and "\n" not in disposition and ".." not in disposition
        assert item["id"] in disposition or not disposition
    assert {p for p in Path("/tmp").glob("*")} - outside <= {p for p in Path("/tmp").glob("*") if p not in outside}
    assert not Path("/etc/passwd").read_bytes().startswith(b"\xff\xd8")
    assert {p.name for p in data_dir.parent.glob("*")} >= {p.name for p in outside if p.parent == data_dir.parent}
    for path in data_dir.rglob("*"):
        assert ".." not in path.name and "passwd" not in path.name and "\x1b" not in path.name
    assert spool_files(app) == []


def test_claimed_hash_of_hostile_bytes_is_checked_first(app, client, world):
    """A bomb with a wrong claimed hash is refused as a hash mismatch before it is ever decoded."""
    from tests.hardening.corpus import png_bomb_rgb

    with rss_growth() as growth:
        response = world.upload(client, png_bomb_rgb(), sha256="0" * 64)
    check_refusal(response, 422, "hash_mismatch")
    assert growth.peak_growth_mb < 50
