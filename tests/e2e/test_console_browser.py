"""The console in a real browser: Playwright driving Debian's Chromium against a served app.

Also takes the screenshots committed under docs/screenshots/ (each page, both languages).
"""
from __future__ import annotations

import io
import re
import shutil
import zipfile
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import fresh_app, serving
from tests.evidence_corpus import capture, multipart, photo
from tests.evidence_world import make_visit
from tests.factories import PASSWORD, Factory

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def site(database_template, tmp_path_factory):
    app = fresh_app(database_template, tmp_path_factory.mktemp("console"))
    client = app.test_client()
    factory = Factory(app, client)
    supervisor = factory.user("supervisor", "demo-supervisor")
    collector, other = factory.user("collector", "demo-collector"), factory.user("collector", "demo-collector-2")
    name_people(app, {supervisor.id: "Zhou Min", collector.id: "Wang Lei", other.id: "Chen Jie"})
    users = {"legal": factory.user("legal", "lawyer"), "auditor": factory.user("auditor", "auditor"),
             "collector": collector, "other": other}
    case = factory.case(collector=collector, supervisor=supervisor, reference="SH-2026-0001")
    other_case = factory.case(collector=other, supervisor=supervisor, reference="SH-2026-0002")
    visit_id = make_visit(app, case, collector.id, supervisor.id)
    tomorrow = datetime.combine(datetime.now(SHANGHAI).date() + timedelta(days=1), time(10), tzinfo=SHANGHAI)
    response = client.post("/api/v1/visits", headers=supervisor.headers, json={
        "case_id": case["id"], "address_id": case["addresses"][0]["id"], "collector_id": collector.id,
        "second_collector_id": other.id, "window_start": tomorrow.isoformat(),
        "window_end": (tomorrow + timedelta(hours=1)).isoformat()})
    assert response.status_code == 201, response.get_json()
    items = []
    for colour in ((200, 40, 40), (40, 120, 200), (60, 160, 80)):
        data = photo(size=(640, 480), colour=colour)
        response = client.post("/api/v1/evidence", data=multipart(capture(visit_id, data), data),
                               headers=collector.headers, content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
        items.append(response.get_json())
    with serving(app) as url:
        yield {"url": url, "app": app, "users": users, "case": case, "other_case": other_case, "items": items,
               "supervisor": supervisor}


def name_people(app, names):
    """Display names, so that the timeline names people as a real office would."""
    from accounts.models import User

    with app.extensions["fieldproof"].db.transaction() as session:
        for user_id, name in names.items():
            session.get(User, user_id).display_name = name


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def open_page(browser, site, language="en"):
    context = browser.new_context(locale=LANGUAGES[language], viewport={"width": 1366, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def sign_in(page, site, username):
    page.goto(site["url"] + "/console/login")
    page.get_by_label("Username").fill(username) if page.locator("html[lang=en]").count() else \
        page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url("**/console/cases**")


def shot(page, name, language):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}.png"), full_page=True)


def test_legal_user_redacts_builds_a_packet_and_downloads_both_files(browser, site, tmp_path):
    context, page = open_page(browser, site)
    sign_in(page, site, "lawyer")
    page.get_by_role("link", name="SH-2026-0001").click()
    page.wait_for_url("**/console/cases/*")
    assert page.locator(".gallery figure").count() == 3
    page.locator(".gallery a").first.click()
    page.wait_for_url("**/console/evidence/*")
    canvas = page.locator("#redaction-canvas")
    page.wait_for_function("document.getElementById('redaction-canvas').width > 0")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 110, steps=5)
    page.mouse.up()
    assert page.locator("#region-list li").count() == 1
    page.locator("#preview-button").click()
    page.locator("#reason").fill("third-party face, no consent")
    page.locator("#save-redaction").click()
    page.wait_for_url("**/console/evidence/*")
    assert "third-party face, no consent" in page.content()

    page.goto(f"{site['url']}/console/cases/{site['case']['id']}/packets/new")
    page.locator("#language").select_option("en")
    page.locator("#build-packet").click()
    page.wait_for_url("**/console/packets/*")
    page.locator("#packet-ready").wait_for(timeout=180_000)
    with page.expect_download() as pdf:
        page.locator("#download-pdf-1").click()
    pdf_path = tmp_path / "packet.pdf"
    pdf.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    with page.expect_download() as bundle:
        page.locator("#download-bundle").click()
    bundle_path = tmp_path / "bundle.zip"
    bundle.value.save_as(bundle_path)
    assert zipfile.is_zipfile(bundle_path)
    site["bundle"] = bundle_path.read_bytes()
    context.close()


def test_auditor_verifies_the_ledger_and_rejects_a_tampered_bundle(browser, site, tmp_path):
    if "bundle" not in site:
        pytest.fail("the legal user's test must run first and leave a bundle")
    context, page = open_page(browser, site)
    sign_in(page, site, "auditor")
    page.goto(site["url"] + "/console/audit")
    page.locator("#run-verification").click()
    page.wait_for_url("**/console/verifications/*")
    page.locator("#verification-result").wait_for(timeout=120_000)
    assert "passed" in page.locator("#verification-result").inner_text()

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(io.BytesIO(site["bundle"])) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("exhibits/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.writestr(info, data)
    page.goto(site["url"] + "/console/bundles/verify")
    page.locator("#bundle").set_input_files(str(tampered))
    page.locator("#verify-bundle").click()
    page.locator("#bundle-report").wait_for()
    assert "Bundle rejected" in page.locator("#bundle-report").inner_text()
    context.close()


def test_collector_cannot_open_a_case_not_assigned_to_them(browser, site):
    context, page = open_page(browser, site)
    sign_in(page, site, site["users"]["collector"].username)
    response = page.goto(f"{site['url']}/console/cases/{site['other_case']['id']}")
    assert response.status == 404
    context.close()


def test_a_form_posted_without_its_csrf_token_is_refused(browser, site):
    context, page = open_page(browser, site)
    sign_in(page, site, "lawyer")
    status = page.evaluate("""async (caseId) => {
        const body = new URLSearchParams({language: 'en'});
        const r = await fetch(`/console/cases/${caseId}/packets`, {method: 'POST', body, credentials: 'same-origin'});
        return r.status; }""", site["case"]["id"])
    assert status == 400
    context.close()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_screenshots_of_every_page(browser, site, language):
    context, page = open_page(browser, site, language)
    page.goto(site["url"] + "/console/login")
    expected = "zh-CN" if language == "zh" else "en"
    assert page.locator("html").get_attribute("lang") == expected
    shot(page, "login", language)
    sign_in(page, site, "lawyer")
    shot(page, "cases", language)
    case_id, item_id = site["case"]["id"], site["items"][0]["id"]
    for name, path in (("case", f"/console/cases/{case_id}"), ("evidence", f"/console/evidence/{item_id}"),
                       ("packet-build", f"/console/cases/{case_id}/packets/new")):
        page.goto(site["url"] + path)
        shot(page, name, language)
    page.goto(f"{site['url']}/console/cases/{case_id}")
    timeline = page.locator("section[aria-labelledby=timeline-h]")
    sentences = timeline.locator("li").all_inner_texts()
    assert any("Wang Lei" in line and "Chen Jie" in line and "Asia/Shanghai" in line and "UTC" in line
               for line in sentences), sentences
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", line) or "None" in line for line in sentences), sentences
    page.wait_for_load_state("networkidle")
    timeline.screenshot(path=str(SCREENSHOTS / f"timeline-{language}.png"))
    packet_link = page.locator("#packets-h ~ table a").first
    if packet_link.count():
        packet_link.click()
        shot(page, "packet", language)
    context.close()
    context, page = open_page(browser, site, language)
    sign_in(page, site, "auditor")
    for name, path in (("audit", "/console/audit"), ("verify-bundle", "/console/bundles/verify")):
        page.goto(site["url"] + path)
        shot(page, name, language)
    context.close()


def _log_contacts(site):
    """A letter, an unanswered call, a conversation and an SMS on the case, logged as a collector would."""
    collector, case = site["users"]["collector"], site["case"]
    today = datetime.now(SHANGHAI).date()

    def at(days_ago, hour, minute=0):
        return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), tzinfo=SHANGHAI).isoformat()

    bodies = [
        {"channel": "letter", "at": at(6, 9), "outcome": "delivered", "letter_method": "post",
         "template": "overdue_notice", "tracking": "EMS1029384756CN"},
        {"channel": "call", "at": at(3, 10, 15), "outcome": "no_answer", "duration_s": 30},
        {"channel": "call", "at": at(2, 19, 40), "outcome": "spoke_debtor", "duration_s": 245,
         "recording_consent": "granted", "text": "Debtor agreed to pay 500 by Friday."},
        {"channel": "sms", "at": at(1, 9, 5), "outcome": "delivered", "template": "reminder_1",
         "text": "您的还款将于周五到期。退订回复TD"},
    ]
    with site["app"].test_client() as client:
        existing = client.get(f"/api/v1/cases/{case['id']}/contacts", headers=collector.headers).get_json()
        if existing:
            return
        for body in bodies:
            response = client.post(f"/api/v1/cases/{case['id']}/contacts", json=body, headers=collector.headers)
            assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_screenshots_of_the_contact_log_and_the_plan(browser, site, language):
    _log_contacts(site)
    context, page = open_page(browser, site, language)
    sign_in(page, site, "demo-supervisor")
    page.goto(f"{site['url']}/console/cases/{site['case']['id']}")
    contacts = page.locator("section[aria-labelledby=contacts-h]")
    rows = contacts.locator("tbody tr").all_inner_texts()
    assert len(rows) == 4 and all("Asia/Shanghai" in row and "UTC" in row for row in rows), rows
    plan = page.locator("section[aria-labelledby=plan-h]")
    assert plan.locator("tbody tr").count() == 4
    if language == "zh":
        assert "书面通知" in plan.inner_text() and "与债务人通话" in contacts.inner_text()
    page.wait_for_load_state("networkidle")
    contacts.screenshot(path=str(SCREENSHOTS / f"contacts-{language}.png"))
    plan.screenshot(path=str(SCREENSHOTS / f"plan-{language}.png"))
    context.close()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_supervisor_places_a_file_and_follows_it_to_the_report(browser, site, language, tmp_path):
    """The upload form, the progress bar polled to the end (the page reloads itself), the report."""
    from tests.api.test_placements import csv_bytes, row

    rows = [row(f"BR-{language}-{n}") for n in range(1, 41)] + [row(f"BR-{language}-X", amount_overdue="12,50")]
    path = tmp_path / "bank-file.csv"
    path.write_bytes(csv_bytes(rows))
    context, page = open_page(browser, site, language)
    sign_in(page, site, "demo-supervisor")
    page.goto(site["url"] + "/console/placements")
    page.locator("#file").set_input_files(str(path))
    page.locator("#mode-valid_rows").check()
    shot(page, "placement-form", language)
    page.locator("#place-file").click()
    page.wait_for_url("**/console/placements/*")
    page.locator("#placement-done").wait_for()  # reached by the poller's reload when the job is queued or running
    assert page.locator("[data-count=accepted]").inner_text() == "40"
    assert page.locator("[data-count=rejected]").inner_text() == "1"
    assert page.locator("#placement-report tbody tr").count() == 41
    page.locator("#result").select_option("rejected")
    page.locator("#placement-report").locator("xpath=preceding-sibling::form[1]").locator("button").click()
    page.wait_for_url("**result=rejected**")
    assert page.locator("#placement-report tbody tr").count() == 1
    assert "amount_overdue" in page.locator("#placement-report tbody tr").inner_text()
    shot(page, "placement-report", language)
    with page.expect_download() as download:
        page.locator("#download-report").click()
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("row,reference,result,reasons")
    context.close()
