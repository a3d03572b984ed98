"""Console pages. Each view: read the form or query, call one service, render a template."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from api.console import auth
from api.console.auth import console_actor, signed_in
from api.context import db_session
from cases import services as cases
from core.errors import FieldProofError, RateLimited, Unauthenticated
from core.paging import page_of

bp = Blueprint("console", __name__, url_prefix="/console", static_folder="static",
               static_url_path="/static")
csrf = CSRFProtect()
PAGE_SIZE = 25
CASE_STATUSES = ("open", "promise", "legal", "closed", "written_off")


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
    from api.problems import STATUS_OF

    status = next(code for cls, code in STATUS_OF if isinstance(error, cls))
    return render_template("console/error.html", status=status, message=error.detail), status


def _safe_next(target: str | None) -> str:
    """Only console paths: a login link must not become an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.case_list")


@bp.get("/")
def home():
    return redirect(url_for("console.case_list"))


@bp.route("/login", methods=["GET", "POST"])
def login_page():
    error = None
    if request.method == "POST":
        try:
            auth.login(request.form.get("username", "")[:64], request.form.get("password", "")[:256])
            return redirect(_safe_next(request.args.get("next")))
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
    return redirect(_safe_next(request.form.get("next")))


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



__all__ = ["bp", "csrf"]


# Pages that later features add to the navigation: (endpoint, label, roles allowed).
NAV: list[tuple[str, str, tuple[str, ...]]] = []


def install(app) -> None:
    from flask_babel import get_locale

    from api.console import i18n

    i18n.install(app)
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.context_processor
    def _console_globals():
        if not request.path.startswith("/console"):
            return {}
        return {"html_lang": i18n.html_lang(get_locale()), "console_nav": NAV}


# --- evidence -----------------------------------------------------------------------------------

from flask import jsonify  # noqa: E402

from api.context import runtime  # noqa: E402
from api.requests import accepts  # noqa: E402
from api.streaming import send_stored  # noqa: E402
from evidence import services as evidence  # noqa: E402
from legal_docs import assembly as packets  # noqa: E402
from visits import services as visits  # noqa: E402

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
                           can_redact=console_actor().role in REDACTORS)


@bp.get("/evidence/<evidence_id>/content")
@signed_in()
def evidence_content(evidence_id):
    return send_stored(evidence.record_view(db_session(), console_actor(), runtime(), evidence_id),
                       disposition="inline")


@bp.get("/evidence/<evidence_id>/thumbnail")
@signed_in()
def evidence_thumbnail(evidence_id):
    return send_stored(evidence.record_view(db_session(), console_actor(), runtime(), evidence_id,
                                           rendition="thumbnail"), disposition="inline")


@bp.post("/evidence/<evidence_id>/redactions")
@signed_in(*REDACTORS)
def redact(evidence_id):
    import json

    try:
        regions = json.loads(request.form.get("regions", "[]"))
        assert isinstance(regions, list) and all(isinstance(r, dict) for r in regions)
    except (ValueError, AssertionError):
        regions = None
    reason = (request.form.get("reason") or "").strip()
    mode = request.form.get("mode", "blur")
    if not regions or not reason or mode not in ("blur", "black"):
        from core.errors import ValidationFailed

        raise ValidationFailed(_("Draw at least one region and give a reason."))
    regions = [{k: int(r[k]) for k in ("x", "y", "width", "height")} for r in regions[:50]
               if all(isinstance(r.get(k), int | float) for k in ("x", "y", "width", "height"))]
    derived = evidence.redact_evidence(db_session(), console_actor(), runtime(), evidence_id, regions,
                                       reason[:500], mode)
    return redirect(url_for("console.evidence_page", evidence_id=derived.id))


def case_visits(case_id):
    return list(db_session().scalars(visits.list_visits(db_session(), console_actor(), case_id=case_id).limit(200)))


def case_packets(case_id):
    """Packet versions of the case, newest first, for roles that may see packets."""
    if console_actor().role not in packets.READERS:
        return []
    return list(db_session().scalars(packets.list_case_packets(db_session(), console_actor(), case_id).limit(50)))


def case_gallery(case_id):
    return list(db_session().scalars(evidence.list_case_evidence(db_session(), console_actor(), case_id).limit(500)))


# --- auditors -------------------------------------------------------------------------------------

from custody import checkpoints as ledger  # noqa: E402
from custody import verification as verifications  # noqa: E402

AUDITORS = ("auditor", "admin")
NAV.append(("console.audit", "Audit", AUDITORS))


@bp.get("/audit")
@signed_in(*AUDITORS)
def audit():
    from api.context import settings as current_settings

    session_ = db_session()
    head = ledger.current_tree_head(session_, runtime().signer, current_settings().ledger_origin)
    runs = list(session_.scalars(verifications.list_verifications(console_actor()).limit(20)))
    return render_template("console/audit.html", head=head, runs=runs)


@bp.post("/verifications")
@signed_in(*AUDITORS)
def start_verification():
    scope = request.form.get("scope", "all")
    subject = (request.form.get("subject_id") or "").strip() or None
    if scope == "case" and subject:
        cases.get_case(db_session(), console_actor(), subject)
    run = verifications.request_verification(db_session(), console_actor(), runtime().jobs, scope=scope,
                                             subject_id=subject if scope != "all" else None)
    return redirect(url_for("console.verification_page", verification_id=run.id))


@bp.get("/verifications/<verification_id>")
@signed_in(*AUDITORS)
def verification_page(verification_id):
    run = verifications.get_verification(db_session(), console_actor(), verification_id)
    return render_template("console/verification.html", run=run)


@bp.get("/verifications/<verification_id>/status")
@signed_in(*AUDITORS)
def verification_status(verification_id):
    run = verifications.get_verification(db_session(), console_actor(), verification_id)
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
            from core.errors import ValidationFailed

            raise ValidationFailed(_("Choose a bundle (.zip) to verify."))
        report = _verify_uploaded_bundle(upload, request.files.get("public_key"))
    return render_template("console/verify_bundle.html", report=report)


def _verify_uploaded_bundle(upload, key_upload):
    """Runs the same offline verifier as `fieldproof verify-bundle`, on a spooled copy of the upload."""
    import tempfile

    from legal_docs.verify_bundle import verify_bundle

    with tempfile.NamedTemporaryFile(suffix=".zip", dir=runtime().settings.data_dir) as spooled:
        while block := upload.stream.read(1 << 20):
            spooled.write(block)
        spooled.flush()
        pem = key_upload.stream.read(16_384) if key_upload is not None and key_upload.filename else None
        return verify_bundle(spooled.name, public_key_pem=pem)


# --- packets ----------------------------------------------------------------------------------------


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
@signed_in(*packets.READERS)
def packet_pdf(packet_id):
    volume = request.args.get("volume", "1")
    volume = int(volume) if volume.isdigit() else 1
    return send_stored(packets.open_packet_file(db_session(), console_actor(), runtime(), packet_id, volume=volume))


@bp.get("/packets/<packet_id>/bundle")
@signed_in(*packets.READERS)
def packet_bundle(packet_id):
    return send_stored(packets.open_packet_file(db_session(), console_actor(), runtime(), packet_id))
