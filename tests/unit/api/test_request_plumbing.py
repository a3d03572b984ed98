"""The per-request plumbing every response passes through: the security headers' WSGI middleware
and the app's cached answer to "is this hook a coroutine function?" (no database)."""
from __future__ import annotations

import pytest

import api.app as app_module
from api.app import FieldProofFlask
from api.security import SecurityHeaders, headers_for


def _serve(middleware, path, app_headers):
    """Run `middleware` over a WSGI app answering with `app_headers`; the header list it sends."""
    sent = {}

    def wsgi_app(environ, start_response):
        start_response("200 OK", list(app_headers))
        return [b"{}"]

    def start_response(status, headers, exc_info=None):
        sent["headers"] = headers

    body = middleware(wsgi_app)({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response)
    assert b"".join(body) == b"{}"
    return sent["headers"]


@pytest.mark.parametrize("path", ["/api/v1/visits", "/console/cases", "/api/v1/docs", "/healthz", ""])
@pytest.mark.parametrize("production", [False, True])
def test_every_header_of_the_path_is_added_once(path, production):
    headers = _serve(lambda app: SecurityHeaders(app, production=production), path,
                     [("Content-Type", "application/json")])
    expected = headers_for(path or "/", production=production)
    assert headers == [("Content-Type", "application/json"), *expected]
    assert len({name.lower() for name, _ in headers}) == len(headers)
    assert any(name == "Strict-Transport-Security" for name, _ in headers) == production


def test_the_api_and_the_console_get_their_own_policies():
    api = dict(_serve(lambda app: SecurityHeaders(app, production=False), "/api/v1/visits", []))
    console = dict(_serve(lambda app: SecurityHeaders(app, production=False), "/console/cases", []))
    docs = dict(_serve(lambda app: SecurityHeaders(app, production=False), "/api/v1/docs", []))
    assert api["Content-Security-Policy"].startswith("default-src 'none'")
    assert api["Cache-Control"] == console["Cache-Control"] == "no-store"
    assert "script-src 'self'" in console["Content-Security-Policy"]
    assert "'unsafe-inline'" in docs["Content-Security-Policy"] and "Cache-Control" not in docs


def test_a_views_own_value_wins_whatever_its_case():
    own = [("cache-control", "private, max-age=60"), ("Content-Security-Policy", "sandbox")]
    headers = _serve(lambda app: SecurityHeaders(app, production=True), "/api/v1/evidence/x/content", own)
    assert [value for name, value in headers if name.lower() == "cache-control"] == ["private, max-age=60"]
    assert [value for name, value in headers if name.lower() == "content-security-policy"] == ["sandbox"]
    assert ("X-Frame-Options", "DENY") in headers


def test_whether_a_hook_is_a_coroutine_function_is_asked_once_per_function(monkeypatch):
    asked = []

    def counting(func):
        asked.append(func)
        return False

    monkeypatch.setattr(app_module, "iscoroutinefunction", counting)
    app = FieldProofFlask("plumbing")

    def hook():
        return None

    class View:
        def get(self):
            return None

    for _ in range(3):
        assert app.ensure_sync(hook) is hook
        method = View().get  # a new bound method per request, as MethodView makes them
        assert app.ensure_sync(method) is method
    assert asked == [hook, asked[1]] and asked[1].__func__ is View.get


def test_coroutine_functions_still_go_through_flasks_adapter(monkeypatch):
    app = FieldProofFlask("plumbing")
    adapted = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: adapted.append(func) or "adapted")

    async def handler():
        return None

    assert app.ensure_sync(handler) == "adapted"
    assert app.ensure_sync(handler) == "adapted"  # never remembered as synchronous
    assert adapted == [handler, handler]
    assert app.ensure_sync(len) is len  # a builtin (no weak reference) is asked every time, and passes


def test_a_schema_said_to_fill_nothing_in_loads_nothing_as_nothing():
    """`StrictParser.parse` answers {} for an empty query part of such a schema without loading it:
    for every schema of the API it vouches for, loading an empty mapping gives exactly that."""
    import importlib
    import pkgutil

    import marshmallow as ma

    import api.schemas
    from api.requests import _fills_nothing_in
    from api.schemas.visits import VisitQueryArgsSchema, VisitReportArgsSchema

    schemas = {value for info in pkgutil.iter_modules(api.schemas.__path__)
               for value in vars(importlib.import_module(f"api.schemas.{info.name}")).values()
               if isinstance(value, type) and issubclass(value, ma.Schema) and value.__module__.startswith("api.")}
    vouched = {schema for schema in schemas if _fills_nothing_in(schema)}
    assert VisitQueryArgsSchema in vouched and VisitReportArgsSchema not in vouched  # required fields
    for schema in vouched:
        assert schema().load({}, unknown=ma.RAISE) == {}, schema
