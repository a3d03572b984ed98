"""Every error is problem+json with the fields API.md names, and bad input writes nothing."""
import pytest
from sqlalchemy import func, select

from cases.models import Case

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("urn:fieldproof:problem:")
    assert body["title"] and body["detail"]
    return body


def case_count(app):
    with app.extensions["fieldproof"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Case))


def test_unknown_path_is_404_with_or_without_token(client, factory):
    assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert_problem(client.get("/api/v1/no-such-thing", headers=factory.user("admin").headers), 404)


def test_no_token_is_401_with_challenge(client):
    response = client.get("/api/v1/cases")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_token_is_401(client):
    assert_problem(client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}), 401)


def test_wrong_role_is_403(client, factory):
    assert_problem(client.post("/api/v1/cases", json=factory.case_payload(),
                               headers=factory.user("collector").headers), 403)


def test_405_names_allowed_methods(client, factory):
    response = client.delete("/api/v1/cases", headers=factory.user("admin").headers)
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_duplicate_reference_is_409(client, factory):
    supervisor = factory.user("supervisor")
    payload = factory.case_payload()
    assert client.post("/api/v1/cases", json=payload, headers=supervisor.headers).status_code == 201
    assert_problem(client.post("/api/v1/cases", json=payload, headers=supervisor.headers), 409)


BAD_BODIES = [
    ("malformed JSON", b'{"reference": ', "application/json", 400),
    ("invalid UTF-8", b'{"reference": "\xff\xfe"}', "application/json", 400),
    ("NaN", b'{"days_past_due": NaN}', "application/json", 400),
    ("duplicate keys", b'{"reference": "a", "reference": "b"}', "application/json", 400),
    ("huge float", b'{"amount_overdue": 1e999}', "application/json", 400),
    ("huge integer", b'{"days_past_due": ' + b"9" * 5000 + b"}", "application/json", 400),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("Infinity", b'{"days_past_due": Infinity}', "application/json", 400),
    ("wrong content type", b"reference=x", "application/x-www-form-urlencoded", 415),
    ("text/plain JSON", b'{"reference": "x"}', "text/plain", 415),
]


@pytest.mark.parametrize("label,body,content_type,status", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_refused_and_nothing_written(app, client, factory, label, body, content_type, status):
    response = client.post("/api/v1/cases", data=body, content_type=content_type,
                           headers=factory.user("supervisor").headers)
    assert_problem(response, status)
    assert case_count(app) == 0


INVALID_FIELDS = [
    ("latitude 91", {"addresses": [{"kind": "home", "line": "x", "city": "y", "country": "CN", "lat": 91, "lon": 0}]},
     "addresses.0.lat"),
    ("longitude -181", {"addresses": [{"kind": "home", "line": "x", "city": "y", "country": "CN", "lat": 0,
                                       "lon": -181}]}, "addresses.0.lon"),
    ("only one coordinate", {"addresses": [{"kind": "home", "line": "x", "city": "y", "country": "CN", "lat": 1}]},
     "addresses.0.lat"),
    ("unknown jurisdiction", {"jurisdiction": "FR"}, "jurisdiction"),
    ("US without state", {"jurisdiction": "US"}, "jurisdiction"),
    ("US unknown state", {"jurisdiction": "US-ZZ"}, "jurisdiction"),
    ("wrong type", {"days_past_due": "ninety"}, "days_past_due"),
    ("float where integer", {"days_past_due": 9.5}, "days_past_due"),
    ("unknown field", {"favourite_colour": "red"}, "favourite_colour"),
    ("negative amount", {"amount_overdue": "-1.00"}, "amount_overdue"),
    ("lower-case currency", {"currency": "cny"}, "currency"),
    ("card number not 4 digits", {"card_last4": "12345"}, "card_last4"),
    ("unknown address kind", {"addresses": [{"kind": "office", "line": "x", "city": "y", "country": "CN"}]},
     "addresses.0.kind"),
]


@pytest.mark.parametrize("label,override,field", INVALID_FIELDS, ids=[i[0] for i in INVALID_FIELDS])
def test_invalid_fields_are_422_naming_the_field(app, client, factory, label, override, field):
    response = client.post("/api/v1/cases", json=factory.case_payload(**override),
                           headers=factory.user("supervisor").headers)
    body = assert_problem(response, 422)
    assert field in body["errors"], body
    assert case_count(app) == 0


def test_body_over_the_limit_is_413_and_writes_nothing(app, client, factory):
    payload = factory.case_payload()
    payload["debtor"]["name"] = "x" * (app.extensions["fieldproof"].settings.max_json_bytes + 10)
    response = client.post("/api/v1/cases", json=payload, headers=factory.user("supervisor").headers)
    assert_problem(response, 413)
    assert case_count(app) == 0


def test_unexpected_error_is_500_problem_without_trace(app, client):
    @app.get("/api/v1/test-explode")
    def explode():
        raise RuntimeError("secret internals /etc/passwd")

    body = assert_problem(client.get("/api/v1/test-explode"), 500)
    assert "secret internals" not in str(body) and "Traceback" not in str(body)


def test_database_down_is_503_with_retry_after(tmp_path):
    from api.app import create_app
    from core.settings import Settings
    from tests.conftest import TEST_SECRET

    broken = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite",
                      secret_key=TEST_SECRET)
    app = create_app(broken)
    # the app factory makes the parent directory; remove it so connecting fails
    (tmp_path / "missing" / "dir").rmdir()
    response = app.test_client().get("/readyz")
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("body", [{"username": "a\u0000b", "password": "x"}, {"username\u0000": "a", "password": "x"}])
def test_nul_in_json_strings_is_400_on_every_back_end(client, body):
    """U+0000 is valid JSON but PostgreSQL cannot store it: refused before any query, alike on SQLite."""
    response = client.post("/api/v1/auth/tokens", json=body)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert "U+0000" in response.get_json()["detail"]


@pytest.mark.parametrize("url", ["/api/v1/cases/abc%00def", "/api/v1/cases?updated_since=2030-01-01T00:00:00Z%00",
                                 "/api/v1/cases?x%00=1"])
def test_nul_in_the_path_or_query_is_400(client, factory, url):
    supervisor = factory.user("supervisor")
    response = client.get(url, headers=supervisor.headers)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["title"] == "Malformed request"


def test_nul_in_a_console_form_is_400(client):
    response = client.post("/console/login", data={"username": "a\u0000", "password": "x"})
    assert response.status_code == 400
