"""Console: placing a creditor's file into a portfolio, following its import and reading its
per-row report (paged, and as the CSV the API serves)."""
from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session, runtime
from api.requests import accepts
from api.streaming import send_stored
from cases import services as cases
from core.errors import ValidationFailed
from evidence.services import spool_upload
from placements import services as placements
from placements.models import MODES, RESULTS
from placements.reading import COLUMNS

REPORT_PAGE = 50


def _portfolios():
    portfolios = list(db_session().scalars(cases.visible_portfolios(console_actor()).limit(500)))
    return portfolios, {p.id: p for p in portfolios}


def column_map(text: str) -> dict[str, str]:
    """`their header = our column`, one a line, as the API's `columns` map."""
    mapped: dict[str, str] = {}
    for number, line in enumerate(text.splitlines()[:100], start=1):
        if not line.strip():
            continue
        theirs, sep, ours = line.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            raise ValidationFailed(_("Column map line %(n)s: write it as “their header = our column”.", n=number))
        mapped[theirs.strip()] = ours.strip()
    return mapped


@bp.get("/placements")
@signed_in(*placements.PLACERS)
def placement_list():
    portfolios, by_id = _portfolios()
    return render_template("console/placements.html", portfolios=portfolios, portfolio_of=by_id, modes=MODES,
                           columns=COLUMNS, recent=placements.recent_placements(db_session(), console_actor()))


@bp.post("/placements")
@accepts("multipart/form-data", max_bytes="evidence_max_bytes")
@signed_in(*placements.PLACERS)
def place_file():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(_("Choose a placement file (CSV or XLSX)."))
    mode = request.form.get("mode") or "all_or_nothing"
    columns = column_map(request.form.get("columns") or "")
    with spool_upload(runtime(), upload.stream) as spooled:
        placement = placements.request_placement(db_session(), console_actor(), runtime(),
                                                 request.form.get("portfolio_id") or "", spooled=spooled,
                                                 file_name=upload.filename, mode=mode, column_map=columns)
    return redirect(url_for("console.placement_page", placement_id=placement.id))


@bp.get("/placements/<placement_id>")
@signed_in(*placements.PLACERS)
def placement_page(placement_id):
    placement = placements.get_placement(db_session(), console_actor(), placement_id)
    portfolio = cases.get_portfolio(db_session(), console_actor(), placement.portfolio_id)
    result = request.args.get("result") if request.args.get("result") in RESULTS else None
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    rows, more = [], False
    if placement.report_sha256 is not None:
        rows, more = placements.report_page(db_session(), console_actor(), runtime(), placement_id,
                                            offset=(page - 1) * REPORT_PAGE, limit=REPORT_PAGE, result=result)
    return render_template("console/placement.html", placement=placement, portfolio=portfolio, rows=rows,
                           more=more, page=page, result=result, results=RESULTS, first_row=(page - 1) * REPORT_PAGE)


@bp.get("/placements/<placement_id>/status")
@signed_in(*placements.PLACERS)
def placement_status(placement_id):
    placement = placements.get_placement(db_session(), console_actor(), placement_id)
    return jsonify(status=placement.status, progress=placement.progress, counts=placement.counts,
                   status_label=_(placement.status))


@bp.get("/placements/<placement_id>/report")
@signed_in(*placements.PLACERS)
def placement_report(placement_id):
    return send_stored(placements.open_report(db_session(), console_actor(), runtime(), placement_id))
