"""Written notices rendered through the packet's engine, checked as a clerk's tools would: PDF/A-3b
identification, embedded fonts, declared language, Info and XMP dates from the mailing date, the
words, amounts and dates found by text extraction in both languages, and the same bytes for the
same data."""
from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pikepdf
import pypdf
import pytest

from legal_docs.notice_dates import Itemization, assumed_receipt, validation_period_end
from legal_docs.notices import NoticeContent, Organisation, content_key, render_notice

PDF_NS = "{http://www.aiim.org/pdfa/ns/id/}"
XMP = "{http://ns.adobe.com/xap/1.0/}"
ORGANISATION = Organisation("Acme Recovery LLC", "1 Main Street, Sacramento, CA 95814", "+1 916 555 0100",
                            "disputes@acme.test", "CA DFPI 10059-99")


def notice(template="validation", language="en", family="US", mailed=date(2026, 11, 20), **changes) -> NoticeContent:
    validation = template == "validation"
    content = NoticeContent(
        notice_id="5b0c9d1e-0000-5000-8000-000000000001", template=template, language=language, family=family,
        jurisdiction="US-CA" if family == "US" else family, organisation=ORGANISATION, creditor="Acme Bank",
        reference="CASE-00042", debtor_name="Jane Roe" if language == "en" else "李伟",
        debtor_address=("2 Oak Avenue", "Sacramento, CA", "US"), account_last4="4242", currency="USD",
        days_past_due=95,
        itemization=Itemization(date(2026, 9, 30), Decimal("1200.00"), Decimal("15.50"), Decimal("25.00"),
                                Decimal("40.00")),
        mailing_date=mailed, assumed_receipt=assumed_receipt(mailed) if validation else None,
        validation_end=validation_period_end(mailed) if validation else None,
        respond_by=None if family == "US" else date(2026, 12, 4))
    return replace(content, **changes)


@pytest.fixture(scope="module", params=["en", "zh-CN"])
def validation(request):
    content = notice(language=request.param)
    return content, render_notice(content)


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _poppler_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed")
    path = tmp_path / "notice.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                          text=True).stdout


def _pdf_date(value: str) -> datetime:
    match = re.fullmatch(r"D:(\d{14})(Z|[+-]\d\d'\d\d'?)?", value)
    zone = (match.group(2) or "Z").replace("'", "")
    return datetime.strptime(match.group(1) + ("+0000" if zone == "Z" else zone), "%Y%m%d%H%M%S%z")


def test_pdf_a_3b_with_embedded_fonts_and_declared_language(validation):
    content, data = validation
    with pikepdf.open(io.BytesIO(data)) as pdf:
        with pdf.open_metadata() as meta:
            assert meta.get(f"{PDF_NS}part") == "3" and meta.get(f"{PDF_NS}conformance") == "B"
            created, modified = meta.get(f"{XMP}CreateDate"), meta.get(f"{XMP}ModifyDate")
        assert pdf.Root.OutputIntents[0].S == pikepdf.Name("/GTS_PDFA1")
        assert str(pdf.Root.Lang) == content.language
        # Info and XMP dates agree and are the mailing date, not the moment of rendering
        assert _pdf_date(str(pdf.docinfo.CreationDate)) == datetime.fromisoformat(created) == content.created
        assert _pdf_date(str(pdf.docinfo.ModDate)) == datetime.fromisoformat(modified) == content.created
        fonts = {}
        for page in pdf.pages:
            for font in (page.Resources.get("/Font") or {}).values():
                members = [font, *font.get("/DescendantFonts", [])]
                fonts[str(font.BaseFont)] = any("/FontDescriptor" in f and any(
                    k in f.FontDescriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")) for f in members)
        assert fonts and all(fonts.values()), fonts
        if content.language == "zh-CN":
            assert any("CJK" in name for name in fonts), fonts


def test_validation_notice_text_holds_model_form_fields(validation, tmp_path):
    content, data = validation
    for text in (_text(data), _poppler_text(data, tmp_path)):
        flat = re.sub(r"\s+", " ", text)
        for amount in ("1,200.00", "15.50", "25.00", "40.00", "1,200.50"):
            assert amount in flat, amount
        assert content.notice_id in flat and "Acme Recovery LLC" in flat and "CA DFPI 10059-99" in flat
        if content.language == "en":
            assert "As of September 30, 2026, you owed" in flat
            assert "Call or write to us by December 30, 2026" in flat
            assert "November 30, 2026" in flat                       # the assumed receipt
            assert "name and address of the original creditor" in flat
            assert "is a debt collector" in flat
        else:
            assert "截至2026年9月30日" in flat and "2026年12月30日之前" in flat
            assert "原始债权人的名称和地址" in flat and "债务催收机构" in flat


def test_same_content_same_bytes_and_other_content_other_bytes(validation):
    content, data = validation
    assert render_notice(content) == data
    later = notice(language=content.language, mailed=date(2026, 11, 23))
    assert content_key(later) != content_key(content)
    assert render_notice(later) != data
    assert "December 30, 2026" not in _text(render_notice(later)) or content.language != "en"


@pytest.mark.parametrize("mailed,end_en,end_zh", [
    (date(2026, 1, 28), "March 6, 2026", "2026年3月6日"),
    (date(2026, 12, 24), "February 3, 2027", "2027年2月3日"),
    (date(2026, 1, 9), "February 15, 2026", "2026年2月15日"),
])
def test_validation_end_printed_across_month_ends_and_weekends(mailed, end_en, end_zh):
    for language, expected in (("en", end_en), ("zh-CN", end_zh)):
        flat = re.sub(r"\s+", " ", _text(render_notice(notice(language=language, mailed=mailed))))
        assert expected in flat, (language, expected)


@pytest.mark.parametrize("family,language,words", [
    ("CN", "zh-CN", ["催收通知函", "2026年12月4日前", "22:00 至次日 08:00"]),
    ("CN", "en", ["Collection notice", "December 4, 2026", "between 22:00 and 08:00"]),
    ("IN", "en", ["Notice of overdue amount", "December 4, 2026", "between 08:00 and 19:00", "grievance"]),
    ("IN", "zh-CN", ["逾期欠款通知", "08:00 至 19:00"]),
    ("US", "en", ["Notice of overdue amount", "This communication is from a debt collector"]),
])
def test_overdue_notices_per_jurisdiction(family, language, words):
    flat = re.sub(r"\s+", " ", _text(render_notice(notice("overdue", language, family))))
    assert "1,200.50" in flat and "95" in flat
    for word in words:
        assert word in flat, word
    if family != "US":
        assert "debt collector" not in flat


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_stylesheet_reaches_weasyprint_whole(language, caplog):
    """Every declaration of notice.css is read: its font families' quotes are not HTML-escaped."""
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        render_notice(notice(language=language, reference=f"CASE-{language}"))
    assert not [record.getMessage() for record in caplog.records if record.name == "weasyprint"]
