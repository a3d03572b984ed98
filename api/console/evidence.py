"""Console: an evidence item's page, its bytes, and redaction."""
from __future__ import annotations

import json

from flask import redirect, render_template, request, url_for
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _

from api.console import timeline
from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session, reads_and_records, runtime
from api.streaming import send_stored
from core.errors import NotFound, ValidationFailed
from evidence import services as evidence
from visits import services as visits

REDACTORS = ("legal", "admin")


@bp.get("/cases/<case_id>/evidence")
@signed_in()
def case_evidence(case_id):
    return redirect(url_for("console.case_page", case_id=case_id, _anchor="evidence-h"))


@bp.get("/evidence/<evidence_id>")
@signed_in()
def evidence_page(evidence_id):
    session_ = db_session()
    item = evidence.get_evidence(session_, console_actor(), evidence_id)
    custody = evidence.custody_of(session_, console_actor(), evidence_id)
    derived = list(session_.scalars(evidence.visible_evidence(console_actor())
                                    .where(evidence.EvidenceItem.derived_from == item.id)))
    return render_template("console/evidence.html", item=item, custody=custody, derived=derived,
                           can_redact=console_actor().role in REDACTORS, zone=visit_zone(item.visit_id),
                           clock=timeline.Clock(timeline.Language(get_locale(), get_translations())))


def visit_zone(visit_id):
    """The time zone of the visit's address, for showing the capture in local time (None: UTC only)."""
    try:
        return visits.get_visit(db_session(), console_actor(), visit_id).time_zone if visit_id else None
    except NotFound:
        return None


@bp.get("/evidence/<evidence_id>/content")
@reads_and_records
@signed_in()
def evidence_content(evidence_id):
    return send_stored(evidence.record_view(db_session(), console_actor(), runtime(), evidence_id),
                       disposition="inline")


@bp.get("/evidence/<evidence_id>/thumbnail")
@reads_and_records
@signed_in()
def evidence_thumbnail(evidence_id):
    return send_stored(evidence.record_view(db_session(), console_actor(), runtime(), evidence_id,
                                           rendition="thumbnail"), disposition="inline")


@bp.post("/evidence/<evidence_id>/redactions")
@signed_in(*REDACTORS)
def redact(evidence_id):
    try:
        regions = json.loads(request.form.get("regions", "[]"))
        assert isinstance(regions, list) and all(isinstance(r, dict) for r in regions)
    except (ValueError, AssertionError):
        regions = None
    reason = (request.form.get("reason") or "").strip()
    mode = request.form.get("mode", "blur")
    if not regions or not reason or mode not in ("blur", "black"):
        raise ValidationFailed(_("Draw at least one region and give a reason."))
    regions = [{k: int(r[k]) for k in ("x", "y", "width", "height")} for r in regions[:50]
               if all(isinstance(r.get(k), int | float) for k in ("x", "y", "width", "height"))]
    derived = evidence.redact_evidence(db_session(), console_actor(), runtime(), evidence_id, regions,
                                       reason[:500], mode)
    return redirect(url_for("console.evidence_page", evidence_id=derived.id))
