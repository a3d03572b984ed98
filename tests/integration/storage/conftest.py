"""Fixtures for the blob store conformance suite: every store, and a real S3 endpoint.

The S3 endpoint is Ceph's RADOS Gateway, started once per session by `scripts/rgw-start.sh`
(single node, in-memory OSD) on free ports in a temp dir and stopped at the end, also when tests
fail. `FIELDPROOF_TEST_S3_ENDPOINT` (with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`) points the
suite at an endpoint that is already running instead. Without radosgw installed the S3 tests
fail with the install command, unless `FIELDPROOF_SKIP_S3=1` says to skip them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path

import boto3
import pytest

from evidence.storage.filesystem import FilesystemBlobStore
from evidence.storage.s3 import S3BlobStore, s3_client_config

REPO = Path(__file__).resolve().parents[3]
RGW_START = REPO / "scripts" / "rgw-start.sh"
RGW_STOP = REPO / "scripts" / "rgw-stop.sh"
DEBIAN_PACKAGES = "ceph-mon ceph-mgr ceph-osd radosgw ceph-common"
_START_TIMES: list[float] = []


@dataclass
class S3Endpoint:
    url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    @cached_property
    def client(self):
        """One client for the session: building one loads botocore's S3 model (~0.5 s)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=s3_client_config(addressing_style="path"),
        )

    def store(self, bucket: str, *, retention: timedelta = timedelta(0)) -> S3BlobStore:
        return S3BlobStore(bucket, client=self.client, retention=retention)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parse_exports(stdout: str) -> dict[str, str]:
    exports = {}
    for line in stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            exports[name] = value
    return exports


def _start_rgw(base: Path) -> tuple[dict[str, str], float]:
    env = dict(os.environ, RGW_BASE=str(base), RGW_PORT=str(_free_port()), RGW_MON_PORT=str(_free_port()))
    started = time.monotonic()
    result = subprocess.run(
        [str(RGW_START)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/rgw-start.sh exited with {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return _parse_exports(result.stdout), elapsed


def _stop_rgw(base: Path) -> None:
    subprocess.run(
        [str(RGW_STOP)], env=dict(os.environ, RGW_BASE=str(base)), capture_output=True, timeout=120, check=False
    )


@pytest.fixture(scope="session")
def s3_endpoint():
    """A running S3 endpoint for the whole session; a missing radosgw fails (not skips) the tests."""
    if os.environ.get("FIELDPROOF_SKIP_S3") == "1":
        pytest.skip("FIELDPROOF_SKIP_S3=1: S3 conformance tests skipped on request")
    external = os.environ.get("FIELDPROOF_TEST_S3_ENDPOINT")
    if external:
        yield S3Endpoint(
            url=external,
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", ""),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        return
    if shutil.which("radosgw") is None:
        pytest.fail(
            "radosgw is not installed, so the S3 conformance tests cannot run against a real S3 "
            f"endpoint. Install it with: apt-get install -y --no-install-recommends {DEBIAN_PACKAGES} "
            "(or set FIELDPROOF_TEST_S3_ENDPOINT to a running endpoint, or FIELDPROOF_SKIP_S3=1 to skip).",
            pytrace=False,
        )
    workdir = Path(tempfile.mkdtemp(prefix="fieldproof-rgw-"))
    base = workdir / "rgw"
    try:
        exports, elapsed = _start_rgw(base)
    except RuntimeError:
        try:  # one retry: a free port can be taken between choosing and binding it
            exports, elapsed = _start_rgw(base)
        except RuntimeError as exc:
            # rgw-start.sh has stopped its daemons; the logs stay in the work dir for diagnosis
            pytest.fail(f"could not start the RADOS Gateway (logs in {base}/log): {exc}", pytrace=False)
    _START_TIMES.append(elapsed)
    try:
        yield S3Endpoint(
            url=exports["AWS_ENDPOINT_URL"],
            access_key_id=exports["AWS_ACCESS_KEY_ID"],
            secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            region=exports.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
    finally:
        _stop_rgw(base)
        shutil.rmtree(workdir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    for elapsed in _START_TIMES:
        terminalreporter.write_line(f"RADOS Gateway (scripts/rgw-start.sh) started in {elapsed:.1f} s")


@pytest.fixture
def s3_bucket_store(request):
    """A factory of S3 stores on one fresh Object Lock bucket per test (needs the endpoint)."""
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"fieldproof-test-{uuid.uuid4().hex[:12]}"
    endpoint.store(bucket).ensure_bucket(object_lock=True)

    def make(retention: timedelta = timedelta(0)) -> S3BlobStore:
        return endpoint.store(bucket, retention=retention)

    return make


BACKENDS = [
    pytest.param("filesystem", id="filesystem"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
]


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path):
    """`make_store(retention=...)`: stores of one back end sharing one location within a test."""
    if request.param == "filesystem":
        root = tmp_path / "blobs"
        return lambda retention=timedelta(0): FilesystemBlobStore(root, retention=retention)
    return request.getfixturevalue("s3_bucket_store")


@pytest.fixture
def store(make_store):
    return make_store()
