"""The console's blueprint: CSRF on every form, the signed-in actor in every template, domain
errors as an error page. The pages are in one module per feature."""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from api.console.auth import console_actor
from api.problems import STATUS_OF
from core.errors import FieldProofError

bp = Blueprint("console", __name__, url_prefix="/console", static_folder="static",
               static_url_path="/static")
csrf = CSRFProtect()


@bp.before_request
def _check_csrf():
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        csrf.protect()


@bp.app_context_processor
def _globals():
    return {"actor": console_actor() if request.blueprint == "console" else None}


@bp.errorhandler(CSRFError)
def _csrf_refused(error):
    return render_template("console/error.html", status=400, message=_("The form expired or was not sent by this "
                                                                        "console. Reload the page and try again.")), 400


@bp.errorhandler(FieldProofError)
def _refused(error: FieldProofError):
    status = next(code for cls, code in STATUS_OF if isinstance(error, cls))
    return render_template("console/error.html", status=status, message=error.detail), status


def safe_next(target: str | None) -> str:
    """Only console paths: a login link must not become an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.case_list")
