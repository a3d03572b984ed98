"""Faults injected under real requests: the spool disk full, the blob store down, slow or failing
mid-write, the database connection lost mid-transaction. Each is a clean 503 with Retry-After (or
succeeds, when only slow), a retry with the same Idempotency-Key then succeeds once, and an audit
finds nothing lost, duplicated, half-written or orphaned: every row has its exact bytes, every
custody event its item, no spool file is left, and the only blobs without a row are the ones the
fault stranded — exactly what `fieldproof storage sweep` reports.

PostgreSQL through the proxy: FIELDPROOF_TEST_DATABASE_URL's server, or a throwaway cluster from
scripts/pg-start.sh when the server binaries are installed. S3 through the proxy:
FIELDPROOF_TEST_S3_ENDPOINT (with the AWS_* credentials scripts/rgw-start.sh exports).
"""
from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.settings import Settings
from custody.models import CustodyEvent
from evidence.models import EvidenceItem
from evidence.storage.base import StorageUnavailable
from tests.conftest import TEST_SECRET
from tests.evidence_corpus import photo
from tests.evidence_world import EvidenceWorld, make_visit
from tests.hardening.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]


# --- the audit ----------------------------------------------------------------------------------


def audit(app, *, stranded: set[str] = frozenset()) -> dict:
    """Nothing lost, duplicated, half-written or orphaned; returns counts for the caller."""
    from evidence.services import spool_directory, sweep_storage, verify_stored

    runtime = app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        items = list(session.scalars(select(EvidenceItem)))
        sealed = [i for i in items if i.status == "sealed"]
        for item in sealed:  # every row has its exact bytes (and thumbnail)
            verify_stored(runtime.blobs, item.sha256, item.size)
            if item.thumbnail_sha256:
                verify_stored(runtime.blobs, item.thumbnail_sha256, item.thumbnail_size)
        assert not [i for i in items if i.status == "pending_upload" and i.storage_key], "half-sealed row"
        ids = {i.id for i in items}
        events = list(session.scalars(select(CustodyEvent)))
        assert {e.evidence_id for e in events if e.evidence_id} <= ids, "custody event without its item"
        indexes = sorted(e.ledger_index for e in events)
        assert indexes == list(range(len(indexes))), "ledger has a gap or a duplicate"
        for item in sealed:
            kinds = [e.type for e in events if e.evidence_id == item.id]
            assert kinds.count("created") == 1 and kinds.count("sealed") == 1, (item.id, kinds)
        report = sweep_storage(session, runtime.blobs)
    spool = spool_directory(runtime)
    assert not [p for p in spool.iterdir()] if spool.exists() else True, "spool file left behind"
    from evidence.storage.base import sha256_of_key

    orphans = {sha256_of_key(key) for key in report.unreferenced}
    assert orphans <= set(stranded), f"blobs without a row that no fault explains: {orphans - set(stranded)}"
    return {"items": len(items), "sealed": len(sealed), "orphans": orphans}


_SENT: dict = {}


def upload(client, world, data, key):
    """POST /evidence; a retry with the same key sends the very same request: the first attempt's
    metadata and bytes (a photo made again carries the clock's time in its EXIF)."""
    from tests.evidence_corpus import capture, multipart

    metadata, data = _SENT.setdefault((world.visit_id, key), (capture(world.visit_id, data), data))
    headers = dict(world.collector.headers) | {"Idempotency-Key": key}
    return client.post("/api/v1/evidence", data=multipart(metadata, data), headers=headers,
                       content_type="multipart/form-data")


def assert_503(response):
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0


class FlakyStore:
    """The app's store with chosen methods failing (or slowed) until healed."""

    def __init__(self, inner, failing=(), error=None, delay_s=0.0):
        self._inner, self.failing, self.error, self.delay_s = inner, set(failing), error, delay_s

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.delay_s:
                import time

                time.sleep(self.delay_s)
            if name in self.failing:
                raise self.error or StorageUnavailable(f"injected: store down during {name}")
            return attr(*args, **kwargs)

        return call


# --- spool disk full ----------------------------------------------------------------------------------


class _DiskFillsUp:
    """The `os` module as the spool sees it: the first write lands, every later one is ENOSPC."""

    def __init__(self, real, allowed_writes=1):
        self._real, self.allowed = real, allowed_writes

    def __getattr__(self, name):
        return getattr(self._real, name)

    def write(self, fd, data):
        if self.allowed <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.allowed -= 1
        return self._real.write(fd, data)


def test_spool_disk_full_is_503_and_leaves_nothing(app, client, world, monkeypatch):
    import evidence.spool as spool

    monkeypatch.setattr(spool, "os", _DiskFillsUp(os))
    data = photo((1600, 1200))  # several blocks
    assert_503(upload(client, world, data, "disk-full-1"))
    assert audit(app)["items"] == 0
    monkeypatch.undo()
    retry = upload(client, world, data, "disk-full-1")
    assert retry.status_code == 201, retry.get_json()
    assert audit(app)["sealed"] == 1


def test_console_bundle_upload_with_the_disk_full_is_503(app, client, factory, console, monkeypatch):
    import io
    import tempfile

    console.login(factory.user("auditor"))
    real = tempfile.NamedTemporaryFile

    class Full:
        def __init__(self, *a, **k):
            self._file = real(*a, **k)

        def __enter__(self):
            self._file.__enter__()
            return self

        def __exit__(self, *exc):
            return self._file.__exit__(*exc)

        def write(self, _):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self._file, name)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", Full)
    response = console.post("/console/bundles/verify", {"bundle": (io.BytesIO(b"PK" * 1000), "b.zip")},
                            content_type="multipart/form-data")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    leftovers = [p for p in app.extensions["fieldproof"].settings.data_dir.glob("tmp*.zip")]
    assert leftovers == []


# --- blob store down, slow, failing mid-write ----------------------------------------------------------


@pytest.mark.parametrize("failing", [("put_file", "adopt_file"), ("head",), ("open",)])
def test_store_down_is_503_then_a_retry_seals_once(app, client, world, failing):
    runtime = app.extensions["fieldproof"]
    healthy = runtime.blobs
    runtime.blobs = FlakyStore(healthy, failing)
    data = photo(colour=(3, 4, 5))
    first = upload(client, world, data, "store-down-1")
    if "open" in failing:
        # writing never reads back: only re-reads fail, so the upload seals; reading it is the 503
        assert first.status_code == 201
        content = client.get(f"/api/v1/evidence/{first.get_json()['id']}/content", headers=world.collector.headers)
        assert_503(content)
        runtime.blobs = healthy
        assert audit(app)["sealed"] == 1
        return
    if first.status_code == 201:  # this store never needed the failing call on this path
        runtime.blobs = healthy
        audit(app)
        return
    assert_503(first)
    assert client.get("/readyz").status_code in (200, 503)
    runtime.blobs = healthy
    retry = upload(client, world, data, "store-down-1")
    assert retry.status_code == 201, retry.get_json()
    replay = upload(client, world, data, "store-down-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    counts = audit(app)
    assert counts["sealed"] == 1 and counts["items"] == 1


def test_slow_store_still_seals(app, client, world):
    runtime = app.extensions["fieldproof"]
    healthy = runtime.blobs
    runtime.blobs = FlakyStore(healthy, delay_s=0.05)
    assert upload(client, world, photo(), "slow-1").status_code == 201
    runtime.blobs = healthy
    assert audit(app)["sealed"] == 1


def test_filesystem_store_failing_mid_write_leaves_no_partial_blob(app, client, world, monkeypatch):
    import evidence.storage.filesystem as filesystem

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    for name in ("link", "fsync", "replace", "rename"):
        if hasattr(filesystem.os, name):
            monkeypatch.setattr(filesystem.os, name, broken)
    response = upload(client, world, photo((800, 600)), "mid-write-1")
    monkeypatch.undo()
    assert_503(response)
    root = Path(urlsplit(app.extensions["fieldproof"].settings.storage_url).path)
    for path in root.rglob("*"):
        if path.is_file():
            assert "sha256" in path.parts or path.name.endswith(".retain"), f"partial file left: {path}"
    counts = audit(app)
    assert counts["items"] == 0
    assert upload(client, world, photo((800, 600)), "mid-write-1").status_code == 201
    assert audit(app)["sealed"] == 1


# --- the database lost mid-transaction ----------------------------------------------------------------------


def test_commit_lost_is_503_and_the_stranded_blob_is_what_the_sweep_reports(app, client, world, monkeypatch):
    from sqlalchemy.orm import Session

    real_commit = Session.commit
    state = {"armed": True}

    import threading

    def lost(self):
        # only the request's own commit (the test client runs it on this thread), not a job's
        if state["armed"] and threading.current_thread() is threading.main_thread():
            state["armed"] = False
            raise OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection"))
        return real_commit(self)

    monkeypatch.setattr(Session, "commit", lost)
    data = photo(colour=(7, 7, 7))
    assert_503(upload(client, world, data, "commit-lost-1"))
    from tests.evidence_corpus import sha256

    stranded = audit(app, stranded={sha256(data)} | _thumbnail_digests(app))
    assert stranded["items"] == 0
    retry = upload(client, world, data, "commit-lost-1")
    assert retry.status_code == 201
    assert audit(app)["sealed"] == 1 and audit(app)["orphans"] == set()


def _thumbnail_digests(app) -> set[str]:
    from evidence.storage.base import sha256_of_key

    return {sha256_of_key(k) for k in app.extensions["fieldproof"].blobs.iter_keys()}


# --- PostgreSQL behind the fault proxy --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    url = os.environ.get("FIELDPROOF_TEST_DATABASE_URL")
    if url:
        from tests.conftest import worker_database

        yield worker_database(url, os.environ.get("PYTEST_XDIST_WORKER"))
        return
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no PostgreSQL: set FIELDPROOF_TEST_DATABASE_URL or install the postgresql server")
    base = Path(f"/tmp/fieldproof-faults-{uuid.uuid4().hex[:8]}") / "pg"
    env = {**os.environ, "PG_BASE": str(base), "PG_PORT": str(_free_port())}
    started = subprocess.run([str(ROOT / "scripts/pg-start.sh")], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"could not start a throwaway PostgreSQL: {started.stderr[-300:]}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(ROOT / "scripts/pg-stop.sh")], env=env, capture_output=True)
        shutil.rmtree(base.parent, ignore_errors=True)


@pytest.fixture
def pg_app(postgres_url, tmp_path):
    from api.app import create_app
    from api.dbtools import upgrade
    from tests.conftest import _empty_postgres

    upgrade(postgres_url)
    _empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    proxy = FaultProxy(parts.hostname, parts.port)
    proxied = postgres_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    app = create_app(Settings(data_dir=tmp_path, database_url=proxied, storage_url=f"file://{tmp_path / 'blobs'}",
                              secret_key=TEST_SECRET))
    app.config["TESTING"] = True
    yield app, proxy, postgres_url
    proxy.close()
    from tests.conftest import shut_down

    shut_down(app)


@pytest.fixture
def pg_world(pg_app):
    from tests.factories import Factory

    app, proxy, direct = pg_app
    client = app.test_client()
    factory = Factory(app, client)
    supervisor, collector, other = factory.user("supervisor"), factory.user("collector"), factory.user("collector")
    case = factory.case(collector=collector, supervisor=supervisor)
    world = EvidenceWorld(supervisor=supervisor, collector=collector, other=other, legal=factory.user("legal"),
                          case=case, visit_id=make_visit(app, case, collector.id, supervisor.id),
                          other_visit_id=make_visit(app, case, other.id, supervisor.id))
    return app, client, proxy, world


@pytest.mark.postgres
def test_postgres_connection_cut_mid_transaction(pg_world, monkeypatch):
    app, client, proxy, world = pg_world
    import evidence.services as services

    real = services.record_custody_event
    state = {"cuts": 0}

    def cut_then_record(session, **kwargs):
        if kwargs.get("type") == "sealed" and state["cuts"] == 0:
            state["cuts"] += 1
            proxy.cut()  # the link dies with the row and the created event written, uncommitted
        return real(session, **kwargs)

    monkeypatch.setattr(services, "record_custody_event", cut_then_record)
    data = photo(colour=(11, 12, 13))
    assert_503(upload(client, world, data, "pg-cut-1"))
    assert state["cuts"] == 1
    stranded = _thumbnail_digests(app)
    counts = audit(app, stranded=stranded)
    assert counts["items"] == 0  # the transaction rolled back on the server: no half-written row
    retry = upload(client, world, data, "pg-cut-1")
    assert retry.status_code == 201, retry.get_data(as_text=True)[:300]
    counts = audit(app)
    assert counts["sealed"] == 1 and counts["orphans"] == set()


@pytest.mark.postgres
def test_postgres_down_is_503_everywhere_then_recovers(pg_world):
    app, client, proxy, world = pg_world
    data = photo(colour=(1, 99, 1))  # once: its EXIF time is the clock's, and the retry must send the same bytes
    # The plain page's pooled connection is open when the link dies (api/resources/base.py `json_page`).
    assert client.get("/api/v1/visits?page_size=50", headers=world.collector.headers).status_code == 200
    proxy.mode = "refuse"
    proxy.cut()
    assert_503(client.get("/api/v1/cases", headers=world.supervisor.headers))
    assert_503(client.get("/api/v1/visits?page_size=50", headers=world.collector.headers))  # the plain page too
    assert_503(upload(client, world, data, "pg-down-1"))
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    proxy.heal()
    assert client.get("/api/v1/cases", headers=world.supervisor.headers).status_code == 200
    listed = client.get("/api/v1/visits?page_size=50", headers=world.collector.headers)
    assert listed.status_code == 200 and [v["id"] for v in listed.get_json()] == [world.visit_id]
    assert upload(client, world, data, "pg-down-1").status_code == 201
    audit(app, stranded=_thumbnail_digests(app))


@pytest.mark.postgres
def test_postgres_slow_still_answers(pg_world):
    app, client, proxy, world = pg_world
    proxy.delay_s = 0.02
    assert client.get("/api/v1/cases", headers=world.supervisor.headers).status_code == 200
    assert upload(client, world, photo(colour=(2, 3, 4)), "pg-slow-1").status_code == 201
    proxy.heal()
    assert audit(app)["sealed"] == 1


# --- S3 behind the fault proxy ---------------------------------------------------------------------------


@pytest.fixture
def s3_app(app):
    endpoint = os.environ.get("FIELDPROOF_TEST_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("FIELDPROOF_TEST_S3_ENDPOINT is not set (scripts/test.sh sets it)")
    from evidence.storage.s3 import S3BlobStore

    parts = urlsplit(endpoint)
    proxy = FaultProxy(parts.hostname, parts.port)
    bucket = f"fieldproof-faults-{uuid.uuid4().hex[:10]}"
    store = S3BlobStore(bucket, endpoint_url=f"http://127.0.0.1:{proxy.port}", region="us-east-1",
                        addressing_style="path", connect_timeout_s=1, read_timeout_s=2, max_attempts=1,
                        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
                        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    store.ensure_bucket(object_lock=True)
    app.extensions["fieldproof"].blobs = store
    yield app, proxy
    proxy.close()


@pytest.mark.s3
@pytest.mark.parametrize("fault", ["refuse", "cut-mid-put", "blackhole"])
def test_s3_faults_are_503_then_a_retry_seals_once(s3_app, client, world, fault):
    app, proxy = s3_app
    data = photo((1200, 900), colour=(50, 60, 70))
    if fault == "refuse":
        proxy.mode = "refuse"
        proxy.cut()  # pooled keep-alive connections die with the endpoint
    elif fault == "cut-mid-put":
        proxy.cut_after(len(data) // 3)
    else:
        proxy.mode = "blackhole"
    assert_503(upload(client, world, data, f"s3-{fault}"))
    proxy.heal()
    from tests.evidence_corpus import sha256

    audit(app, stranded=_thumbnail_digests(app))
    retry = upload(client, world, data, f"s3-{fault}")
    assert retry.status_code == 201, retry.get_data(as_text=True)[:300]
    counts = audit(app, stranded=_thumbnail_digests(app) - {sha256(data)})
    assert counts["sealed"] == 1


@pytest.mark.s3
def test_s3_slow_still_seals(s3_app, client, world):
    app, proxy = s3_app
    proxy.delay_s = 0.01
    assert upload(client, world, photo(colour=(8, 9, 10)), "s3-slow").status_code == 201
    proxy.heal()
    assert audit(app)["sealed"] == 1
