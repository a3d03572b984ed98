"""Console: the case list and a case's page (its visits, evidence and packets)."""
from __future__ import annotations

from collections import Counter

from flask import render_template, request, url_for
from flask_babel import get_locale, get_translations

from accounts import services as accounts
from api.console import timeline as sentences
from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session, settings
from cases import services as cases
from contacts import plan as case_plan
from contacts import services as contacts
from core.paging import page_of
from evidence import services as evidence
from legal_docs import assembly as packets
from visits import services as visits
from jurisdictions.localtime import TimeZoneUnavailable, zone_at

PAGE_SIZE = 25
CASE_STATUSES = ("open", "promise", "legal", "closed", "written_off")


@bp.get("/cases")
@signed_in()
def case_list():
    filters = {key: request.args.get(key) or None
               for key in ("q", "status", "collector_id", "jurisdiction", "creditor_id", "portfolio_id")}
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
    creditors = list(db_session().scalars(accounts.visible_creditors(console_actor()).limit(200)))
    portfolios = list(db_session().scalars(cases.visible_portfolios(console_actor()).limit(500)))
    return render_template("console/cases.html", cases=items, total=total, page=page, pages=pages,
                           filters=filters, statuses=CASE_STATUSES, creditors=creditors, portfolios=portfolios,
                           creditor_codes={c.id: c.code for c in creditors})


@bp.get("/cases/<case_id>")
@signed_in()
def case_page(case_id):
    session_ = db_session()
    case = cases.get_case(session_, console_actor(), case_id)
    events = list(session_.scalars(cases.case_timeline(session_, console_actor(), case_id).limit(500)))
    case_visits_, gallery, packets_ = case_visits(case_id), case_gallery(case_id), case_packets(case_id)
    language = sentences.Language(get_locale(), get_translations())
    facts = sentences.Facts(
        people=accounts.names_of(session_, sentences.people_in(events)),
        visits={v.id: sentences.VisitFacts(v.time_zone, _address_kind(case, v.address_id)) for v in case_visits_},
        evidence={item.id: item.kind for item in gallery},
        zone=case_zone(case, case_visits_),
        link=_linker(case, {v.id for v in case_visits_}, {item.id for item in gallery}))
    contact_log = list(session_.scalars(contacts.list_contacts(session_, console_actor(), case_id).limit(200)))
    plan = case_plan.get_plan(session_, console_actor(), settings(), case_id)
    return render_template("console/case.html", case=case, timeline=sentences.tell_all(events, facts, language),
                           visits=case_visits_, gallery=gallery, packets=packets_, clock=sentences.Clock(language),
                           contacts=contact_log, plan=plan,
                           notice_templates=contacts.case_profile(settings(), case).notice.templates)


def _address_kind(case, address_id):
    return next((a.kind for a in case.addresses if a.id == address_id), None)


def case_zone(case, visits_):
    """The case's local time zone for events not tied to a visit: its visits' usual zone, else
    the zone at its home address (else any address with coordinates)."""
    zones = Counter(v.time_zone for v in visits_ if v.time_zone)
    if zones:
        return zones.most_common(1)[0][0]
    for address in sorted(case.addresses, key=lambda a: a.kind != "home"):
        try:
            return zone_at(address.lat, address.lon).key
        except TimeZoneUnavailable:
            continue
    return None


def _linker(case, visit_ids, evidence_ids):
    """Console addresses of the items the reader can open: visits (rows of this page), evidence,
    and packets for the roles that read packets."""
    reads_packets = console_actor().role in packets.READERS

    def link(kind, item_id):
        if kind == "visit" and item_id in visit_ids:
            return url_for("console.case_page", case_id=case.id, _anchor=f"visit-{item_id}")
        if kind == "evidence" and item_id in evidence_ids:
            return url_for("console.evidence_page", evidence_id=item_id)
        if kind == "packet" and reads_packets:
            return url_for("console.packet_page", packet_id=item_id)
        return None
    return link


def case_visits(case_id):
    return list(db_session().scalars(visits.list_visits(db_session(), console_actor(), case_id=case_id).limit(500)))


def case_packets(case_id):
    """Packet versions of the case, newest first, for roles that may see packets."""
    if console_actor().role not in packets.READERS:
        return []
    return list(db_session().scalars(packets.list_case_packets(db_session(), console_actor(), case_id).limit(50)))


def case_gallery(case_id):
    return list(db_session().scalars(evidence.list_case_evidence(db_session(), console_actor(), case_id).limit(500)))
