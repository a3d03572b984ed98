"""The contact log over HTTP: each channel's fields, refusals with every rule, the check, sealing in
the ledger, the timeline, visibility; the case plan and the worklist."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.api.visit_helpers import local, make_world

NY = ZoneInfo("America/New_York")
NY_HOME = [{"kind": "home", "line": "1 Main St", "city": "New York", "country": "US", "lat": 40.7128,
            "lon": -74.0060}]


def _post(client, world, body, case=None, who=None):
    case = case or world.case
    return client.post(f"/api/v1/cases/{case['id']}/contacts", json=body,
                       headers=(who or world.collector).headers)


def _call(at, **extra):
    return {"channel": "call", "direction": "outbound", "at": at.isoformat(), "outcome": "no_answer", **extra}


def test_a_call_is_logged_with_its_own_fields_masked_and_sealed(client, factory):
    world = make_world(factory)
    at = local(-1, 10, 0)
    response = _post(client, world, _call(at, outcome="spoke_debtor", duration_s=95, number="+86 138 0013 9999",
                                          recording_consent="granted", text="Debtor promised to call back."))
    assert response.status_code == 201, response.get_json()
    contact = response.get_json()
    assert contact["channel"] == "call" and contact["outcome"] == "spoke_debtor" and contact["duration_s"] == 95
    assert contact["number"].endswith("9999") and "138" not in contact["number"]
    assert contact["time_zone"] == "Asia/Shanghai" and contact["at_local"].startswith(at.date().isoformat() + "T10:00")
    assert contact["text_sha256"] == hashlib.sha256(b"Debtor promised to call back.").hexdigest()
    assert contact["custody_event_id"] is not None
    listed = client.get(f"/api/v1/cases/{world.case['id']}/contacts", headers=world.collector.headers)
    assert [c["id"] for c in listed.get_json()] == [contact["id"]]
    timeline = client.get(f"/api/v1/cases/{world.case['id']}/timeline", headers=world.supervisor.headers).get_json()
    assert any(e["type"] == "contact_recorded" and e["details"]["contact_id"] == contact["id"] for e in timeline)


def test_the_sealed_text_is_the_custody_events_hash(client, factory, app):
    from sqlalchemy import select

    from custody.models import CustodyEvent

    world = make_world(factory)
    body = {"channel": "sms", "at": local(-1, 11).isoformat(), "outcome": "delivered", "template": "reminder_1",
            "text": "您的账户已逾期，请尽快还款。退订回复TD"}
    contact = _post(client, world, body).get_json()
    with app.extensions["fieldproof"].db.transaction() as session:
        event = session.scalar(select(CustodyEvent).where(CustodyEvent.event_id == contact["custody_event_id"]))
        assert event.type == "contact_recorded" and event.subject_id == contact["id"]
        assert event.sha256 == hashlib.sha256(body["text"].encode()).hexdigest()


def test_an_unlawful_call_is_refused_with_every_rule_and_nothing_is_recorded(client, factory):
    world = make_world(factory, flags={"cease_contact": True, "attorney_represented": True,
                                       "workplace_contact_prohibited": False})
    response = _post(client, world, _call(local(-1, 22, 0)))
    assert response.status_code == 422
    problem = response.get_json()
    assert [v["rule"] for v in problem["violations"]] == ["hours.local", "contact.cease", "contact.represented"]
    assert client.get(f"/api/v1/cases/{world.case['id']}/contacts", headers=world.collector.headers).get_json() == []


def test_the_check_answers_before_a_call_is_placed(client, factory):
    world = make_world(factory)
    url = f"/api/v1/cases/{world.case['id']}/contacts/check"
    late = client.post(url, json={"channel": "call", "at": local(1, 22, 0).isoformat()},
                       headers=world.collector.headers).get_json()
    assert late["allowed"] is False and [v["rule"] for v in late["violations"]] == ["hours.local"]
    ok = client.post(url, json={"channel": "call", "at": local(1, 21, 59).isoformat()},
                     headers=world.collector.headers).get_json()
    assert ok == {"allowed": True, "violations": [], "channel": "call", "party": "debtor",
                  "at": ok["at"]}


def test_reg_f_refuses_a_call_one_minute_after_a_conversation(client, factory):
    world = make_world(factory, jurisdiction="US-NY", addresses=NY_HOME, currency="USD")
    day = datetime.now(NY).date() - timedelta(days=2)
    talk = datetime(day.year, day.month, day.day, 10, 0, tzinfo=NY)
    assert _post(client, world, _call(talk, outcome="spoke_debtor", duration_s=300)).status_code == 201
    again = _post(client, world, _call(talk + timedelta(minutes=6)))
    assert again.status_code == 422
    assert [v["rule"] for v in again.get_json()["violations"]] == ["frequency.calls"]


def test_us_messages_need_an_opt_out_and_an_opt_out_closes_the_channel(client, factory):
    world = make_world(factory, jurisdiction="US-NY", addresses=NY_HOME, currency="USD")
    day = datetime.now(NY).date() - timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, 0, tzinfo=NY)
    sms = {"channel": "sms", "at": noon.isoformat(), "outcome": "sent", "template": "t1", "text": "Please pay."}
    refused = _post(client, world, sms)
    assert refused.status_code == 422 and [v["rule"] for v in refused.get_json()["violations"]] == ["contact.opt_out"]
    assert _post(client, world, {**sms, "text": "Please pay. Reply STOP to opt out."}).status_code == 201
    stop = {"channel": "sms", "direction": "inbound", "at": (noon + timedelta(hours=1)).isoformat(),
            "outcome": "delivered", "text": "STOP", "opt_out": True}
    assert _post(client, world, stop).status_code == 201
    closed = _post(client, world, {**sms, "at": (noon + timedelta(hours=2)).isoformat(),
                                   "text": "Please pay. Reply STOP to opt out."})
    assert closed.status_code == 422 and [v["rule"] for v in closed.get_json()["violations"]] == ["contact.opt_out"]


def test_each_channel_takes_its_own_fields_and_outcomes(client, factory):
    world = make_world(factory)
    at = local(-1, 10).isoformat()
    wrong_outcome = _post(client, world, {"channel": "letter", "at": at, "outcome": "voicemail",
                                          "letter_method": "post"})
    assert wrong_outcome.status_code == 422 and "outcome" in wrong_outcome.get_json()["errors"]
    wrong_field = _post(client, world, {"channel": "sms", "at": at, "outcome": "sent", "text": "hi",
                                        "duration_s": 5})
    assert wrong_field.status_code == 422 and "duration_s" in wrong_field.get_json()["errors"]
    letter = _post(client, world, {"channel": "letter", "at": at, "outcome": "returned", "letter_method": "post",
                                   "template": "overdue", "tracking": "EMS123456789CN"})
    assert letter.status_code == 201 and letter.get_json()["tracking"] == "EMS123456789CN"
    future = _post(client, world, _call(local(2, 10)))
    assert future.status_code == 422 and "at" in future.get_json()["errors"]


def test_a_collector_sees_only_contacts_of_cases_assigned_to_them(client, factory):
    world = make_world(factory)
    other = factory.user("collector")
    assert _post(client, world, _call(local(-1, 10))).status_code == 201
    url = f"/api/v1/cases/{world.case['id']}/contacts"
    assert client.get(url, headers=other.headers).status_code == 404
    assert _post(client, world, _call(local(-1, 11)), who=other).status_code == 404
    assert client.post(url + "/check", json={"channel": "call"}, headers=other.headers).status_code == 404
    assert len(client.get(url, headers=world.supervisor.headers).get_json()) == 1
    auditor = factory.user("auditor")
    assert _post(client, world, _call(local(-1, 12)), who=auditor).status_code == 403


def test_the_plan_puts_the_notice_first_and_the_worklist_follows_it(client, factory):
    world = make_world(factory, jurisdiction="US-NY", addresses=NY_HOME, currency="USD")
    url = f"/api/v1/cases/{world.case['id']}/plan"
    plan = client.get(url, headers=world.collector.headers).get_json()
    assert [a["kind"] for a in plan["actions"]] == ["notice", "call", "visit", "legal_referral"]
    assert plan["edited"] is False
    assert plan["actions"][1]["blocked"] and "notice" in plan["actions"][1]["blocked"]
    work = client.get("/api/v1/worklist", headers=world.collector.headers).get_json()
    assert [(w["case_id"], w["kind"]) for w in work] == [(world.case["id"], "notice")]
    # a supervisor edits the plan: the notice skipped, the call due yesterday
    yesterday = (datetime.now(NY).date() - timedelta(days=1)).isoformat()
    edited = client.patch(url, json={"actions": [{"kind": "notice", "due_on": yesterday, "status": "skipped"},
                                                 {"kind": "call", "due_on": yesterday, "note": "call first"}]},
                          headers=world.supervisor.headers)
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert body["edited"] is True and body["actions"][1]["note"] == "call first"
    assert body["actions"][1]["overdue"] is True
    assert client.patch(url, json={"actions": [{"kind": "call", "due_on": yesterday}]},
                        headers=world.collector.headers).status_code == 403


def test_a_notice_issued_on_the_timeline_completes_the_notice_step(client, factory, app):
    from cases.timeline import record_event

    world = make_world(factory)
    with app.extensions["fieldproof"].db.transaction() as session:
        record_event(session, world.case["id"], "notice_issued", world.supervisor.id, {"template": "overdue"})
    plan = client.get(f"/api/v1/cases/{world.case['id']}/plan", headers=world.collector.headers).get_json()
    assert plan["actions"][0]["status"] == "done"
    assert plan["actions"][1]["blocked"] is None


def test_reports_count_contacts_per_collector_and_channel_and_refusals_by_rule(client, factory):
    world = make_world(factory)
    assert _post(client, world, _call(local(-1, 10))).status_code == 201
    assert _post(client, world, _call(local(-1, 11), outcome="spoke_debtor")).status_code == 201
    assert _post(client, world, {"channel": "letter", "at": local(-1, 12).isoformat(), "outcome": "returned",
                                 "letter_method": "post"}).status_code == 201
    assert _post(client, world, _call(local(-1, 22, 30))).status_code == 422
    # contacts count on the UTC day they were made, refusals on the day they were attempted (today)
    day = datetime.now(UTC).date().isoformat()
    start = (local(-1, 12).date() - timedelta(days=1)).isoformat()
    url = f"/api/v1/reports/contacts?from={start}&to={day}&collector_id={world.collector.id}"
    report = client.get(url, headers=world.supervisor.headers).get_json()
    rows = {r["channel"]: r for r in report["rows"]}
    assert rows["call"]["contacts"] == 2 and rows["call"]["outcomes"] == {"no_answer": 1, "spoke_debtor": 1}
    assert rows["call"]["refused_attempts"] == 1 and rows["call"]["refused_by_rule"] == {"hours.local": 1}
    assert rows["letter"]["outcomes"] == {"returned": 1}
    assert report["refused_by_rule"] == {"hours.local": 1}
    csv_text = client.get(url, headers={**world.supervisor.headers, "Accept": "text/csv"}).get_data(as_text=True)
    header, *lines = csv_text.strip().split("\r\n")
    assert "refused.frequency.calls" in header and "outcome.returned" in header and len(lines) == 2
    assert client.get(url, headers=world.collector.headers).status_code == 403


def test_the_storage_sweep_keeps_a_contacts_sealed_text(client, factory, app, settings):
    from tests.api.test_evidence import sweep

    world = make_world(factory)
    text = "Your payment is overdue. 退订回复TD"
    contact = _post(client, world, {"channel": "sms", "at": local(-1, 11).isoformat(), "outcome": "sent",
                                    "template": "t", "text": text}).get_json()
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert contact["text_sha256"] == digest and app.extensions["fieldproof"].blobs.exists(digest)
    report = sweep(settings, "--remove")
    assert digest not in report.output, report.output
    assert app.extensions["fieldproof"].blobs.exists(digest)


def test_a_plan_edit_with_a_stale_etag_is_refused(client, factory):
    world = make_world(factory)
    url = f"/api/v1/cases/{world.case['id']}/plan"
    read = client.get(url, headers=world.supervisor.headers)
    etag = read.headers["ETag"]
    day = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    first = client.patch(url, json={"actions": [{"kind": "call", "due_on": day}]},
                         headers={**world.supervisor.headers, "If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    stale = client.patch(url, json={"actions": [{"kind": "visit", "due_on": day}]},
                         headers={**world.supervisor.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert [a["kind"] for a in client.get(url, headers=world.supervisor.headers).get_json()["actions"]] == ["call"]
