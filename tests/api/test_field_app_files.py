"""The collector's app as files: the page, the manifest, the service worker and its shell, and the
headers that let the app (and only the app) use GPS, camera and microphone under a strict CSP."""
from __future__ import annotations

import json
import re


def shell_paths(client) -> list[str]:
    source = client.get("/field/sw.js").get_data(as_text=True)
    return json.loads("[" + re.search(r"const SHELL = \[(.*?)\];", source).group(1) + "]")


def test_field_redirects_to_the_page_which_links_its_manifest(client):
    response = client.get("/field")
    assert response.status_code == 308 and response.headers["Location"].endswith("/field/")
    page = client.get("/field/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<link rel="manifest" href="/field/manifest.webmanifest">' in html
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP allows none


def test_the_manifest_makes_an_installable_app_scoped_to_field(client):
    response = client.get("/field/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["start_url"] == "/field/" and manifest["scope"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["name"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_service_worker_caches_the_shell_and_nothing_from_the_api(client):
    response = client.get("/field/sw.js")
    assert response.mimetype == "text/javascript"
    assert "no-cache" in response.headers["Cache-Control"]
    paths = shell_paths(client)
    assert "/field/" in paths and "/field/static/app.js" in paths
    assert all(p.startswith("/field/") for p in paths)
    total = 0
    for path in paths:
        got = client.get(path)
        assert got.status_code == 200, path
        total += len(got.data)
    assert total < 150 * 1024, f"the app shell is {total / 1024:.0f} KB"


def test_the_shell_version_changes_only_with_its_files(client):
    first = client.get("/field/sw.js").get_data(as_text=True)
    assert first == client.get("/field/sw.js").get_data(as_text=True)
    assert re.search(r'const VERSION = "[0-9a-f]{16}";', first)


def test_only_the_app_may_use_gps_camera_and_microphone_and_only_its_own_scripts(client):
    page = client.get("/field/")
    csp = page.headers["Content-Security-Policy"]
    for directive in ("script-src 'self'", "connect-src 'self'", "worker-src 'self'", "img-src 'self' blob: data:",
                      "media-src 'self' blob:", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert page.headers["Permissions-Policy"].count("geolocation=(self)") == 1
    assert len(page.headers.getlist("Permissions-Policy")) == 1
    api = client.get("/api/v1/ledger/head")
    assert "geolocation=()" in api.headers["Permissions-Policy"]
    assert "geolocation=()" in client.get("/console/login").headers["Permissions-Policy"]
    assert "geolocation=()" in client.get("/fieldwork").headers["Permissions-Policy"]
