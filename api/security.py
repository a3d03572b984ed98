"""Security headers on every response; the console gets a strict Content-Security-Policy."""
from __future__ import annotations

from flask import Flask, request

CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# flask-smorest's Swagger UI page starts the UI from an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def install(app: Flask, *, production: bool) -> None:
    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        path = request.path
        if path.startswith("/console"):
            headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
            headers.setdefault("Cache-Control", "no-store")
        elif path.startswith("/api/v1/docs"):
            headers.setdefault("Content-Security-Policy", DOCS_CSP)
        else:
            headers.setdefault("Content-Security-Policy", API_CSP)
            if path.startswith("/api/"):
                headers.setdefault("Cache-Control", "no-store")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response
