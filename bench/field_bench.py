"""The collector's app, measured in Debian's Chromium (Playwright, a phone context) on loopback.

1. 200 photos (real JPEGs with EXIF GPS) captured offline through the app's own screens — each
   hashed and signed on the phone, queued in IndexedDB — then synced: items per second from "back
   online" until every item is sealed on the server *and* its receipt checked on the phone
   (custody leaf, signed checkpoint, RFC 9162 inclusion proof). Baseline, same run, same server:
   a plain Python client (http.client, keep-alive) making the same 200 multipart uploads
   (SHA-256 with hashlib, one POST each, no receipt checks). Ratio = app / plain client.
2. Capture-to-sealed for a 5 MB photo (the direct-upload path: announce, PUT, complete), online,
   from the moment the file is handed to the page, and capture-to-confirmed (receipt checked).
3. The app shell's size: every file the service worker caches, before compression (target:
   under 150 KB, no framework) and gzipped.

The server is a separate process (werkzeug, threaded, filesystem store, SQLite).
Run: python bench/field_bench.py [--items 200]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"


def serve(data_dir: Path) -> None:
    """Migrate; two collectors with a checked-in visit each at a place where it is daytime; serve."""
    import logging

    from werkzeug.serving import make_server

    from api.app import create_app
    from api.dbtools import upgrade
    from core.settings import Settings
    from tests.e2e.field_world import field_day, place_where
    from tests.factories import Factory

    settings = Settings(data_dir=data_dir, secret_key="bench-secret-" + "x" * 40, log_level="WARNING",
                        login_max_failures=1000)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    app = create_app(settings)
    factory = Factory(app, app.test_client())
    place = place_where(range(6, 21))
    phone_day = field_day(app, factory, place, visits=1, status="checked_in")
    plain_day = field_day(app, factory, place, visits=1, status="checked_in")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(json.dumps({"port": server.server_port, "place": [place.lat, place.lon, place.zone],
                      "phone": {"username": phone_day.collector.username, "visit_id": phone_day.visit_ids[0]},
                      "plain": {"token": plain_day.collector.token, "visit_id": plain_day.visit_ids[0]}}), flush=True)
    server.serve_forever()


def plain_uploads(server: dict, photos: list[bytes], place) -> float:
    """The baseline: hash and POST each photo, one keep-alive connection, sequentially."""
    connection = http.client.HTTPConnection("127.0.0.1", server["port"])
    boundary = "fieldproof-bench"
    started = time.perf_counter()
    for data in photos:
        metadata = json.dumps({"visit_id": server["plain"]["visit_id"], "kind": "photo",
                               "sha256": hashlib.sha256(data).hexdigest(), "captured_at": "2026-12-07T10:00:00+08:00",
                               "lat": place.lat, "lon": place.lon, "accuracy_m": 8,
                               "consent": {"subject": "granted", "third_parties_present": False}})
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        connection.request("POST", "/api/v1/evidence", body=body, headers={
            "Authorization": f"Bearer {server['plain']['token']}", "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 201:
            raise RuntimeError(f"plain upload failed: {response.status} {payload[:300]!r}")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def shell_size(url: str) -> tuple[int, int, int]:
    source = urllib.request.urlopen(url + "/field/sw.js").read().decode()
    paths = json.loads("[" + re.search(r"const SHELL = \[(.*?)\];", source).group(1) + "]")
    raw = gz = 0
    for path in paths:
        body = urllib.request.urlopen(url + path).read()
        raw += len(body)
        gz += len(gzip.compress(body, 9))
    return raw, gz, len(paths)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    from playwright.sync_api import sync_playwright

    from tests.e2e.field_world import Place, camera_photo, noisy_photo
    from tests.factories import PASSWORD

    work = Path(tempfile.mkdtemp(prefix="field-bench-"))
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "server")], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT)
    try:
        server = json.loads(child.stdout.readline())
        url = f"http://127.0.0.1:{server['port']}"
        place = Place(*server["place"])
        print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
        raw, gz, files = shell_size(url)
        print(f"app shell: {files} files, {raw / 1024:.1f} KB before compression (target < 150 KB), "
              f"{gz / 1024:.1f} KB gzipped; no framework, no build step")

        photos = [camera_photo(place, size=(640, 480), colour=(n % 256, (n * 7) % 256, 90)) for n in range(args.items)]
        size = sum(map(len, photos)) / len(photos)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--headless", "--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                          timezone_id=place.zone, geolocation=place.near(), locale="en-US",
                                          permissions=["geolocation"], service_workers="allow")
            context.set_default_timeout(600_000)
            page = context.new_page()
            page.goto(url + "/field/")
            page.wait_for_selector("body[data-ready='1']")
            page.locator("#username").fill(server["phone"]["username"])
            page.locator("#password").fill(PASSWORD)
            page.locator("#signin-button").click()
            page.wait_for_selector("#visit-list li")
            page.wait_for_function("() => document.body.dataset.shell === 'cached'")
            page.locator(f"li[data-visit='{server['phone']['visit_id']}'] .open-visit").click()

            context.set_offline(True)
            started = time.perf_counter()
            for n, data in enumerate(photos):
                page.locator("#go-photo").click()
                page.set_input_files("#photo-file", files=[{"name": f"p{n}.jpg", "mimeType": "image/jpeg",
                                                            "buffer": data}])
                page.wait_for_function("(sha) => document.body.dataset.captureSha === sha",
                                       arg=hashlib.sha256(data).hexdigest())
                page.locator("#consent input[name=subject][value=granted]").check()
                page.locator("#consent input[name=third][value=no]").check()
                page.locator("#save-capture").click()
                page.wait_for_selector("body[data-screen='visit']")
            captured = time.perf_counter() - started
            page.wait_for_function("(n) => document.body.dataset.pending === String(n)", arg=args.items)
            print(f"offline capture through the screens: {args.items} photos ({size / 1024:.0f} KB each) "
                  f"in {captured:.1f} s, {args.items / captured:.1f} per second (hash, GPS, Ed25519, IndexedDB)")

            context.set_offline(False)
            started = time.perf_counter()
            page.evaluate("window.fieldproof.sync.kick()")
            page.wait_for_function("""(n) => Object.values(window.fieldproof.sync.status.states)
                .filter((s) => ['sealed', 'confirmed'].includes(s)).length >= n""", arg=args.items, polling=20)
            sent_seconds = time.perf_counter() - started
            page.wait_for_function("(n) => document.body.dataset.confirmed === String(n) && "
                                   "document.body.dataset.pending === '0'", arg=args.items, polling=50)
            app_seconds = time.perf_counter() - started
            app_rate = args.items / app_seconds

            plain_seconds = plain_uploads(server, photos, place)
            plain_rate = args.items / plain_seconds
            print(f"sync, app in Chromium: {args.items} items sealed and receipts checked on the phone in "
                  f"{app_seconds:.1f} s = {app_rate:.1f} items/s (all sealed after {sent_seconds:.1f} s = "
                  f"{args.items / sent_seconds:.1f} items/s; the rest is the receipt checks)")
            print(f"baseline, plain Python client: {args.items} uploads in {plain_seconds:.1f} s = "
                  f"{plain_rate:.1f} items/s")
            print(f"ratio app / plain client: {app_rate / plain_rate:.2f} "
                  "(the app also fetches and checks custody, checkpoint and inclusion proof per item)")

            big = noisy_photo(5_000_000, place)
            big_path = work / "big.jpg"
            big_path.write_bytes(big)
            page.locator("#tab-today").click()
            page.locator(f"li[data-visit='{server['phone']['visit_id']}'] .open-visit").click()
            page.locator("#go-photo").click()
            started = time.perf_counter()
            page.set_input_files("#photo-file", files=[str(big_path)])
            page.wait_for_function("(sha) => document.body.dataset.captureSha === sha",
                                   arg=hashlib.sha256(big).hexdigest(), polling=20)
            hashed = time.perf_counter() - started
            page.locator("#consent input[name=subject][value=granted]").check()
            page.locator("#consent input[name=third][value=no]").check()
            page.locator("#save-capture").click()
            page.wait_for_selector("body[data-screen='visit']")
            queued = time.perf_counter() - started
            page.wait_for_function("""(n) => Object.values(window.fieldproof.sync.status.states)
                .filter((s) => ['sealed', 'confirmed'].includes(s)).length >= n""", arg=args.items + 1, polling=20)
            to_sealed = time.perf_counter() - started
            page.wait_for_function("(n) => document.body.dataset.confirmed === String(n)", arg=args.items + 1,
                                   polling=20)
            to_confirmed = time.perf_counter() - started
            print(f"5 MB photo ({len(big) / 1e6:.1f} MB, direct upload): capture to sealed {to_sealed:.2f} s, "
                  f"to receipt confirmed on the phone {to_confirmed:.2f} s (includes the bench's taps); of which "
                  f"picking the file and hashing it {hashed:.2f} s, signed and queued {queued:.2f} s")
            browser.close()
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        child.terminate()
        child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
