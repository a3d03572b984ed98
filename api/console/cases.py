"""Console: the case list and a case's page (its visits, evidence and packets)."""
from __future__ import annotations

from flask import render_template, request

from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session
from cases import services as cases
from core.paging import page_of
from evidence import services as evidence
from legal_docs import assembly as packets
from visits import services as visits

PAGE_SIZE = 25
CASE_STATUSES = ("open", "promise", "legal", "closed", "written_off")


@bp.get("/cases")
@signed_in()
def case_list():
    filters = {key: request.args.get(key) or None for key in ("q", "status", "collector_id", "jurisdiction")}
    filters["broken_promises"] = request.args.get("broken_promises") == "1" or None
    if filters["status"] not in (None, *CASE_STATUSES):
        filters["status"] = None
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    query = cases.list_cases(db_session(), console_actor(),
                             **{k: v[:100] if isinstance(v, str) else v for k, v in filters.items()})
    items, total = page_of(db_session(), query, page, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("console/cases.html", cases=items, total=total, page=page, pages=pages,
                           filters=filters, statuses=CASE_STATUSES)


@bp.get("/cases/<case_id>")
@signed_in()
def case_page(case_id):
    session_ = db_session()
    case = cases.get_case(session_, console_actor(), case_id)
    timeline = list(session_.scalars(cases.case_timeline(session_, console_actor(), case_id).limit(500)))
    return render_template("console/case.html", case=case, timeline=timeline, visits=case_visits(case_id),
                           gallery=case_gallery(case_id), packets=case_packets(case_id))


def case_visits(case_id):
    return list(db_session().scalars(visits.list_visits(db_session(), console_actor(), case_id=case_id).limit(200)))


def case_packets(case_id):
    """Packet versions of the case, newest first, for roles that may see packets."""
    if console_actor().role not in packets.READERS:
        return []
    return list(db_session().scalars(packets.list_case_packets(db_session(), console_actor(), case_id).limit(50)))


def case_gallery(case_id):
    return list(db_session().scalars(evidence.list_case_evidence(db_session(), console_actor(), case_id).limit(500)))
