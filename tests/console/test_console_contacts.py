"""The case page shows the contact log and the plan, in English and Chinese."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.visit_helpers import local, make_world


def _section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index("</section>", start)]


def test_the_case_page_shows_the_contact_log_and_the_plan(console, client, factory):
    world = make_world(factory)
    at = local(-1, 10)
    body = {"channel": "call", "at": at.isoformat(), "outcome": "spoke_debtor", "duration_s": 60,
            "text": "Debtor will pay Friday."}
    assert client.post(f"/api/v1/cases/{world.case['id']}/contacts", json=body,
                       headers=world.collector.headers).status_code == 201
    console.login(world.supervisor)
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    contacts = _section(page, "contacts-h")
    assert "spoke_debtor" in contacts and "Asia/Shanghai" in contacts and "text sealed" in contacts
    assert f"{at:%H:%M} Asia/Shanghai" in contacts
    plan = _section(page, "plan-h")
    assert [kind for kind in ("notice", "call", "visit", "legal_referral") if f'class="plan-{kind}"' in plan] == [
        "notice", "call", "visit", "legal_referral"]
    assert "Call to the debtor by" in _section(page, "timeline-h")

    console.post("/console/language", data={"locale": "zh_CN", "next": "/console/login"})
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    assert "联络记录" in page and "与债务人通话" in _section(page, "contacts-h")
    assert "书面通知" in _section(page, "plan-h") and "催收计划" in page
    assert "致电债务人" in _section(page, "timeline-h")


def test_a_case_without_contacts_says_so(console, client, factory):
    world = make_world(factory)
    console.login(world.supervisor)
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    assert "No contacts yet." in _section(page, "contacts-h")


def test_a_supervisor_issues_a_notice_from_the_case_page_in_either_language(console, client, factory):
    world = make_world(factory)
    today = datetime.now(UTC).date()   # the case amount is itemized at the case's creation: today
    console.login(world.supervisor)
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    form = _section(page, "notices-h")
    assert 'value="overdue"' in form and 'value="validation"' not in form   # a CN case has no validation notice
    response = console.post(f"/console/cases/{world.case['id']}/notices",
                            data={"template": "overdue", "language": "zh-CN", "mailing_date": today.isoformat()})
    assert response.status_code == 302 and response.headers["Location"].endswith("#notices-h")
    notices = client.get(f"/api/v1/cases/{world.case['id']}/notices", headers=world.supervisor.headers).get_json()
    assert [(n["template"], n["language"], n["mailing_date"]) for n in notices] == [
        ("overdue", "zh-CN", today.isoformat())]
    assert notices[0]["respond_by"] == (today + timedelta(days=14)).isoformat()   # the profile's reply period
    refused = console.post(f"/console/cases/{world.case['id']}/notices",
                           data={"template": "validation", "language": "en"})
    assert refused.status_code == 422
    bad_day = console.post(f"/console/cases/{world.case['id']}/notices",
                           data={"template": "overdue", "language": "en", "mailing_date": "1 Dec"})
    assert bad_day.status_code == 422 and "YYYY-MM-DD" in bad_day.get_data(as_text=True)

    console.post("/console/language", data={"locale": "zh_CN", "next": "/console/login"})
    form = _section(client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True), "notices-h")
    assert "发出书面通知" in form and "逾期欠款通知" in form


def test_a_collector_has_no_notice_form_and_cannot_issue(console, client, factory):
    world = make_world(factory)
    console.login(world.collector)
    page = client.get(f"/console/cases/{world.case['id']}").get_data(as_text=True)
    assert 'id="notices-h"' not in page
    response = console.post(f"/console/cases/{world.case['id']}/notices",
                            data={"template": "overdue", "language": "en"})
    assert response.status_code in (403, 404)
    assert client.get(f"/api/v1/cases/{world.case['id']}/notices", headers=world.supervisor.headers).get_json() == []
