"""Console: requesting a court-filing packet and following its build; its PDF and bundle."""
from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.console.cases import case_gallery, case_packets
from api.context import db_session, reads_and_records, runtime
from api.streaming import send_stored
from cases import services as cases
from legal_docs import assembly as packets


@bp.get("/cases/<case_id>/packets/new")
@signed_in(*packets.REQUESTERS)
def packet_form(case_id):
    session_ = db_session()
    case = cases.get_case(session_, console_actor(), case_id)
    items = [item for item in case_gallery(case_id) if item.status == "sealed" and not item.derived_from]
    return render_template("console/packet_form.html", case=case, items=items,
                           default_prefix=packets.default_bates_prefix(case.reference),
                           can_override=console_actor().role in packets.CONSENT_OVERRIDERS)


@bp.post("/cases/<case_id>/packets")
@signed_in(*packets.REQUESTERS)
def build_packet(case_id):
    language = request.form.get("language", "en")
    if language not in ("en", "zh-CN"):
        language = "en"
    prefix = (request.form.get("bates_prefix") or "").strip().upper() or None
    chosen = request.form.getlist("evidence_ids") or None
    overrides = []
    for evidence_id in request.form.getlist("override_ids"):
        reason = (request.form.get(f"override_reason_{evidence_id}") or "").strip()
        if reason:
            overrides.append({"evidence_id": evidence_id, "reason": reason[:500]})
    packet = packets.request_packet(db_session(), console_actor(), runtime().jobs, case_id, language=language,
                                    bates_prefix=prefix, evidence_ids=chosen, consent_overrides=overrides or None)
    return redirect(url_for("console.packet_page", packet_id=packet.id))


@bp.get("/packets/<packet_id>")
@signed_in(*packets.READERS)
def packet_page(packet_id):
    packet = packets.get_packet(db_session(), console_actor(), packet_id)
    return render_template("console/packet.html", packet=packet,
                           case=cases.get_case(db_session(), console_actor(), packet.case_id),
                           versions=case_packets(packet.case_id))


@bp.get("/packets/<packet_id>/status")
@signed_in(*packets.READERS)
def packet_status(packet_id):
    packet = packets.get_packet(db_session(), console_actor(), packet_id)
    return jsonify(status=packet.status, progress=packet.progress, exhibits_done=packet.exhibits_done,
                   exhibits_total=packet.exhibits_total, status_label=_(packet.status))


@bp.get("/packets/<packet_id>/pdf")
@reads_and_records
@signed_in(*packets.READERS)
def packet_pdf(packet_id):
    volume = request.args.get("volume", "1")
    volume = int(volume) if volume.isdigit() else 1
    return send_stored(packets.open_packet_file(db_session(), console_actor(), runtime(), packet_id, volume=volume))


@bp.get("/packets/<packet_id>/bundle")
@reads_and_records
@signed_in(*packets.READERS)
def packet_bundle(packet_id):
    return send_stored(packets.open_packet_file(db_session(), console_actor(), runtime(), packet_id))
