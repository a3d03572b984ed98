"""Privacy: national ids and phone numbers encrypted at rest (raw SQL over every table, on SQLite
and on PostgreSQL when the suite runs there) and absent from ALL output of a realistic session;
security headers on every kind of response; secrets only from the environment."""
from __future__ import annotations

import logging
import re
import time

import pytest
from sqlalchemy import create_engine, inspect, text

from core.errors import ConfigurationError
from core.settings import Settings
from tests.evidence_corpus import capture, multipart, photo
from tests.evidence_world import make_visit
from tests.factories import PASSWORD

NATIONAL_ID = "110101199003077777"
PHONE = "+86 139 1234 5678"
PHONE_DIGITS = "13912345678"
SECOND_ID = "440301198811226666"
SECOND_PHONE = "+1 (415) 555-0199"


def _secrets_in(text_: str) -> list[str]:
    digits = re.sub(r"\D", "", text_)
    found = [s for s in (NATIONAL_ID, SECOND_ID, PHONE, SECOND_PHONE) if s in text_]
    found += [s for s in (NATIONAL_ID[:17], SECOND_ID[:17], PHONE_DIGITS, "4155550199") if s in digits]
    return found


def _dump_all_tables(url: str) -> str:
    engine = create_engine(url)
    out = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: " + " | ".join(str(v) for v in row))
    engine.dispose()
    return "\n".join(out)


def test_identifiers_are_encrypted_at_rest_in_every_table(app, client, factory, database_url):
    supervisor = factory.user("supervisor")
    case = factory.case(supervisor=supervisor, debtor={"name": "Chen Jing", "national_id": NATIONAL_ID,
                                                       "phone": PHONE})
    patched = client.patch(f"/api/v1/cases/{case['id']}", headers=supervisor.headers,
                           json={"debtor": {"national_id": SECOND_ID, "phone": SECOND_PHONE}})
    assert patched.status_code == 200
    called = client.post(f"/api/v1/cases/{case['id']}/contacts", headers=supervisor.headers,
                         json={"channel": "call", "at": "2026-11-02T10:00:00+08:00", "outcome": "no_answer",
                               "number": SECOND_PHONE})
    assert called.status_code == 201 and called.get_json()["number"].endswith("0199")
    assert _secrets_in(str(called.get_json())) == []
    dump = _dump_all_tables(database_url)
    assert "Chen Jing" in dump  # we are looking at the right rows
    assert _secrets_in(dump) == [], "plaintext identifier stored"
    assert _secrets_in(str(patched.get_json())) == [] and "6666" in str(patched.get_json())
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT debtor_national_id_encrypted, debtor_phone_encrypted FROM cases "
                                          "WHERE id = :id"), {"id": case["id"]}).one()
        engine.dispose()
        assert all(value and SECOND_ID not in value for value in row)


class _Everything(logging.Handler):
    """Every record of every logger, formatted as the app formats its own (then scrubbed)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        from api.observability import ScrubbingJsonFormatter

        self.setFormatter(ScrubbingJsonFormatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_a_realistic_session_logs_no_identifier(app, client, factory, capfd, monkeypatch, console):
    from api.observability import configure_logging

    configure_logging("DEBUG")  # the app's own stderr handler, writing where capfd can see it
    everything = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(everything)
    root.setLevel(logging.DEBUG)
    try:
        _session(app, client, factory, monkeypatch, console)
    finally:
        root.removeHandler(everything)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    emitted = out + err
    assert "unhandled error" in emitted  # the failure injected below was logged, scrubbed
    assert len(everything.lines) > 30
    for source, text_ in (("stderr/stdout", emitted), ("log records", "\n".join(everything.lines))):
        assert _secrets_in(text_) == [], f"{source} leaks: {_secrets_in(text_)}"
        assert PASSWORD not in text_ and "Bearer ey" not in text_


def _session(app, client, factory, monkeypatch, console):
    supervisor, collector, legal = factory.user("supervisor"), factory.user("collector"), factory.user("legal")
    case = factory.case(collector=collector, supervisor=supervisor,
                        debtor={"name": "Chen Jing", "national_id": NATIONAL_ID, "phone": PHONE})
    token = client.post("/api/v1/auth/tokens", json={"username": legal.username, "password": PASSWORD})
    assert token.status_code == 201
    client.post("/api/v1/auth/tokens", json={"username": legal.username, "password": NATIONAL_ID})  # 401
    client.post("/api/v1/cases", headers=supervisor.headers, json={"debtor": {"national_id": NATIONAL_ID + "!"}})
    client.patch(f"/api/v1/cases/{case['id']}", headers=supervisor.headers,
                 json={"debtor": {"phone": PHONE + " ext. <b>"}})  # 422
    client.get(f"/api/v1/cases?q={NATIONAL_ID}", headers=supervisor.headers)
    client.get(f"/api/v1/cases?q={PHONE_DIGITS}", headers=supervisor.headers)
    home = next(a for a in case["addresses"] if a["kind"] == "home")
    client.post("/api/v1/visits", headers=supervisor.headers,
                json={"case_id": case["id"], "address_id": home["id"], "collector_id": collector.id,
                      "window_start": "2030-01-01T10:00:00+08:00", "window_end": "2030-01-01T11:00:00+08:00"})
    visit_id = make_visit(app, case, collector.id, supervisor.id)
    data = photo()
    assert client.post("/api/v1/evidence", data=multipart(capture(visit_id, data), data), headers=collector.headers,
                       content_type="multipart/form-data").status_code == 201
    client.post(f"/api/v1/visits/{visit_id}/notes", headers=collector.headers,
                json={"text": f"debtor gave id {NATIONAL_ID} and phone {PHONE}", "at": "2030-01-01T10:00:00+08:00"})
    packet = client.post(f"/api/v1/cases/{case['id']}/packets", json={"language": "en"}, headers=legal.headers)
    assert packet.status_code == 202
    for _ in range(120):
        status = client.get(f"/api/v1/packets/{packet.get_json()['id']}", headers=legal.headers).get_json()["status"]
        if status in ("ready", "failed"):
            break
        time.sleep(0.5)
    console.login(legal)
    client.get("/console/cases")
    client.get(f"/console/cases/{case['id']}")
    client.get(f"/console/cases?q={NATIONAL_ID}")
    # an unexpected failure whose message carries the identifiers
    from api.resources import cases as case_views

    def explode(*args, **kwargs):
        raise RuntimeError(f"lookup failed for {NATIONAL_ID} / {PHONE} / {PHONE_DIGITS}")

    monkeypatch.setattr(case_views.cases, "get_case", explode)
    assert client.get(f"/api/v1/cases/{case['id']}", headers=supervisor.headers).status_code == 500
    logging.getLogger("fieldproof.test").warning("debtor %s phone %s", NATIONAL_ID, PHONE)


# --- security headers ------------------------------------------------------------------------------

BASE_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Cross-Origin-Opener-Policy": "same-origin"}


def _check_headers(response, where, *, no_store=False, production=False):
    for name, value in BASE_HEADERS.items():
        assert response.headers.get(name) == value, (where, name, response.headers.get(name))
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp or "default-src 'none'" in csp, (where, csp)
    assert "X-Request-ID" in response.headers
    if no_store:
        assert "no-store" in response.headers.get("Cache-Control", ""), where
    if production:
        assert response.headers.get("Strict-Transport-Security", "").startswith("max-age="), where


def _every_kind_of_response(app, client, factory, console):
    admin = factory.user("admin")
    yield "api 200", client.get("/api/v1/me", headers=admin.headers), True
    yield "api 201", client.post("/api/v1/cases", json=factory.case_payload(), headers=admin.headers), True
    yield "api 401", client.get("/api/v1/me"), True
    yield "api 403", client.post("/api/v1/devices", json={}, headers=admin.headers), True
    yield "api 404 unknown path", client.get("/api/v1/nothing-here"), True
    yield "api 404 object", client.get("/api/v1/cases/nope", headers=admin.headers), True
    yield "api 405", client.put("/api/v1/me", headers=admin.headers), True
    yield "api 413", client.post("/api/v1/cases", data=b"{" + b" " * (2 << 20) + b"}", headers=admin.headers,
                                 content_type="application/json"), True
    yield "api 415", client.post("/api/v1/cases", data=b"x", headers=admin.headers, content_type="text/plain"), True
    yield "api 422", client.post("/api/v1/cases", json={}, headers=admin.headers), True
    yield "openapi.json", client.get("/api/v1/openapi.json"), False
    yield "docs page", client.get("/api/v1/docs"), False
    yield "docs asset", client.get("/api/v1/docs/assets/swagger-ui.css"), False
    yield "healthz", client.get("/healthz"), False
    yield "metrics", client.get("/metrics"), False
    yield "404 outside api", client.get("/favicon.ico"), False
    yield "flask static", client.get("/static/nothing.css"), False
    yield "console static", client.get("/console/static/console.css"), False
    yield "console login", client.get("/console/login"), True
    yield "console redirect", client.get("/console/cases"), True
    yield "console 400 csrf", client.post("/console/login", data={}), True
    console.login(admin)
    yield "console page", client.get("/console/cases"), True
    yield "console 404", client.get("/console/cases/nope"), True
    yield "console 403", client.get("/console/verifications/x", headers={}), True


def test_security_headers_on_every_response(app, client, factory, console, monkeypatch):
    seen = 0
    for where, response, no_store in _every_kind_of_response(app, client, factory, console):
        _check_headers(response, where, no_store=no_store)
        seen += 1
    # and on a 500
    from api.resources import operations

    monkeypatch.setattr(operations, "DependencyUnavailable", None, raising=False)
    admin = factory.user("admin")
    from api.resources import cases as case_views

    monkeypatch.setattr(case_views.cases, "get_case", lambda *a, **k: 1 / 0)
    broken = client.get("/api/v1/cases/x", headers=admin.headers)
    assert broken.status_code == 500 and broken.mimetype == "application/problem+json"
    assert "ZeroDivisionError" not in broken.get_data(as_text=True)
    _check_headers(broken, "api 500", no_store=True)
    assert seen > 20


def test_production_adds_hsts_and_secure_cookies(tmp_path, database_url):
    from api.app import create_app
    from core.keys import write_development_content_credentials, write_new_key_file

    key = tmp_path / "ledger.pem"
    write_new_key_file(key)
    chain, c2pa_key = tmp_path / "c2pa-chain.pem", tmp_path / "c2pa-key.pem"
    write_development_content_credentials(chain, c2pa_key, "Example Collections Ltd")
    app = create_app(Settings(env="production", data_dir=tmp_path, database_url=database_url,
                              storage_url=f"file://{tmp_path / 'blobs'}", secret_key="p" * 48,
                              signing_key_file=key, c2pa_cert_file=chain, c2pa_key_file=c2pa_key))
    client = app.test_client()
    _check_headers(client.get("/healthz"), "production healthz", production=True)
    _check_headers(client.get("/console/login"), "production console", production=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_HTTPONLY"] is True
    from tests.conftest import shut_down

    shut_down(app)  # its checkpoint job must not outlive the test (it locks the ledger head)


# --- secrets --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env", [
    {"FIELDPROOF_ENV": "production"},
    {"FIELDPROOF_ENV": "production", "FIELDPROOF_SECRET_KEY": "s" * 48},
    {"FIELDPROOF_ENV": "production", "FIELDPROOF_SIGNING_KEY_FILE": "/nonexistent/key.pem"},
    {"FIELDPROOF_ENV": "production", "FIELDPROOF_SECRET_KEY": "short", "FIELDPROOF_SIGNING_KEY_FILE": "/k.pem"},
], ids=["nothing", "no-signing-key", "no-secret", "short-secret"])
def test_production_refuses_to_start_without_secrets_from_the_environment(tmp_path, env):
    from api.app import create_app

    env = {**env, "FIELDPROOF_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigurationError):
        create_app(Settings.from_env(env))
    assert not (tmp_path / "keys").exists(), "production generated a secret or key instead of refusing"


def test_production_refuses_a_signing_key_file_that_is_missing(tmp_path):
    from api.app import create_app

    settings = Settings.from_env({"FIELDPROOF_ENV": "production", "FIELDPROOF_DATA_DIR": str(tmp_path),
                                  "FIELDPROOF_SECRET_KEY": "s" * 48,
                                  "FIELDPROOF_SIGNING_KEY_FILE": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigurationError):
        create_app(settings)
    assert not (tmp_path / "missing.pem").exists()


def test_production_refuses_to_start_without_the_content_credential_certificate(tmp_path):
    from api.app import create_app
    from core.keys import write_new_key_file

    write_new_key_file(tmp_path / "ledger.pem")
    settings = Settings.from_env({"FIELDPROOF_ENV": "production", "FIELDPROOF_DATA_DIR": str(tmp_path / "data"),
                                  "FIELDPROOF_SECRET_KEY": "s" * 48,
                                  "FIELDPROOF_SIGNING_KEY_FILE": str(tmp_path / "ledger.pem")})
    with pytest.raises(ConfigurationError, match="FIELDPROOF_C2PA_CERT_FILE"):
        create_app(settings)
    assert not (tmp_path / "data" / "keys").exists(), "production generated a certificate instead of refusing"


def test_no_secret_is_written_in_the_source():
    """Nothing that looks like a key, password or secret default is committed in application code."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"(?i)(secret_key|password|api_key|aws_secret_access_key)\s*[=:]\s*[\"'][^\"'{}<>]{8,}[\"']")
    offenders = []
    for package in ("api", "accounts", "cases", "visits", "evidence", "legal_docs", "core"):
        for path in (root / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) or "BEGIN PRIVATE KEY" in line:
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
