"""Written notices from templates: the US validation notice (Reg F, 12 CFR 1006.34, model form
B-1), the CN 催收通知函 and the IN overdue notice, in zh-CN and en, as PDF/A-3b sealed as evidence.

Rendering goes through the packet's engine (`legal_docs.render`: WeasyPrint lays the page out from
`templates/legal/notices/notice.css`, the only source of layout; `settle_fonts` cuts and tags the
font subsets) under the packet's render lock. A notice's content is fixed by its data
(`NoticeContent`): the PDF's dates are the mailing date, its document id comes from the data, so
the same data makes the same bytes, the same SHA-256 and one evidence item; issuing it again
returns the notice first issued.

Which notices a jurisdiction uses and their periods (presumed receipt, validation period, reply
period) are the jurisdiction profile's `notice.validation` rule (`jurisdictions.profiles`), read
with the organisation's tightenings as the case plan reads them.
"""
from __future__ import annotations

import functools
import hashlib
import io
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
import pikepdf
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cases.jurisdiction import parse_jurisdiction
from cases.models import Case
from cases.services import get_case
from cases.timeline import record_event
from core.actor import Actor
from core.canonical import canonical_json
from core.clock import utcnow
from core.errors import Forbidden, NotFound, ValidationFailed
from contacts.services import case_profile
from core.runtime import Runtime
from evidence.services import READERS as EVIDENCE_READERS
from evidence.services import Content, record_view, seal_issued_document
from legal_docs.models import NOTICE_TEMPLATES, Notice
from legal_docs.notice_dates import Itemization, ItemizationError
from legal_docs.render import RENDER_LOCK, TEMPLATES_DIR, load_weasyprint, settle_fonts

ISSUERS = ("supervisor", "legal")
READERS = EVIDENCE_READERS
LANGUAGES = ("zh-CN", "en")
PDF_MEDIA_TYPE = "application/pdf"
_NAMESPACE = uuid.UUID("6c1f3e0a-8d55-4f0e-9b51-3f6b3c2f9a10")   # notice ids: uuid5 of case and data


@dataclass(frozen=True)
class Organisation:
    name: str
    address: str
    phone: str
    email: str
    licence: str


@dataclass(frozen=True)
class NoticeContent:
    """Everything a notice prints, and nothing else: the same content makes the same bytes."""

    notice_id: str
    template: str
    language: str
    family: str
    jurisdiction: str
    organisation: Organisation
    creditor: str
    reference: str
    debtor_name: str
    debtor_address: tuple[str, ...]
    account_last4: str
    currency: str
    days_past_due: int
    itemization: Itemization
    mailing_date: date
    assumed_receipt: date | None
    validation_end: date | None
    respond_by: date | None

    @property
    def created(self) -> datetime:
        """The PDF's creation and modification date: the mailing date, so the bytes depend on the data only."""
        return datetime.combine(self.mailing_date, time(0), UTC)


def content_key(content: NoticeContent) -> str:
    """SHA-256 of the notice's data (without its id, which is derived from this), as canonical JSON."""
    data = asdict(content)
    data.pop("notice_id")
    return hashlib.sha256(canonical_json(_plain(data))).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, Decimal)):
        return str(value)
    return value


# --- rendering -------------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


@dataclass(frozen=True)
class _Words:
    language: str

    def date(self, value: date | None) -> str:
        if value is None:
            return ""
        if self.language == "zh-CN":
            return f"{value.year}年{value.month}月{value.day}日"
        return f"{value:%B} {value.day}, {value.year}"


@functools.cache
def _environment() -> jinja2.Environment:
    """The notices' templates, compiled once per process (the packets' loader and settings)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = _money
    return env


def render_notice(content: NoticeContent) -> bytes:
    """The notice as PDF/A-3b bytes, identical for identical content."""
    env = _environment()
    words = _Words(content.language)
    html = env.get_template(f"notices/{content.template}.html").render(
        n=content, lang=content.language, d=words.date, created=content.created.isoformat())
    style = env.get_template("notices/notice.css").render(n=content, lang=content.language)
    with RENDER_LOCK:
        weasyprint = load_weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        fonts = FontConfiguration()
        document = weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).render(
            stylesheets=[weasyprint.CSS(string=style, font_config=fonts)], font_config=fonts,
            presentational_hints=False)
        laid_out = document.write_pdf(pdf_variant="pdf/a-3b")
    with pikepdf.open(io.BytesIO(laid_out)) as pdf:
        settle_fonts(pdf, cache={})   # a notice's own cache: nothing kept between notices
        document_id = hashlib.md5(f"notice/{content.notice_id}".encode(), usedforsecurity=False).digest()
        pdf.trailer.ID = pikepdf.Array([pikepdf.String(document_id), pikepdf.String(document_id)])
        out = io.BytesIO()
        pdf.save(out, deterministic_id=False, static_id=True)
    return out.getvalue()


# --- building the content from a case ----------------------------------------------------------


def _family(jurisdiction: str) -> str:
    return parse_jurisdiction(jurisdiction)[0]


def _itemization(case: Case, given: dict | None, mailed: date) -> Itemization:
    if not given:
        itemization = Itemization(date=case.created_at.date(), amount=Decimal(case.amount_overdue))
    else:
        try:
            itemization = Itemization(date=given["date"], amount=Decimal(given["amount"]),
                                      interest=Decimal(given.get("interest", "0.00")),
                                      fees=Decimal(given.get("fees", "0.00")),
                                      payments=Decimal(given.get("payments", "0.00")))
        except (InvalidOperation, TypeError) as exc:
            raise ValidationFailed("itemized amounts must be decimal numbers",
                                   {"itemization": [str(exc)]}) from None
    itemization = Itemization(itemization.date, *(v.quantize(Decimal("0.01")) for v in (
        itemization.amount, itemization.interest, itemization.fees, itemization.payments)))
    try:
        itemization.check(Decimal(case.amount_overdue), mailed)
    except ItemizationError as exc:
        raise ValidationFailed(str(exc), {"itemization": [str(exc)]}) from None
    return itemization


def notice_content(case: Case, settings, *, template: str, language: str, mailed_at: datetime,
                   itemization: dict | None = None) -> NoticeContent:
    """The notice a case gets for ``template`` and ``language`` when mailed at ``mailed_at`` (its date
    in its own offset is the mailing date); ValidationFailed when the case's jurisdiction does not use
    that template or the itemization does not add up."""
    family = _family(case.jurisdiction)
    rule = case_profile(settings, case).notice
    if template not in rule.templates:
        raise ValidationFailed(f"a {case.jurisdiction} case has no {template} notice; its notices: "
                               f"{', '.join(rule.templates)}", {"template": [f"one of {', '.join(rule.templates)}"]})
    mailed = mailed_at.date()
    items = _itemization(case, itemization, mailed)
    validation = template == "validation"
    home = next((a for a in case.addresses if a.kind == "home"), case.addresses[0] if case.addresses else None)
    address = () if home is None else tuple(part for part in (
        home.line, ", ".join(p for p in (home.city, home.region) if p), home.country) if part)
    content = NoticeContent(
        notice_id="", template=template, language=language, family=family, jurisdiction=case.jurisdiction,
        organisation=Organisation(settings.organisation_name, settings.organisation_address,
                                  settings.organisation_phone, settings.organisation_email,
                                  settings.organisation_licence),
        creditor=settings.organisation_name, reference=case.reference, debtor_name=case.debtor_name,
        debtor_address=address, account_last4=case.card_last4, currency=case.currency,
        days_past_due=case.days_past_due, itemization=items, mailing_date=mailed,
        assumed_receipt=rule.presumed_receipt(mailed) if validation else None,
        validation_end=rule.validation_end(mailed) if validation else None,
        respond_by=None if validation else rule.respond_by(mailed))
    key = content_key(content)
    return replace(content, notice_id=str(uuid.uuid5(_NAMESPACE, f"{case.id}/{key}")))


# --- services --------------------------------------------------------------------------------


def issue_notice(session: Session, actor: Actor, runtime: Runtime, case_id: str, *, template: str, language: str,
                 mailed_at: datetime | None = None, itemization: dict | None = None) -> tuple[Notice, bool]:
    """Render, seal and record a notice; ``(notice, created)``. The same data issued again returns
    the notice first issued (``created`` False) and makes nothing new."""
    if actor.role not in ISSUERS:
        raise Forbidden("only supervisors and legal users issue notices")
    case = get_case(session, actor, case_id, lock=True)
    if template not in NOTICE_TEMPLATES or language not in LANGUAGES:
        raise ValidationFailed("unknown template or language")
    mailed_at = mailed_at or utcnow()
    content = notice_content(case, runtime.settings, template=template, language=language,
                             mailed_at=mailed_at, itemization=itemization)
    key = content_key(content)
    existing = session.scalar(select(Notice).where(Notice.case_id == case.id, Notice.content_key == key))
    if existing is not None:
        return existing, False
    pdf = render_notice(content)
    issued_at = utcnow()
    item = seal_issued_document(session, actor, runtime, case, pdf, media_type=PDF_MEDIA_TYPE, issued_at=issued_at,
                                created={"path": "notice", "notice_id": content.notice_id, "template": template,
                                         "language": language})
    notice = Notice(id=content.notice_id, case_id=case.id, template=template, language=language,
                    jurisdiction=case.jurisdiction, content_key=key, mailed_at=mailed_at, mailing_date=content.mailing_date,
                    assumed_receipt=content.assumed_receipt, validation_end=content.validation_end,
                    respond_by=content.respond_by, currency=content.currency,
                    itemization=_plain(asdict(content.itemization)) | {"total": str(content.itemization.total)},
                    evidence_id=item.id, sha256=item.sha256, size=item.size, issued_by=actor.id, issued_at=issued_at)
    session.add(notice)
    details = {"notice_id": notice.id, "evidence_id": item.id, "kind": template, "language": language,
               "mailing_date": content.mailing_date.isoformat()}
    if content.validation_end is not None:
        details["validation_end"] = content.validation_end.isoformat()
    if content.respond_by is not None:
        details["respond_by"] = content.respond_by.isoformat()
    record_event(session, case.id, "notice_issued", actor.id, details, subject_id=notice.id, at=issued_at)
    session.flush()
    return notice, True


def list_case_notices(session: Session, actor: Actor, case_id: str, *,
                      updated_since: datetime | None = None) -> Select:
    """A case's notices, oldest first (404 when the case is not yours to see)."""
    get_case(session, actor, case_id)
    query = select(Notice).where(Notice.case_id == case_id).order_by(Notice.issued_at, Notice.id)
    if updated_since:
        query = query.where(Notice.updated_at >= updated_since)
    return query


def get_notice(session: Session, actor: Actor, notice_id: str) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound("no such notice")
    try:
        get_case(session, actor, notice.case_id)
    except NotFound:
        raise NotFound("no such notice") from None
    return notice


def open_notice_pdf(session: Session, actor: Actor, runtime: Runtime, notice_id: str) -> Content:
    """The notice's sealed PDF, recorded as a `downloaded` custody event of its evidence item."""
    notice = get_notice(session, actor, notice_id)
    content = record_view(session, actor, runtime, notice.evidence_id)
    return Content(content.stream, content.sha256, content.size, content.media_type, f"notice-{notice.id}.pdf")
