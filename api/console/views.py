"""Console pages. Each view: read the form or query, call one service, render a template.

This module holds signing in and out and the language, and installs the console: the feature
modules (cases, evidence, audit, packets) add their pages to the one blueprint."""
from __future__ import annotations

from flask import Flask, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from api.console import audit, auth, cases, evidence, i18n, notices, packets, placements  # noqa: F401 - each adds its pages
from api.console.blueprint import bp, csrf, safe_next
from core.errors import RateLimited, Unauthenticated

# Pages in the navigation: (endpoint, label, roles allowed).
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("console.placement_list", "Placements", tuple(placements.placements.PLACERS)),
    ("console.audit", "Audit", audit.AUDITORS),
)


@bp.get("/")
def home():
    return redirect(url_for("console.case_list"))


@bp.route("/login", methods=["GET", "POST"])
def login_page():
    error = None
    if request.method == "POST":
        try:
            auth.login(request.form.get("username", "")[:64], request.form.get("password", "")[:256])
            return redirect(safe_next(request.args.get("next")))
        except RateLimited:
            error, status = _("Too many failed sign-ins. Try again later."), 429
        except Unauthenticated:
            error, status = _("Wrong username or password."), 401
        return render_template("console/login.html", error=error), status
    return render_template("console/login.html", error=error)


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("console.login_page"))


@bp.post("/language")
def language():
    chosen = request.form.get("locale", "en")
    session["locale"] = chosen if chosen in ("en", "zh_CN") else "en"
    return redirect(safe_next(request.form.get("next")))


def install(app: Flask) -> None:
    i18n.install(app)
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.context_processor
    def _console_globals():
        if not request.path.startswith("/console"):
            return {}
        return {"html_lang": i18n.html_lang(get_locale()), "console_nav": NAV}
