import json

from tests.api.test_auth import login, make_login_user


def test_health_ready_metrics(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"
    client.get("/api/v1/cases")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.mimetype == "text/plain"
    text = metrics.get_data(as_text=True)
    assert 'fieldproof_http_requests_total{endpoint="/api/v1/cases",method="GET",status="401"} 1.0' in text
    assert "fieldproof_http_request_duration_seconds_bucket" in text


def test_every_response_has_a_request_id(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "mobile-req-12345"}).headers["X-Request-ID"] == \
        "mobile-req-12345"
    # an unsafe supplied id is replaced, not echoed into logs
    assert client.get("/healthz", headers={"X-Request-ID": "bad id;drop"}).headers["X-Request-ID"] != "bad id;drop"


def test_logs_are_json_and_carry_no_secrets_or_identity(app, client, factory, capsys):
    from api.observability import configure_logging

    configure_logging("INFO")  # bind the handler to this test's captured stderr
    username, password = make_login_user(app, username="carol", role="supervisor", password="pa55word-secret")
    token = login(client, username, password).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    payload = factory.case_payload(debtor={"name": "Li Wei", "national_id": "110101198501011234",
                                           "phone": "+86 138 0013 8000"})
    client.post("/api/v1/cases", json=payload, headers=headers)
    client.post("/api/v1/cases", json={**payload, "jurisdiction": "XX"}, headers=headers)
    client.post("/api/v1/auth/tokens", json={"username": username, "password": "wrong-pa55word"})
    import logging

    logging.getLogger("fieldproof.test").warning("Authorization: Bearer %s for id %s phone %s", token,
                                                 "110101198501011234", "+86 138 0013 8000")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("{")]
    assert len(lines) >= 4
    for line in lines:
        json.loads(line)
    for secret in (token, "pa55word-secret", "wrong-pa55word", "110101198501011234", "138 0013 8000", "13800138000"):
        assert secret not in err
