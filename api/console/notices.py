"""Console: issuing a written notice from the case page (supervisors and legal users)."""
from __future__ import annotations

from datetime import UTC, datetime, time

from flask import redirect, request, url_for
from flask_babel import gettext as _

from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session, runtime
from core.errors import ValidationFailed
from legal_docs import notices


@bp.post("/cases/<case_id>/notices")
@signed_in(*notices.ISSUERS)
def issue_notice(case_id):
    """Issue the chosen notice, mailed on the chosen day (default today), itemized at the case's
    amount; the notice then shows on the case timeline and among the case's evidence."""
    language = request.form.get("language", "")
    template = request.form.get("template", "")
    mailed = (request.form.get("mailing_date") or "").strip()
    try:
        mailed_at = datetime.combine(datetime.strptime(mailed, "%Y-%m-%d").date(), time(12), UTC) if mailed else None
    except ValueError:
        raise ValidationFailed(_("Give the mailing date as YYYY-MM-DD.")) from None
    notices.issue_notice(db_session(), console_actor(), runtime(), case_id, template=template, language=language,
                         mailed_at=mailed_at)
    return redirect(url_for("console.case_page", case_id=case_id) + "#notices-h")
