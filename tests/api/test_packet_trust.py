"""A packet built with a TSA configured carries the checkpoint's trusted time; a TSA that is down never blocks it."""
from __future__ import annotations

import io
import zipfile

import pypdf
import pytest

from core.jobs import run_job
from legal_docs.verify_bundle import TrustAnchors, verify_bundle
from tests.api.test_packets import build, upload
from tests.conftest import TEST_SECRET
from tests.tsa import LocalCA, LocalTSA


@pytest.fixture(scope="module")
def ca():
    return LocalCA.create()


@pytest.fixture
def tsa(ca):
    server = LocalTSA(ca).start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path, database_url, tsa, ca):
    from core.settings import Settings

    return Settings(env="development", data_dir=tmp_path, database_url=database_url,
                    storage_url=f"file://{tmp_path / 'blobs'}", secret_key=TEST_SECRET, log_level="INFO",
                    tsa_url=tsa.url, tsa_ca_file=ca.write_root(tmp_path / "tsa-root.pem"))


def bundle_of(client, packet, world, tmp_path):
    answer = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers)
    assert answer.status_code == 200
    path = tmp_path / f"{packet['id']}.zip"
    path.write_bytes(answer.data)
    return path


def declaration_text(path):
    with zipfile.ZipFile(path) as archive:
        volume = next(name for name in archive.namelist() if name.endswith(".pdf") and not name.startswith("exhibits/"))
        return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(archive.read(volume))).pages)


def test_a_packet_states_and_carries_the_trusted_time(client, app, world, tmp_path, ca):
    upload(client, world, minutes_ago=5)
    packet = build(client, app, world)
    assert packet["status"] == "ready", packet["error"]
    path = bundle_of(client, packet, world, tmp_path)
    report = verify_bundle(path, anchors=TrustAnchors(tsa_roots_pem=ca.root_pem()))
    assert report.ok, report.failures
    assert report.timestamp_status == "verified" and report.trusted_time is not None
    text = " ".join(declaration_text(path).split())
    assert "Trusted time" in text and report.trusted_time.strftime("%Y-%m-%d %H:%M:%S UTC") in text


def test_a_tsa_that_is_down_never_blocks_a_packet_and_the_stamp_follows(client, app, world, tmp_path, tsa, ca):
    tsa.available = False
    upload(client, world, minutes_ago=5)
    packet = build(client, app, world)
    assert packet["status"] == "ready", packet["error"]
    path = bundle_of(client, packet, world, tmp_path)
    assert verify_bundle(path).timestamp_status == "absent"
    report = verify_bundle(path, anchors=TrustAnchors(tsa_roots_pem=ca.root_pem()))
    assert [f.problem for f in report.failures] == ["timestamp_missing"]
    text = " ".join(declaration_text(path).split())
    assert "pending" in text and "/api/v1/ledger/checkpoints" in text

    tsa.available = True
    run_job(app.extensions["fieldproof"], "ledger.stamp_checkpoints", {})
    checkpoints = client.get("/api/v1/ledger/checkpoints?page_size=100", headers=world.legal.headers).get_json()
    built = [c for c in checkpoints if c["tree_size"] == packet["checkpoint_tree_size"]]
    assert built and all(c["timestamp"] is not None for c in built)
