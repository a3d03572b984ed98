"""The demo as a newcomer meets it: `fieldproof demo` and `fieldproof run` (gunicorn) on a new data
dir, then the console in Chromium, in both languages, showing the demo story's data on every page.

Takes the screenshots under docs/screenshots/demo/.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import Process, base_env, free_port, http_get, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "demo"
LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
CLI = str(Path(sys.executable).with_name("fieldproof"))


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo-site")
    env = {**base_env(), "FIELDPROOF_DATA_DIR": str(base / "data")}
    for argv in ([CLI, "db", "upgrade"], [CLI, "demo"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    password = re.search(r"username demo-admin\s+password (\S+)", done.stdout).group(1)
    port = free_port()
    server = Process("fieldproof-run", [CLI, "run", "--port", str(port)], env, base / "run.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(url + "/healthz", timeout=2)[0] == 200, timeout=60, what="fieldproof run",
                 alive=server.check_alive)
        yield {"url": url, "password": password}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def shot(page, name: str, language: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_console_page_shows_the_demo_story(browser, demo_site, language):
    context = browser.new_context(locale=LANGUAGES[language], viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(demo_site["url"] + "/console/login")
        page.locator("#username").fill("demo-admin")
        page.locator("#password").fill(demo_site["password"])
        page.locator("form button[type=submit].primary").click()
        page.wait_for_url("**/console/cases**")
        assert page.get_by_role("link", name="DEMO-0021").count() == 1
        shot(page, "cases", language)

        page.get_by_role("link", name="DEMO-0021").click()
        page.wait_for_url("**/console/cases/*")
        # two photos (one a redacted copy), a note and the written notice's PDF
        assert page.locator(".gallery figure").count() == 4
        shot(page, "case", language)

        page.locator(".gallery a:has(img)").first.click()   # a photo
        page.wait_for_url("**/console/evidence/*")
        shot(page, "evidence", language)

        page.goto(demo_site["url"] + "/console/audit")
        assert page.locator("table tbody tr").count() >= 1  # the finished verification
        shot(page, "audit", language)
    finally:
        context.close()
