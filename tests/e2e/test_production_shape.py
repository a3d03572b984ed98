"""The production shape, as processes: gunicorn (2 workers) + a Celery worker + Redis, over PostgreSQL
and the RADOS Gateway S3 endpoint, every node started with FIELDPROOF_ENV=production.

What it proves:
- a packet requested through the API is built by the Celery worker (not the API node) and downloads,
  and the downloaded bundle verifies offline;
- a worker SIGKILLed (whole process group) while the packet is `building` leaves the message
  unacknowledged; a new worker gets it after the visibility timeout and the packet completes;
- an API node killed while an upload's body is still arriving loses nothing and invents nothing:
  the client's retry with the same Idempotency-Key creates the item once, and later retries return it.

Needs FIELDPROOF_TEST_DATABASE_URL and FIELDPROOF_TEST_S3_ENDPOINT (`scripts/test.sh` sets both for
its "production shape" stage); Redis is started here.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import select
import shutil
import socket
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.processes import (ProductionShape, ShapeConfig, case_payload, seed_users, seed_visits, start_redis,
                                 wait_for)

DATABASE_URL = os.environ.get("FIELDPROOF_TEST_DATABASE_URL")
S3_ENDPOINT = os.environ.get("FIELDPROOF_TEST_S3_ENDPOINT")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.skipif(not (DATABASE_URL and S3_ENDPOINT),
                       reason="production shape needs FIELDPROOF_TEST_DATABASE_URL (PostgreSQL) and "
                              "FIELDPROOF_TEST_S3_ENDPOINT (S3); scripts/test.sh sets both"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed "
                       "(apt-get install redis-server; `make test` installs it)"),
]

VISIBILITY_TIMEOUT = 10
SHANGHAI_OFFSET = timedelta(hours=8)


@pytest.fixture(scope="module")
def shape():
    import requests

    from tests.conftest import _empty_postgres

    # Not under pytest's tmp dirs: another pytest run on the machine may prune those under us.
    base = Path(tempfile.mkdtemp(prefix="fieldproof-shape-"))
    redis, broker_url = start_redis(base / "redis")
    config = ShapeConfig(base=base, database_url=DATABASE_URL, s3_endpoint=S3_ENDPOINT,
                         bucket=f"fieldproof-shape-{uuid.uuid4().hex[:12]}", broker_url=broker_url,
                         aws={name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                                  "AWS_DEFAULT_REGION") if name in os.environ},
                         visibility_timeout=VISIBILITY_TIMEOUT, web_workers=2, worker_concurrency=2)
    served = ProductionShape(config)
    try:
        served.prepare()            # bucket with Object Lock, signing key file, `fieldproof db upgrade`
        _empty_postgres(DATABASE_URL)
        served.start_worker()
        served.start_api()
        served.users = {u["role"]: u for u in seed_users(DATABASE_URL, ["supervisor", "collector", "legal",
                                                                        "auditor"])}
        served.http = requests.Session()
        yield served
    finally:
        served.stop()
        redis.stop()
        if os.environ.get("FIELDPROOF_KEEP_SHAPE"):
            print(f"production shape kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


# --- helpers ---------------------------------------------------------------------------------------


def api(shape, method: str, path: str, role: str, **kwargs):
    headers = {**shape.users[role]["headers"], **kwargs.pop("headers", {})}
    return shape.http.request(method, shape.url + "/api/v1" + path, headers=headers, timeout=60, **kwargs)


def new_case(shape) -> tuple[dict, str]:
    """A case made through the API, and a checked-in visit on it (seeded: see `seed_visits`)."""
    response = api(shape, "POST", "/cases", "supervisor", json=case_payload(shape.users["collector"]["id"]))
    assert response.status_code == 201, response.text
    case = response.json()
    start = datetime.now().astimezone() - timedelta(minutes=30)
    [visit_id] = seed_visits(DATABASE_URL, [{"case": case, "collector_id": shape.users["collector"]["id"],
                                             "scheduled_by": shape.users["supervisor"]["id"],
                                             "window_start": start}])
    return case, visit_id


def camera_photo(size: tuple[int, int], seed: int) -> bytes:
    """A JPEG with EXIF that compresses like a real photo (noise), so it has weight in a packet."""
    from PIL import Image

    from tests.evidence_corpus import photo

    base = Image.open(io.BytesIO(photo(size, colour=(seed * 37 % 255, 90, 160))))
    noise = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    mixed = Image.blend(base.convert("RGB"), noise, 0.35)
    out = io.BytesIO()
    mixed.save(out, "JPEG", quality=90, exif=base.getexif())
    return out.getvalue()


def multipart_body(metadata: dict, data: bytes) -> tuple[bytes, str]:
    boundary = "fieldproof-" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
            f"Content-Type: application/json\r\n\r\n{json.dumps(metadata)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"capture.jpg\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def capture_metadata(visit_id: str, data: bytes, minutes_ago: int = 5) -> dict:
    from tests.evidence_corpus import capture

    return capture(visit_id, data, at=datetime.now().astimezone() - timedelta(minutes=minutes_ago))


def upload(shape, visit_id: str, data: bytes, *, key: str | None = None, minutes_ago: int = 5,
           metadata: dict | None = None):
    """POST /evidence; a retry passes the first attempt's `metadata`, so it is the same request."""
    body, content_type = multipart_body(metadata or capture_metadata(visit_id, data, minutes_ago), data)
    headers = {"Content-Type": content_type, **({"Idempotency-Key": key} if key else {})}
    return api(shape, "POST", "/evidence", "collector", data=body, headers=headers)


def request_packet(shape, case_id: str) -> dict:
    response = api(shape, "POST", f"/cases/{case_id}/packets", "legal", json={"language": "en"})
    assert response.status_code == 202, response.text
    return response.json()


def packet_state(shape, packet_id: str) -> dict:
    response = api(shape, "GET", f"/packets/{packet_id}", "legal")
    assert response.status_code == 200, response.text
    return response.json()


def wait_packet(shape, packet_id: str, timeout: float) -> dict:
    def finished():
        state = packet_state(shape, packet_id)
        return state if state["status"] in ("ready", "failed") else None

    def workers_alive():
        for worker in shape.workers:
            if worker.popen.returncode is None:
                worker.check_alive()

    return wait_for(finished, timeout=timeout, what=f"packet {packet_id} to finish", interval=0.2,
                    alive=workers_alive)


def download_and_verify(shape, packet: dict, tmp_path: Path) -> None:
    from legal_docs.verify_bundle import verify_bundle

    pdf = api(shape, "GET", f"/packets/{packet['id']}/pdf", "legal")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == packet["volumes"][0]["sha256"]
    bundle = api(shape, "GET", f"/packets/{packet['id']}/bundle", "auditor")
    assert bundle.status_code == 200
    assert hashlib.sha256(bundle.content).hexdigest() == packet["bundle_sha256"]
    path = tmp_path / f"bundle-{packet['id']}.zip"
    path.write_bytes(bundle.content)
    report = verify_bundle(path)
    assert report.ok, report.failures


def case_items(shape, case_id: str) -> list[dict]:
    response = api(shape, "GET", f"/cases/{case_id}/evidence?page_size=100", "supervisor")
    assert response.status_code == 200, response.text
    return response.json()


def item_rows(sha256: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM evidence_items WHERE sha256 = :h"),
                                      {"h": sha256}).scalar_one()
    finally:
        engine.dispose()


# --- scenarios -------------------------------------------------------------------------------------


def test_a_packet_requested_through_the_api_is_built_by_the_worker_and_downloads(shape, tmp_path):
    case, visit_id = new_case(shape)
    items = []
    for n in range(2):
        response = upload(shape, visit_id, camera_photo((640, 480), seed=n), minutes_ago=10 - n)
        assert response.status_code == 201, response.text
        items.append(response.json())
    accepted = request_packet(shape, case["id"])
    packet = wait_packet(shape, accepted["id"], timeout=90)
    assert packet["status"] == "ready", packet["error"]
    assert sorted(e["sha256"] for e in packet["exhibits"]) == sorted(i["sha256"] for i in items)
    download_and_verify(shape, packet, tmp_path)
    # The API node ran nothing: the build happened in the worker (its data dir held the work dir).
    assert not (shape.base / "api" / "packets").exists()
    ledger = shape.http.get(shape.url + "/readyz", timeout=10).json()["ledger"]
    assert (ledger["sequencing"], ledger["standby"]) == ("queued", True)  # the worker sequences
    assert (shape.base / f"worker-{shape.workers[0].name.split('-')[1]}" / "packets").exists()


def test_b_a_worker_killed_during_a_build_is_replaced_and_the_packet_completes(shape, tmp_path):
    case, visit_id = new_case(shape)
    for n in range(8):
        response = upload(shape, visit_id, camera_photo((1600, 1200), seed=100 + n), minutes_ago=30 - n)
        assert response.status_code == 201, response.text
    accepted = request_packet(shape, case["id"])
    building = wait_for(lambda: packet_state(shape, accepted["id"])["status"] == "building", timeout=60,
                        what="the packet to be building", interval=0.02)
    assert building
    victim = next(w for w in shape.workers if w.running())
    victim.kill()  # SIGKILL to the whole process group: the main process and its pool children
    state = packet_state(shape, accepted["id"])
    assert state["status"] == "building", "the build finished before the worker was killed; make it longer"

    shape.start_worker()
    started = time.monotonic()
    packet = wait_packet(shape, accepted["id"], timeout=VISIBILITY_TIMEOUT + 90)
    assert packet["status"] == "ready", packet["error"]
    assert packet["exhibits_done"] == packet["exhibits_total"] == 8
    download_and_verify(shape, packet, tmp_path)
    timeline = api(shape, "GET", f"/cases/{case['id']}/timeline?page_size=100", "legal").json()
    assert [e["type"] for e in timeline if e["type"].startswith("packet_")] == ["packet_requested", "packet_built"]
    print(f"redelivered and rebuilt {time.monotonic() - started:.1f} s after the new worker started")


def _send_partial_upload(shape, metadata: dict, data: bytes, key: str) -> socket.socket:
    """Open a raw connection and send the headers and all but the last 64 KiB of a multipart body,
    in 64 KiB pieces."""
    body, content_type = multipart_body(metadata, data)
    head = (f"POST /api/v1/evidence HTTP/1.1\r\nHost: 127.0.0.1:{shape.api_port}\r\n"
            f"Authorization: Bearer {shape.users['collector']['token']}\r\nIdempotency-Key: {key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", shape.api_port), timeout=10)
    sock.sendall(head)
    sent = len(body) - 64 * 1024
    for offset in range(0, sent, 64 * 1024):
        sock.sendall(body[offset:min(offset + 64 * 1024, sent)])
        time.sleep(0.002)
    return sock


def _unread_by_server(server_port: int, client_port: int) -> int | None:
    """Bytes the server side of a loopback connection has received but its process has not read
    yet (rx_queue in /proc/net/tcp); None when there is no such connection."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return int(queues.split(":")[1], 16)
    return None


def test_c_the_api_killed_during_an_upload_then_the_retry_creates_the_item_once(shape):
    case, visit_id = new_case(shape)
    data = camera_photo((2000, 1500), seed=7)
    assert len(data) > 1_000_000
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"upload-{uuid.uuid4()}"
    metadata = capture_metadata(visit_id, data)
    sock = _send_partial_upload(shape, metadata, data, key)
    # In flight: the API worker has read every byte sent so far (nothing waits in its socket's
    # receive queue), the body is not complete, and no answer has come.
    client_port = sock.getsockname()[1]
    wait_for(lambda: _unread_by_server(shape.api_port, client_port) == 0, timeout=20,
             what="the API node to read the body sent so far")
    assert not select.select([sock], [], [], 0)[0], "the API answered before the body was complete"
    port = shape.api_port
    shape.api.kill()  # gunicorn's arbiter and both workers, mid-body
    with pytest.raises(OSError):
        sock.sendall(b"\x00" * (1 << 20))
        sock.settimeout(5)
        if not sock.recv(1):
            raise ConnectionResetError("closed")  # an orderly close counts as the same failure
    sock.close()
    assert item_rows(sha256) == 0  # nothing was half-made

    shape.start_api(port)
    first = upload(shape, visit_id, data, key=key, metadata=metadata)
    assert first.status_code == 201, first.text
    assert first.headers.get("Idempotent-Replayed") is None and first.json()["sha256"] == sha256
    again = upload(shape, visit_id, data, key=key, metadata=metadata)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert [i["id"] for i in case_items(shape, case["id"]) if i["sha256"] == sha256] == [first.json()["id"]]
    assert item_rows(sha256) == 1


def test_c_the_api_restarted_after_the_body_arrived_then_the_retry_returns_the_first_item(shape):
    """A graceful restart (SIGTERM, as `systemctl restart` sends) finishes the request in flight;
    the client, which may not have seen the answer, retries and gets the same item back."""
    import http.client

    case, visit_id = new_case(shape)
    data = camera_photo((1600, 1200), seed=11)
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"upload-{uuid.uuid4()}"
    metadata = capture_metadata(visit_id, data)
    body, content_type = multipart_body(metadata, data)
    connection = http.client.HTTPConnection("127.0.0.1", shape.api_port, timeout=60)
    connection.request("POST", "/api/v1/evidence", body=body,
                       headers={**shape.users["collector"]["headers"], "Idempotency-Key": key,
                                "Content-Type": content_type})
    port = shape.api_port
    shape.api.stop(timeout=30)  # SIGTERM: gunicorn lets the request in flight finish
    try:
        answered = connection.getresponse()
        first_status, first_body = answered.status, answered.read()
    except (OSError, http.client.HTTPException):
        first_status, first_body = None, b""
    connection.close()

    shape.start_api(port)
    retry = upload(shape, visit_id, data, key=key, metadata=metadata)
    assert retry.status_code == 201, retry.text
    if first_status == 201:
        assert retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json()["id"] == json.loads(first_body)["id"]
    assert [i["id"] for i in case_items(shape, case["id"]) if i["sha256"] == sha256] == [retry.json()["id"]]
    assert item_rows(sha256) == 1
