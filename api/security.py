"""Security headers on every response; the console gets a strict Content-Security-Policy."""
from __future__ import annotations

from flask import Flask

CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# flask-smorest's Swagger UI page starts the UI from an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The collector's app (/field): its own scripts only; the camera, microphone and GPS for itself.
FIELD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
             "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
             "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
FIELD_PERMISSIONS = "camera=(self), microphone=(self), geolocation=(self), payment=()"


_ALWAYS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
           ("Cross-Origin-Opener-Policy", "same-origin"), ("Cross-Origin-Resource-Policy", "same-origin"),
           ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"))
_HSTS = (("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),)


_EXTRA = {
    "console": (("Content-Security-Policy", CONSOLE_CSP), ("Cache-Control", "no-store")),
    "docs": (("Content-Security-Policy", DOCS_CSP),),
    "api": (("Content-Security-Policy", API_CSP), ("Cache-Control", "no-store")),
    "other": (("Content-Security-Policy", API_CSP),),
    "field": (("Content-Security-Policy", FIELD_CSP), ("Permissions-Policy", FIELD_PERMISSIONS),
              ("Cache-Control", "no-cache")),
}


def _kind(path: str) -> str:
    return ("console" if path.startswith("/console") else "docs" if path.startswith("/api/v1/docs")
            else "field" if path == "/field" or path.startswith("/field/") else "api" if path.startswith("/api/") else "other")


def headers_for(path: str, *, production: bool) -> tuple[tuple[str, str], ...]:
    """Every header a response to `path` must carry (a view's own value for one of them wins)."""
    return _headers(_kind(path), production)


def _headers(kind: str, production: bool) -> tuple[tuple[str, str], ...]:
    own = {name for name, _ in _EXTRA[kind]}
    return tuple(h for h in _ALWAYS if h[0] not in own) + _EXTRA[kind] + (_HSTS if production else ())


class SecurityHeaders:
    """WSGI middleware: adds the headers to the header list the app hands to the server. It runs on
    every request, the mobile sync's list included; appending constant tuples there costs a tenth
    of setting them one by one on Flask's response (each value re-validated, each name re-searched),
    and no response can leave without them, error pages included."""

    def __init__(self, app, *, production: bool):
        self.app = app
        self.sets = {kind: tuple((name.lower(), (name, value)) for name, value in _headers(kind, production))
                     for kind in _EXTRA}

    def __call__(self, environ, start_response):
        extra = self.sets[_kind(environ.get("PATH_INFO", ""))]

        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend(header for lower, header in extra if lower not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def install(app: Flask, *, production: bool) -> None:
    app.wsgi_app = SecurityHeaders(app.wsgi_app, production=production)
