"""RFC 3161 timestamps on checkpoints, from a real TSA on loopback: stamped, served, and retried after an outage."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from core.errors import ConfigurationError
from core.jobs import run_job
from core.settings import Settings
from custody.append import record_custody_event
from custody.ledger.timestamp import verify_token
from custody.models import CustodyEvent
from tests.conftest import shut_down
from tests.tsa import LocalCA, LocalTSA

SHA = "ef" * 32


@pytest.fixture(scope="module")
def ca():
    return LocalCA.create()


@pytest.fixture
def tsa(ca):
    server = LocalTSA(ca).start()
    yield server
    server.stop()


@pytest.fixture
def stamped_app(settings, tsa, ca, tmp_path):
    from api.app import create_app

    application = create_app(settings.with_overrides(tsa_url=tsa.url, tsa_ca_file=ca.write_root(tmp_path / "tsa.pem")))
    application.config["TESTING"] = True
    yield application
    shut_down(application)


@pytest.fixture
def runtime(stamped_app):
    return stamped_app.extensions["fieldproof"]


@pytest.fixture
def auditor(stamped_app):
    from tests.factories import Factory

    return Factory(stamped_app, stamped_app.test_client()).user("auditor")


def append(runtime, count, prefix="item"):
    with runtime.db.transaction() as session:
        for number in range(count):
            record_custody_event(session, type="viewed", evidence_id=f"{prefix}-{number}", actor_id="a", sha256=SHA)


def head(app, user):
    return app.test_client().get("/api/v1/ledger/head", headers=user.headers).get_json()


def test_every_checkpoint_is_stamped_and_served_with_its_token(stamped_app, runtime, auditor, ca):
    append(runtime, 3)
    run_job(runtime, "ledger.issue_checkpoint", {})
    served = head(stamped_app, auditor)
    assert served["tree_size"] == 3 and served["timestamp"] is not None
    stamped = verify_token(base64.b64decode(served["timestamp"]["token"]), served["note"].encode(), [ca.root])
    assert stamped.time.isoformat() == served["timestamp"]["time"].replace("Z", "+00:00")
    assert abs((datetime.now(timezone.utc) - stamped.time).total_seconds()) < 300
    assert served["timestamp"]["tsa"] == runtime.settings.tsa_url
    assert served["stamp_pending_since"] is None


def test_a_tsa_that_is_down_loses_nothing_and_the_stamp_arrives_when_it_is_back(stamped_app, runtime, auditor, tsa):
    tsa.available = False
    append(runtime, 4)
    run_job(runtime, "ledger.issue_checkpoint", {})  # signs the head; the TSA refuses
    asked = tsa.requests
    assert asked >= 1
    append(runtime, 2, prefix="during")  # appends go on while stamps wait
    run_job(runtime, "ledger.issue_checkpoint", {})
    waiting = head(stamped_app, auditor)
    assert waiting["tree_size"] == 6 and waiting["timestamp"] is None
    assert waiting["stamp_pending_since"] is not None
    checkpoints = stamped_app.test_client().get("/api/v1/ledger/checkpoints", headers=auditor.headers).get_json()
    assert all(c["timestamp"] is None for c in checkpoints)

    tsa.available = True
    run_job(runtime, "ledger.stamp_checkpoints", {})  # the retry, driven explicitly
    served = head(stamped_app, auditor)
    assert served["id"] == waiting["id"] and served["timestamp"] is not None
    assert served["stamp_pending_since"] is None
    checkpoints = stamped_app.test_client().get("/api/v1/ledger/checkpoints", headers=auditor.headers).get_json()
    assert checkpoints and all(c["timestamp"] is not None for c in checkpoints)
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CustodyEvent)) == 6


def test_a_head_signed_on_read_is_stamped_by_a_job_after_the_request(stamped_app, runtime, auditor, tsa):
    append(runtime, 2)
    first = head(stamped_app, auditor)
    assert first["tree_size"] == 2
    runtime.jobs.wait_idle(30)
    assert tsa.answered.is_set()
    assert head(stamped_app, auditor)["timestamp"] is not None


def test_a_token_from_an_untrusted_tsa_is_not_kept(settings, tmp_path, ca):
    from api.app import create_app

    rogue = LocalTSA(LocalCA.create("Rogue")).start()
    try:
        app = create_app(settings.with_overrides(tsa_url=rogue.url, tsa_ca_file=ca.write_root(tmp_path / "tsa.pem")))
        try:
            runtime = app.extensions["fieldproof"]
            append(runtime, 1)
            run_job(runtime, "ledger.issue_checkpoint", {})
            assert rogue.requests >= 1
            from tests.factories import Factory

            user = Factory(app, app.test_client()).user("auditor")
            served = head(app, user)
            assert served["timestamp"] is None and served["stamp_pending_since"] is not None
        finally:
            shut_down(app)
    finally:
        rogue.stop()


def test_a_tsa_needs_its_ca_certificates(tmp_path):
    with pytest.raises(ConfigurationError, match="TSA_CA_FILE"):
        Settings.from_env({"FIELDPROOF_TSA_URL": "http://127.0.0.1:9/tsa", "FIELDPROOF_DATA_DIR": str(tmp_path)})
    settings = Settings.from_env({"FIELDPROOF_TSA_URL": "http://127.0.0.1:9/tsa", "FIELDPROOF_DATA_DIR": str(tmp_path),
                                  "FIELDPROOF_TSA_CA_FILE": str(tmp_path / "ca.pem")})
    assert settings.tsa_url and settings.tsa_ca_file == tmp_path / "ca.pem"


def test_waiting_stamps_show_in_readiness_and_metrics(stamped_app, runtime, auditor, tsa):
    client = stamped_app.test_client()
    assert client.get("/readyz").get_json()["checks"]["timestamps"] == "ok"
    tsa.available = False
    append(runtime, 1)
    run_job(runtime, "ledger.issue_checkpoint", {})
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["timestamps"].startswith("pending since ")
    assert "fieldproof_checkpoint_stamp_pending_seconds" in client.get("/metrics").get_data(as_text=True)
    line = [row for row in client.get("/metrics").get_data(as_text=True).splitlines()
            if row.startswith("fieldproof_checkpoint_stamp_pending_seconds ")][0]
    assert float(line.split()[1]) >= 0.0
    tsa.available = True
    run_job(runtime, "ledger.stamp_checkpoints", {})
    assert client.get("/readyz").get_json()["checks"]["timestamps"] == "ok"
