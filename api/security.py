"""Security headers on every response; the console gets a strict Content-Security-Policy."""
from __future__ import annotations

from flask import Flask, request

CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# flask-smorest's Swagger UI page starts the UI from an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


_ALWAYS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
           ("Cross-Origin-Opener-Policy", "same-origin"), ("Cross-Origin-Resource-Policy", "same-origin"),
           ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"))
_HSTS = (("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),)


def headers_for(path: str, *, production: bool) -> tuple[tuple[str, str], ...]:
    """Every header a response to `path` must carry (a view's own value for one of them wins)."""
    if path.startswith("/console"):
        extra = (("Content-Security-Policy", CONSOLE_CSP), ("Cache-Control", "no-store"))
    elif path.startswith("/api/v1/docs"):
        extra = (("Content-Security-Policy", DOCS_CSP),)
    elif path.startswith("/api/"):
        extra = (("Content-Security-Policy", API_CSP), ("Cache-Control", "no-store"))
    else:
        extra = (("Content-Security-Policy", API_CSP),)
    return _ALWAYS + extra + (_HSTS if production else ())


def install(app: Flask, *, production: bool) -> None:
    sets = {kind: headers_for(prefix, production=production)
            for kind, prefix in (("console", "/console"), ("docs", "/api/v1/docs"), ("api", "/api/"), ("other", "/"))}

    @app.after_request
    def _headers(response):
        # One pass over the response's headers instead of a scan per `setdefault`: this runs on
        # every request, the list endpoint's included.
        path = request.path
        kind = ("console" if path.startswith("/console") else "docs" if path.startswith("/api/v1/docs")
                else "api" if path.startswith("/api/") else "other")
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        for name, value in sets[kind]:
            if name.lower() not in present:
                headers.add(name, value)
        return response
