"""Files of the collector's app. No business logic: the page, its manifest, its service worker.

The service worker is served with the list of shell files and a version derived from their
bytes, so a new release replaces the cached shell and an unchanged one keeps it.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, redirect, render_template, url_for

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint("field", __name__, url_prefix="/field", static_folder="static", static_url_path="/static")


@lru_cache(maxsize=1)
def shell() -> tuple[str, tuple[str, ...]]:
    """(version, paths): every file the app needs to open with no network at all."""
    files = sorted(p for p in STATIC.rglob("*") if p.is_file() and p.name != "sw.js")
    digest = hashlib.sha256()
    for path in [*files, STATIC / "sw.js", *_templates()]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    paths = ("/field/", "/field/manifest.webmanifest",
             *(f"/field/static/{p.relative_to(STATIC).as_posix()}" for p in files))
    return digest.hexdigest()[:16], paths


def _templates() -> list[Path]:
    return sorted((Path(__file__).resolve().parents[2] / "templates" / "field").glob("*"))


@bp.get("")
def root():
    return redirect(url_for("field.page"), code=308)


@bp.get("/")
def page():
    version, _ = shell()
    return render_template("field/index.html", version=version)


@bp.get("/manifest.webmanifest")
def manifest():
    body = render_template("field/manifest.webmanifest")
    return Response(body, mimetype="application/manifest+json")


@bp.get("/sw.js")
def service_worker():
    version, paths = shell()
    source = (STATIC / "sw.js").read_text(encoding="utf-8")
    source = source.replace("__VERSION__", version).replace('"__SHELL__"', ", ".join(f'"{p}"' for p in paths))
    return Response(source, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


def install(app) -> None:
    app.register_blueprint(bp)
