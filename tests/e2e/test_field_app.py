"""The collector's app in a real browser: Debian's Chromium as a phone (390x844, touch, GPS set by
the test), against a served FieldProof, through a whole day — offline captures included.

Also takes the screenshots under docs/screenshots/field/ (every screen, both languages).
"""
from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.conftest import fresh_app, serving
from tests.e2e.field_world import camera_photo, field_day, noisy_photo, place_where
from tests.evidence_corpus import sha256
from tests.factories import PASSWORD, Factory

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "field"
PHONE = {"width": 390, "height": 844}
DAYTIME, NIGHT = range(9, 20), range(1, 6)


@pytest.fixture(scope="module")
def site(database_template, tmp_path_factory):
    app = fresh_app(database_template, tmp_path_factory.mktemp("field"))
    factory = Factory(app, app.test_client())
    days = {"day": field_day(app, factory, place_where(DAYTIME)),
            "flaky": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "night": field_day(app, factory, place_where(NIGHT), visits=1),
            "zh": field_day(app, factory, place_where(DAYTIME), visits=1),
            "tamper": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "expired": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "restart": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "s3": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "handover": field_day(app, factory, place_where(DAYTIME), visits=1, status="checked_in"),
            "colleague": field_day(app, factory, place_where(DAYTIME), visits=1)}
    with serving(app) as url:
        yield {"url": url, "app": app, "client": app.test_client(), **days}


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def playwright():
    with playwright_api.sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def phone_options(day, locale="en-US"):
    return {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True, "locale": locale,
            "timezone_id": day.place.zone, "geolocation": day.place.near(),
            "permissions": ["geolocation", "microphone"], "service_workers": "allow"}


def phone(browser, day, locale="en-US"):
    context = browser.new_context(**phone_options(day, locale))
    context.set_default_timeout(30_000)
    return context


def open_app(context, site):
    page = context.new_page()
    page.goto(site["url"] + "/field/")
    page.wait_for_selector("body[data-ready='1']")
    return page


def sign_in(page, day):
    page.locator("#username").fill(day.collector.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#signin-button").tap()
    page.wait_for_selector("body[data-screen='today']")
    page.wait_for_selector("#visit-list li")


def shot(page, name, language="en"):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}.png"))


def queue(page):
    return page.evaluate("window.fieldproof.sync.items()")


def take_photo(page, data: bytes, name: str, subject="granted", screenshot=None):
    page.locator("#go-photo").tap()
    page.wait_for_selector("body[data-screen='capture']")
    page.set_input_files("#photo-file", files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    page.wait_for_function("(sha) => document.body.dataset.captureSha === sha", arg=sha256(data))
    assert page.locator("#save-capture").is_disabled()  # consent first
    page.locator(f"#consent input[name=subject][value={subject}]").check()
    page.locator("#consent input[name=third][value=no]").check()
    if screenshot:
        shot(page, *screenshot)
    page.locator("#save-capture").tap()
    page.wait_for_selector("body[data-screen='visit']")


def write_note(page, text):
    page.locator("#go-note").tap()
    page.wait_for_selector("body[data-screen='capture']")
    page.locator("#note-text").fill(text)
    page.locator("#save-capture").tap()
    page.wait_for_selector("body[data-screen='visit']")


def open_visit(page, visit_id):
    page.locator("#tab-today").tap()
    page.locator(f"li[data-visit='{visit_id}'] .open-visit").tap()
    page.wait_for_selector("body[data-screen='visit']")


def wait_confirmed(page, n):
    page.wait_for_function("(n) => Number(document.body.dataset.confirmed) >= n && document.body.dataset.pending === '0'",
                           arg=n, timeout=120_000)


def evidence_of(site, day, visit_id):
    client, headers = site["client"], day.collector.headers
    items = []
    for case in day.cases:
        response = client.get(f"/api/v1/cases/{case['id']}/evidence?page_size=100", headers=headers)
        assert response.status_code == 200
        items += [item for item in response.get_json() if item["visit_id"] == visit_id]
    return items


def test_whole_day_with_offline_captures(browser, site):
    day = site["day"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    shot(page, "sign-in")
    sign_in(page, day)
    page.wait_for_function("() => document.body.dataset.shell === 'cached'")
    assert page.locator("#visit-list li").count() == 2
    assert "km" in page.locator("#visit-list li").nth(1).inner_text() or " m" in page.locator("#visit-list li").nth(1).inner_text()
    assert page.locator(f"li[data-visit='{visit_id}'] a.maps").get_attribute("href").startswith("geo:")
    shot(page, "today")

    # Nothing personal beyond the visit is on the phone.
    stored = page.evaluate("""async () => {
        const db = await new Promise((ok) => { const r = indexedDB.open('fieldproof'); r.onsuccess = () => ok(r.result); });
        const dump = {};
        for (const name of db.objectStoreNames) dump[name] = await new Promise((ok) => {
            const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(JSON.stringify(r.result)); });
        return JSON.stringify(dump); }""")
    case = day.cases[0]
    for secret in ("Li Wei", "national_id", "card_last4", "phone", case["debtor"]["national_id"]):
        assert secret not in stored, secret

    # Check in, inside the geofence, online.
    open_visit(page, visit_id)
    shot(page, "visit")
    page.locator("#go-checkin").tap()
    page.wait_for_selector("#send-checkin:not([disabled])")
    assert "Inside" in page.locator("#geofence").inner_text()
    assert page.locator("#fix-accuracy").inner_text() == "±8 m"
    shot(page, "check-in")
    page.locator("#send-checkin").tap()
    page.wait_for_selector("li.item-done[data-kind=checkin]")

    # Offline: two photos and a note; the page computes every hash and signature itself.
    context.set_offline(True)
    photos = [camera_photo(day.place), camera_photo(day.place, size=(800, 600), colour=(30, 90, 180))]
    take_photo(page, photos[0], "door.jpg")
    page.locator("#go-photo").tap()
    page.set_input_files("#photo-file", files=[{"name": "letterbox.jpg", "mimeType": "image/jpeg", "buffer": photos[1]}])
    page.wait_for_function("(sha) => document.body.dataset.captureSha === sha", arg=sha256(photos[1]))
    page.locator("#consent input[name=subject][value=not_asked]").check()
    page.locator("#consent input[name=third][value=yes]").check()
    shot(page, "capture")
    page.locator("#save-capture").tap()
    page.wait_for_selector("body[data-screen='visit']")
    note = "Neighbour says the debtor works late; left the notice in the letterbox."
    write_note(page, note)
    items = queue(page)
    assert [i["kind"] for i in items] == ["checkin", "photo", "photo", "note"]
    assert all(i["state"] in ("waiting", "sending") for i in items[1:])  # "sending": a try that the network refuses
    assert [i["sha256"] for i in items[1:3]] == [sha256(p) for p in photos]

    # Reloaded with no network at all: the shell comes from the service worker, the queue from IndexedDB.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("body[data-screen='today']")
    page.wait_for_function("() => document.getElementById('net').textContent === 'Offline'")
    assert [i["kind"] for i in queue(page)] == ["checkin", "photo", "photo", "note"]
    assert all(i["state"] in ("waiting", "sending") for i in queue(page)[1:])
    page.locator("#tab-sync").tap()
    page.wait_for_function("() => document.getElementById('count-waiting')?.textContent === '3'")
    shot(page, "sync-offline")

    # Back online: the queue goes by itself; each receipt is checked on the phone.
    context.set_offline(False)
    page.locator("#sync-now").tap()
    wait_confirmed(page, 3)
    shot(page, "sync-sealed")
    receipts = [i["receipt"] for i in queue(page) if i["kind"] in ("photo", "note")]
    assert all(r["inclusion"] == "passed" and not r["problems"] for r in receipts)

    # Check out with a promise to pay.
    open_visit(page, visit_id)
    page.locator("#go-checkout").tap()
    page.locator("#outcome").select_option("promise_to_pay")
    page.locator("#summary").fill("Debtor met at the door; promised to pay part next week.")
    page.locator("#promise-amount").fill("500.00")
    due = (date.today() + timedelta(days=7)).isoformat()
    page.locator("#promise-date").fill(due)
    shot(page, "check-out")
    page.locator("#save-checkout").tap()
    page.wait_for_selector("li.item-done[data-kind=checkout]")
    shot(page, "visit-done")

    # Through the API: exactly one item per capture, the phone's hashes, verified signatures,
    # the custody trail in order.
    client, headers = site["client"], day.collector.headers
    evidence = evidence_of(site, day, visit_id)
    assert sorted(e["kind"] for e in evidence) == ["note", "photo", "photo"]
    by_sha = {e["sha256"]: e for e in evidence}
    assert set(by_sha) == {*(sha256(p) for p in photos), sha256(note.encode())}
    for p in photos:
        assert by_sha[sha256(p)]["signature_status"] == "signed"
        assert by_sha[sha256(p)]["status"] == "sealed"
    assert by_sha[sha256(note.encode())]["signature_status"] == "signed"  # the note too, over its text's hash
    assert by_sha[sha256(photos[1])]["consent"] == {"subject": "not_asked", "third_parties_present": True}
    for item in evidence:
        trail = client.get(f"/api/v1/evidence/{item['id']}/custody", headers=headers).get_json()
        assert [e["type"] for e in trail][:2] == ["created", "sealed"]
        indexes = [e["ledger_index"] for e in trail]
        assert indexes == sorted(indexes)
        receipt = next(r for r in receipts if r["evidence_id"] == item["id"])
        assert receipt["sha256"] == item["sha256"]
        assert receipt["ledger_index"] == next(e["ledger_index"] for e in trail if e["type"] == "sealed")
    visit = client.get(f"/api/v1/visits/{visit_id}", headers=headers).get_json()
    assert visit["status"] == "completed" and visit["check_in"]["within_geofence"] is True
    timeline = client.get(f"/api/v1/cases/{day.cases[0]['id']}/timeline?page_size=100", headers=headers).get_json()
    promised = [e["details"] for e in timeline if e["type"] == "promise_made"]
    assert [(Decimal(p["amount"]), p["due_date"]) for p in promised] == [(Decimal("500.00"), due)]
    # Confirmed items left the phone: no bytes, no capture details, only the receipts.
    assert page.evaluate("""async () => {
        const db = await new Promise((ok) => { const r = indexedDB.open('fieldproof'); r.onsuccess = () => ok(r.result); });
        const count = await new Promise((ok) => { const r = db.transaction('blobs').objectStore('blobs').count();
            r.onsuccess = () => ok(r.result); });
        db.close();
        return count; }""") == 0
    assert all(i["metadata"] is None and i.get("body") is None for i in queue(page) if i["state"] == "confirmed")

    # Signing out leaves nothing behind.
    page.locator("#tab-settings").tap()
    shot(page, "settings")
    page.locator("#sign-out").tap()
    page.wait_for_selector("body[data-screen='signin']")
    assert page.evaluate("indexedDB.databases().then((d) => d.map((x) => x.name))") == []
    cached = page.evaluate("""async () => { const urls = [];
        for (const name of await caches.keys()) for (const r of await (await caches.open(name)).keys()) urls.push(r.url);
        return urls; }""")
    assert cached and not [u for u in cached if "/api/" in u]
    context.close()


def test_network_cut_mid_upload_and_tab_closed_mid_queue_still_exactly_once(browser, site):
    day = site["flaky"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    page.wait_for_function("() => document.body.dataset.shell === 'cached'")
    open_visit(page, visit_id)

    context.set_offline(True)
    big = noisy_photo(1_500_000, day.place)  # above 1 MiB: announce, PUT, complete
    small = [camera_photo(day.place, size=(640, 480), colour=(40 * n, 120, 60)) for n in range(1, 5)]
    take_photo(page, big, "wide.jpg")
    take_photo(page, small[0], "door.jpg")

    # The first multipart POST reaches the server but its answer is lost; the first PUT is cut.
    seen = {"post": 0, "put": 0}

    def flaky(route):
        request = route.request
        if request.method == "POST" and request.url.endswith("/api/v1/evidence"):
            seen["post"] += 1
            if seen["post"] == 1:
                route.fetch()
                return route.abort("connectionreset")
        if request.method == "PUT" and request.url.endswith("/content"):
            seen["put"] += 1
            if seen["put"] == 1:
                return route.abort("connectionreset")
        return route.continue_()

    context.route("**/api/v1/evidence**", flaky)
    context.set_offline(False)
    page.locator("#tab-sync").tap()
    page.locator("#sync-now").tap()
    wait_confirmed(page, 2)
    assert seen["post"] >= 2 and seen["put"] >= 2
    context.unroute("**/api/v1/evidence**")

    # Two more offline; the tab dies while the first of them is on the wire (the server has it).
    context.set_offline(True)
    open_visit(page, visit_id)
    take_photo(page, small[1], "gate.jpg")
    take_photo(page, small[2], "street.jpg")
    held = []

    def hold(route):
        if route.request.method == "POST" and not held:
            route.fetch()
            held.append(route)
            return None
        return route.continue_()

    context.route("**/api/v1/evidence", hold)
    context.set_offline(False)
    page.locator("#tab-sync").tap()
    page.locator("#sync-now").tap()
    for _ in range(400):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the upload never started"
    page.close()
    context.unroute("**/api/v1/evidence")

    page = open_app(context, site)
    page.wait_for_selector("body[data-screen='today']")
    page.locator("#tab-sync").tap()
    wait_confirmed(page, 4)
    items = queue(page)
    assert [i["state"] for i in items if i["kind"] == "photo"] == ["confirmed"] * 4
    # Later syncs also proved the ledger extends the checkpoint the phone verified before.
    grown = [i["receipt"]["consistency"] for i in items if i["receipt"].get("consistency")]
    assert grown and all(c["first"] <= c["second"] for c in grown)

    evidence = evidence_of(site, day, visit_id)
    assert sorted(e["sha256"] for e in evidence) == sorted(sha256(p) for p in [big, *small[:3]])
    assert all(e["signature_status"] == "signed" and e["status"] == "sealed" for e in evidence)
    context.close()


def test_check_in_outside_lawful_hours_shows_the_rule_in_both_languages(browser, site):
    day = site["night"]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    open_visit(page, day.visit_ids[0])
    page.locator("#go-checkin").tap()
    page.wait_for_selector("#send-checkin:not([disabled])")
    page.locator("#send-checkin").tap()
    page.wait_for_selector("li.item-refused[data-kind=checkin] .refusal")
    text = page.locator(".refusal").inner_text()
    assert "Outside lawful hours at the address" in text and "hours.local" in text
    shot(page, "check-in-refused")
    page.locator("#tab-settings").tap()
    page.locator("#language").select_option("zh-CN")
    open_visit(page, day.visit_ids[0])
    page.locator(".refusal", has_text="不在该地址的法定外访时段内").wait_for()
    text = page.locator(".refusal").inner_text()
    assert "不在该地址的法定外访时段内" in text and "hours.local" in text and "规则" in text
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, "check-in-refused", "zh")
    context.close()


def test_every_screen_in_the_phones_language_with_audio(browser, site):
    """A phone set to Chinese gets the app in Chinese; audio from MediaRecorder is sealed like a photo."""
    day = site["zh"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day, locale="zh-CN")
    page = open_app(context, site)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, "sign-in", "zh")
    sign_in(page, day)
    assert "今日" in page.locator("#tab-today").inner_text()
    shot(page, "today", "zh")
    open_visit(page, visit_id)
    shot(page, "visit", "zh")
    page.locator("#go-checkin").tap()
    page.wait_for_selector("#send-checkin:not([disabled])")
    assert "在地理围栏内" in page.locator("#geofence").inner_text()
    shot(page, "check-in", "zh")
    page.locator("#send-checkin").tap()
    page.wait_for_selector("li.item-done[data-kind=checkin]")
    context.set_offline(True)  # the photo, the recording and the note are made with no network
    take_photo(page, camera_photo(day.place), "door.jpg", screenshot=("capture", "zh"))

    page.locator("#go-audio").tap()
    page.locator("#record").tap()
    page.wait_for_function("() => Number(document.body.dataset.recorded) > 2000")
    page.locator("#stop").tap()
    page.wait_for_function("() => Boolean(document.body.dataset.captureSha)")
    page.locator("#consent input[name=subject][value=granted]").check()
    page.locator("#consent input[name=third][value=no]").check()
    shot(page, "capture-audio", "zh")
    page.locator("#save-capture").tap()
    page.wait_for_selector("body[data-screen='visit']")
    write_note(page, "债务人不在家，邻居说晚上回来。")
    page.locator("#tab-sync").tap()
    page.wait_for_function("() => document.getElementById('count-waiting')?.textContent === '3'")
    page.wait_for_function("() => document.getElementById('net').textContent === '离线'")
    shot(page, "sync-offline", "zh")
    context.set_offline(False)
    page.locator("#sync-now").tap()
    wait_confirmed(page, 3)
    shot(page, "sync-sealed", "zh")

    open_visit(page, visit_id)
    page.locator("#go-checkout").tap()
    page.locator("#outcome").select_option("not_home")
    page.locator("#summary").fill("不在家")
    shot(page, "check-out", "zh")
    page.locator("#save-checkout").tap()
    page.wait_for_selector("li.item-done[data-kind=checkout]")
    shot(page, "visit-done", "zh")
    page.locator("#tab-settings").tap()
    shot(page, "settings", "zh")

    evidence = evidence_of(site, day, visit_id)
    assert sorted(e["kind"] for e in evidence) == ["audio", "note", "photo"]
    audio = next(e for e in evidence if e["kind"] == "audio")
    assert audio["media_type"] == "audio/mp4" and audio["signature_status"] == "signed" and audio["status"] == "sealed"
    context.close()


def test_a_receipt_that_does_not_match_is_shown_loudly_and_kept_on_the_phone(browser, site):
    """The phone trusts no answer it can check: a server SHA-256 that differs from the phone's, and an
    inclusion proof that does not lead to the signed checkpoint's root, are loud errors."""
    day = site["tamper"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    open_visit(page, visit_id)

    def wrong_sha(route):
        response = route.fetch()
        body = response.json()
        body["sha256"] = "0" * 64
        route.fulfill(response=response, json=body)

    context.route("**/api/v1/evidence", wrong_sha)
    first = camera_photo(day.place, colour=(10, 200, 10))
    take_photo(page, first, "one.jpg")
    page.wait_for_selector("li.item-mismatch .loud")
    assert "0" * 64 in page.locator("li.item-mismatch .loud").inner_text()
    context.unroute("**/api/v1/evidence")

    def bent_proof(route):
        response = route.fetch()
        body = response.json()
        node = bytearray(bytes.fromhex(body["audit_path"][0]))
        node[0] ^= 1
        body["audit_path"][0] = node.hex()
        route.fulfill(response=response, json=body)

    context.route("**/api/v1/ledger/proofs/inclusion**", bent_proof)
    second = camera_photo(day.place, colour=(200, 200, 10))
    take_photo(page, second, "two.jpg")
    page.wait_for_selector("li.item-check_failed .loud")
    assert "root_mismatch" in page.locator("li.item-check_failed .loud").inner_text()
    shot(page, "receipt-failed")
    failed = [i for i in queue(page) if i["state"] == "check_failed"]
    assert [i["sha256"] for i in failed] == [sha256(second)]
    assert failed[0]["metadata"] is not None  # not confirmed, so nothing was dropped
    context.unroute("**/api/v1/ledger/proofs/inclusion**")

    def rewritten_history(route):
        response = route.fetch()
        body = response.json()
        body["proof"] = ["0" * 63 + "7", *body["proof"][1:]]  # another history (or a node too many)
        route.fulfill(response=response, json=body)

    context.route("**/api/v1/ledger/proofs/consistency**", rewritten_history)
    third = camera_photo(day.place, colour=(10, 10, 10))
    take_photo(page, third, "three.jpg")
    page.locator("li.item-check_failed .loud", has_text="does not extend").wait_for()
    assert sorted(i["sha256"] for i in queue(page) if i["state"] == "check_failed") == sorted([sha256(second), sha256(third)])
    context.close()


def test_a_session_that_ends_mid_queue_asks_to_sign_in_again_and_loses_nothing(browser, site):
    day = site["expired"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    open_visit(page, visit_id)
    context.set_offline(True)
    data = camera_photo(day.place, colour=(90, 10, 160))
    take_photo(page, data, "late.jpg")
    token = page.evaluate("""async () => {
        const db = await new Promise((ok) => { const r = indexedDB.open('fieldproof'); r.onsuccess = () => ok(r.result); });
        const t = await new Promise((ok) => { const r = db.transaction('kv').objectStore('kv').get('token');
            r.onsuccess = () => ok(r.result); });
        db.close();
        return t; }""")
    revoked = site["client"].delete("/api/v1/auth/tokens/current", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 204
    context.set_offline(False)
    page.evaluate("window.fieldproof.sync.kick()")
    page.wait_for_selector("body[data-screen='signin'] #signin-note:not([hidden])")
    assert page.locator("#username").input_value() == day.collector.username
    shot(page, "session-ended")
    assert [i["state"] for i in queue(page) if i["kind"] == "photo"] in (["waiting"], ["sending"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#signin-button").tap()
    page.wait_for_selector("body[data-screen='today']")
    wait_confirmed(page, 1)
    assert [e["sha256"] for e in evidence_of(site, day, visit_id)] == [sha256(data)]
    context.close()


def test_the_phone_restarts_offline_mid_queue_and_nothing_is_lost(playwright, site, tmp_path):
    """The whole browser goes away (a phone restart), comes back with no network: the app opens
    from its cache with its queue, and sends it once the network is back."""
    day = site["restart"]
    visit_id = day.visit_ids[0]
    profile = tmp_path / "phone-profile"

    def boot():
        context = playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM,
                                                                args=CHROMIUM_ARGS, **phone_options(day))
        context.set_default_timeout(30_000)
        return context

    context = boot()
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(site["url"] + "/field/")
    page.wait_for_selector("body[data-ready='1']")
    sign_in(page, day)
    page.wait_for_function("() => document.body.dataset.shell === 'cached'")
    open_visit(page, visit_id)
    context.set_offline(True)
    photos = [camera_photo(day.place, colour=(200, 100, n * 60)) for n in range(2)]
    for n, data in enumerate(photos):
        take_photo(page, data, f"restart-{n}.jpg")
    context.close()  # the browser process ends

    context = boot()
    context.set_offline(True)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(site["url"] + "/field/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("body[data-screen='today']")
    assert [i["sha256"] for i in queue(page) if i["kind"] == "photo"] == [sha256(p) for p in photos]
    context.set_offline(False)
    page.locator("#tab-sync").tap()
    page.locator("#sync-now").tap()
    wait_confirmed(page, 2)
    assert sorted(e["sha256"] for e in evidence_of(site, day, visit_id)) == sorted(sha256(p) for p in photos)
    context.close()


def test_a_large_photo_goes_through_the_api_when_object_storage_wants_an_md5(browser, site):
    """On S3 a direct upload must carry a Content-MD5, which WebCrypto cannot compute: the app sends
    the bytes through the streaming upload instead, still exactly once."""
    day = site["s3"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    open_visit(page, visit_id)
    announced = []

    def object_storage(route):
        announced.append(route.request.headers.get("idempotency-key"))
        route.fulfill(status=422, content_type="application/problem+json", json={
            "type": "about:blank", "title": "Unprocessable Entity", "status": 422,
            "detail": "direct uploads to object storage are bound to the Content-MD5",
            "errors": {"content_md5": ["required: base64 of the MD5 of the bytes"]}})

    context.route("**/api/v1/evidence/uploads", object_storage)
    big = noisy_photo(1_200_000, day.place)
    take_photo(page, big, "wide.jpg")
    wait_confirmed(page, 1)
    assert len(announced) == 1
    assert [e["sha256"] for e in evidence_of(site, day, visit_id)] == [sha256(big)]
    context.close()


def app_token(page):
    return page.evaluate("""async () => {
        const db = await new Promise((ok) => { const r = indexedDB.open('fieldproof'); r.onsuccess = () => ok(r.result); });
        const t = await new Promise((ok) => { const r = db.transaction('kv').objectStore('kv').get('token');
            r.onsuccess = () => ok(r.result); });
        db.close();
        return t; }""")


def test_a_phone_with_unsent_work_is_not_handed_to_another_collector(browser, site):
    day, colleague = site["handover"], site["colleague"]
    visit_id = day.visit_ids[0]
    context = phone(browser, day)
    page = open_app(context, site)
    sign_in(page, day)
    open_visit(page, visit_id)
    context.set_offline(True)
    data = camera_photo(day.place, colour=(5, 5, 250))
    take_photo(page, data, "mine.jpg")
    revoked = site["client"].delete("/api/v1/auth/tokens/current", headers={"Authorization": f"Bearer {app_token(page)}"})
    assert revoked.status_code == 204
    context.set_offline(False)
    page.evaluate("window.fieldproof.sync.kick()")
    page.wait_for_selector("body[data-screen='signin'] #signin-note:not([hidden])")

    page.locator("#username").fill(colleague.collector.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#signin-button").tap()
    page.wait_for_selector("#signin-error:not([hidden])")
    assert day.collector.username in page.locator("#signin-error").inner_text()
    assert [i["sha256"] for i in queue(page)] == [sha256(data)]

    page.locator("#username").fill(day.collector.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#signin-button").tap()
    page.wait_for_selector("body[data-screen='today']")
    wait_confirmed(page, 1)
    assert [e["sha256"] for e in evidence_of(site, day, visit_id)] == [sha256(data)]
    assert evidence_of(site, colleague, colleague.visit_ids[0]) == []
    context.close()
