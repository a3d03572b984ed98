"""Console for auditors: the ledger's head, verification runs, and checking a packet bundle."""
from __future__ import annotations

import tempfile

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api.console.auth import console_actor, signed_in
from api.console.blueprint import bp
from api.context import db_session, runtime, settings
from api.requests import accepts
from cases import services as cases
from core.errors import ValidationFailed
from custody import checkpoints as ledger
from custody import verification as verifications
from evidence.services import verification_subjects
from legal_docs.verify_bundle import verify_bundle

AUDITORS = ("auditor", "admin")


@bp.get("/audit")
@signed_in(*AUDITORS)
def audit():
    session_ = db_session()
    head = ledger.current_tree_head(session_, runtime().signer, settings().ledger_origin)
    runs = list(session_.scalars(verifications.list_verifications(console_actor(), verification_subjects(console_actor())).limit(20)))
    return render_template("console/audit.html", head=head, runs=runs)


@bp.post("/verifications")
@signed_in(*AUDITORS)
def start_verification():
    scope = request.form.get("scope", "all")
    subject = (request.form.get("subject_id") or "").strip() or None
    if scope == "case" and subject:
        cases.get_case(db_session(), console_actor(), subject)
    run = verifications.request_verification(db_session(), console_actor(), runtime().jobs, scope=scope,
                                             subject_id=subject if scope != "all" else None,
                                             visible_case_ids=cases.visible_case_ids(console_actor()))
    return redirect(url_for("console.verification_page", verification_id=run.id))


@bp.get("/verifications/<verification_id>")
@signed_in(*AUDITORS)
def verification_page(verification_id):
    run = verifications.get_verification(db_session(), console_actor(), verification_id,
                                           verification_subjects(console_actor()))
    return render_template("console/verification.html", run=run)


@bp.get("/verifications/<verification_id>/status")
@signed_in(*AUDITORS)
def verification_status(verification_id):
    run = verifications.get_verification(db_session(), console_actor(), verification_id,
                                           verification_subjects(console_actor()))
    return jsonify(status=run.status, progress=run.progress, checked=run.checked, failed=run.failed,
                   status_label=_(run.status))


@bp.route("/bundles/verify", methods=["GET", "POST"])
@accepts("multipart/form-data", max_bytes="evidence_max_bytes")
@signed_in(*AUDITORS, "legal")
def verify_bundle_page():
    report = None
    if request.method == "POST":
        upload = request.files.get("bundle")
        if upload is None or not upload.filename:
            raise ValidationFailed(_("Choose a bundle (.zip) to verify."))
        report = _verify_uploaded_bundle(upload, request.files.get("public_key"))
    return render_template("console/verify_bundle.html", report=report)


def _verify_uploaded_bundle(upload, key_upload):
    """Runs the same offline verifier as `fieldproof verify-bundle`, on a spooled copy of the upload."""
    with tempfile.NamedTemporaryFile(suffix=".zip", dir=settings().data_dir) as spooled:
        while block := upload.stream.read(1 << 20):
            spooled.write(block)
        spooled.flush()
        pem = key_upload.stream.read(16_384) if key_upload is not None and key_upload.filename else None
        return verify_bundle(spooled.name, public_key_pem=pem)
