"""The case page's timeline reads as sentences: names, the address's local time beside UTC, no ids."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from accounts.models import User
from cases.timeline import record_event
from tests.evidence_corpus import photo
from tests.evidence_world import world  # noqa: F401 - fixture
from tests.api.visit_helpers import HOME, check_in, check_out, clock, local, make_world, scheduled  # noqa: F401

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def timeline_of(page: str) -> str:
    start = page.index('<ol class="timeline">')
    return page[start:page.index("</ol>", start)]


def visits_of(page: str) -> str:
    start = page.index('id="visits-h"')
    return page[start:page.index("</table>", start)]


def rename(app, user, name):
    with app.extensions["fieldproof"].db.transaction() as session:
        session.get(User, user.id).display_name = name


@pytest.fixture
def told(app, client, factory, clock):  # noqa: F811
    """A case with a visit scheduled (two collectors), checked in and out, and an updated status."""
    office = make_world(factory)
    rename(app, office.supervisor, "Zhou Supervisor")
    rename(app, office.collector, "Zhang San")
    rename(app, office.second, "Li Si")
    start = local(1, 10)
    visit = scheduled(client, office, start, start + timedelta(hours=1))
    clock.now = start + timedelta(minutes=5)
    assert check_in(client, office.collector, visit["id"], clock.now, HOME).status_code == 200
    clock.now += timedelta(minutes=20)
    assert check_out(client, office.collector, visit["id"], clock.now, "not_home").status_code == 200
    response = client.patch(f"/api/v1/cases/{office.case['id']}", json={"status": "legal"},
                            headers=office.supervisor.headers)
    assert response.status_code == 200, response.get_json()
    return office, visit, start


def test_timeline_reads_as_sentences_with_names_and_local_time(console, client, factory, told):
    office, visit, start = told
    console.login(factory.user("legal"))
    page = client.get(f"/console/cases/{office.case['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    timeline = timeline_of(page)
    text = re.sub(r"<[^>]+>", "", timeline)
    assert not UUID.search(text), text
    assert "None" not in text and "visit_id" not in text and "collector_id" not in text
    assert "scheduled by Zhou Supervisor at the home address for" in text
    assert "10:00–11:00 Asia/Shanghai (02:00–03:00 UTC)" in text
    assert "collectors Zhang San and Li Si" in text
    assert "Check-in by Zhang San at the home address" in text and "inside the geofence" in text
    assert "the debtor was not at home" in text
    assert "Case updated by Zhou Supervisor: status changed." in text
    # The check-in's own time, in the address's time first and UTC beside it.
    assert "10:05 Asia/Shanghai" in text and "02:05 UTC" in text
    # The visit is a link to its row of the visit list.
    assert f'href="/console/cases/{office.case["id"]}#visit-{visit["id"]}"' in timeline
    assert f'id="visit-{visit["id"]}"' in page
    # The visit list shows the window in the address's local time as well.
    assert "10:00–11:00 Asia/Shanghai (02:00–03:00 UTC)" in visits_of(page)


def test_timeline_in_chinese(console, client, factory, told):
    office, _, _ = told
    console.login(factory.user("legal"))
    console.post("/console/language", data={"locale": "zh_CN", "next": "/console/cases"})
    page = client.get(f"/console/cases/{office.case['id']}").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", timeline_of(page))
    assert not UUID.search(text) and "None" not in text
    assert "Zhou Supervisor 安排了上门拜访：住所地址" in text
    assert "10:00–11:00 Asia/Shanghai（UTC 02:00–03:00）" in text
    assert "催收员 Zhang San和Li Si" in text
    assert "债务人不在家" in text and "scheduled by" not in text


def test_unknown_events_and_missing_people_read_sensibly(app, console, client, factory, told):
    office, visit, _ = told
    with app.extensions["fieldproof"].db.transaction() as session:
        record_event(session, office.case["id"], "visit.inspected", "6f1c2a9e-0000-4000-8000-000000000001",
                     {"visit_id": visit["id"], "inspector_id": "6f1c2a9e-0000-4000-8000-000000000002",
                      "derived_from": None, "note": "gate locked", "minutes": 12})
    console.login(factory.user("legal"))
    page = client.get(f"/console/cases/{office.case['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    text = re.sub(r"<[^>]+>", "", timeline_of(page))
    assert "Visit inspected, recorded by a former user. note: gate locked; minutes: 12." in text
    assert not UUID.search(text) and "None" not in text


def test_names_are_looked_up_once_for_the_whole_page(app, console, client, factory, told):
    office, _, _ = told
    console.login(factory.user("legal"))
    path = f"/console/cases/{office.case['id']}"

    def user_queries() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            if re.search(r"\bFROM users\b", statement):
                seen.append(statement)
        event.listen(Engine, "before_cursor_execute", count)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        return len(seen)

    before = user_queries()
    with app.extensions["fieldproof"].db.transaction() as session:
        for n in range(20):
            person = User(username=f"clerk{n}", display_name=f"Clerk {n}", role="supervisor", password_hash="x")
            session.add(person)
            session.flush()
            record_event(session, office.case["id"], "case_updated", person.id, {"changed": ["status"]})
    assert user_queries() == before
    page = client.get(path).get_data(as_text=True)
    assert "Case updated by Clerk 7: status changed." in page


def test_evidence_page_shows_the_capture_in_the_addresss_local_time(app, console, client, world):  # noqa: F811
    response = world.upload(client, photo(size=(320, 240)))
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    console.login(world.legal)
    page = client.get(f"/console/evidence/{item['id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    captured = datetime.fromisoformat(item["captured_at"].replace("Z", "+00:00"))
    local = captured.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local:%H:%M:%S} Asia/Shanghai" in page
    assert f"{captured.astimezone(UTC):%H:%M:%S} UTC" in page
