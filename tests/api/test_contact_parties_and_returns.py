"""Contacts with third parties (`contact.third_party`: US once per person unless asked) and written
notices whose letter came back, over HTTP: refusals, what is stored, and the contacts report
(JSON and CSV) counting notices issued and returned per template and language."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from contacts.models import Contact
from tests.api.visit_helpers import local, make_world

NY = ZoneInfo("America/New_York")
NY_HOME = [{"kind": "home", "line": "1 Main St", "city": "New York", "country": "US", "lat": 40.7128,
            "lon": -74.0060}]
AUNT = "+1 (212) 555-0142"


def _post(client, world, body, case=None, who=None):
    case = case or world.case
    return client.post(f"/api/v1/cases/{case['id']}/contacts", json=body, headers=(who or world.collector).headers)


def _third_party_call(at, **extra):
    return {"channel": "call", "at": at.isoformat(), "outcome": "spoke_third_party", "party": "third_party",
            "relation": "relative", "number": AUNT, **extra}


def test_a_us_third_party_is_contacted_once_unless_they_ask(client, factory, app):
    world = make_world(factory, jurisdiction="US-NY", addresses=NY_HOME, currency="USD")
    first = _post(client, world, _third_party_call(local(-3, 11, zone=NY)))
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["party"] == "third_party" and body["relation"] == "relative"
    assert "555" not in body["number"] and "third_party_key" not in body
    # the same person, written another way: refused, and the refusal names the rule
    again = _post(client, world, _third_party_call(local(-2, 11, zone=NY), number="12125550142"))
    assert again.status_code == 422
    assert [v["rule"] for v in again.get_json()["violations"]] == ["contact.third_party"]
    check = client.post(f"/api/v1/cases/{world.case['id']}/contacts/check",
                        json={"channel": "call", "party": "third_party", "third_party_id": AUNT},
                        headers=world.collector.headers).get_json()
    assert check["allowed"] is False and check["party"] == "third_party"
    # another person may be asked once
    neighbour = _third_party_call(local(-2, 12, zone=NY), relation="neighbour", number="+1 212 555 0177")
    assert _post(client, world, neighbour).status_code == 201
    # the aunt calls back: she may be called again
    inbound = {**_third_party_call(local(-2, 15, zone=NY)), "direction": "inbound"}
    assert _post(client, world, inbound).status_code == 201
    assert _post(client, world, _third_party_call(local(-1, 11, zone=NY))).status_code == 201
    with app.extensions["fieldproof"].db.transaction() as session:
        keys = session.scalars(select(Contact.third_party_key).where(Contact.case_id == world.case["id"])).all()
    assert len(set(keys)) == 2 and all(k and "555" not in k for k in keys)   # a keyed hash, not the number
    # calls to third parties are not calls to the debtor: the debtor may still be called
    assert _post(client, world, {"channel": "call", "at": local(-1, 12, zone=NY).isoformat(),
                                 "outcome": "no_answer"}).status_code == 201


def test_a_third_party_contact_is_well_described_or_refused(client, factory):
    world = make_world(factory, jurisdiction="US-NY", addresses=NY_HOME, currency="USD")
    at = local(-1, 11, zone=NY)
    cases = [
        ({"relation": None}, "relation"),
        ({"outcome": "spoke_debtor"}, "outcome"),
    ]
    for change, field in cases:
        body = {k: v for k, v in {**_third_party_call(at), **change}.items() if v is not None}
        response = _post(client, world, body)
        assert response.status_code == 422 and field in response.get_json()["errors"], (change, response.get_json())
    debtor = {"channel": "call", "at": at.isoformat(), "outcome": "no_answer", "relation": "relative"}
    assert "relation" in _post(client, world, debtor).get_json()["errors"]
    # an e-mail to a third party in the US without naming them cannot be counted: refused
    mail = {"channel": "email", "at": at.isoformat(), "outcome": "sent", "party": "third_party",
            "relation": "employer", "text": "Please ask Jane Roe to call us. Reply STOP to opt out."}
    refused = _post(client, world, mail)
    assert refused.status_code == 422 and [v["rule"] for v in refused.get_json()["violations"]] == [
        "contact.third_party"]
    assert _post(client, world, {**mail, "third_party_id": "HR@Example.com"}).status_code == 201


def test_cn_third_parties_may_be_contacted_to_locate_the_debtor(client, factory):
    world = make_world(factory)
    for day in (-3, -2, -1):
        response = _post(client, world, _third_party_call(local(day, 10), number="+86 139 0000 1111"))
        assert response.status_code == 201, response.get_json()


def _issue(client, world, language="zh-CN"):
    response = client.post(f"/api/v1/cases/{world.case['id']}/notices", headers=world.supervisor.headers, json={
        "template": "overdue", "language": language, "mailed_at": local(-3, 9).isoformat(),
        "itemization": {"date": "2026-09-30", "amount": world.case["amount_overdue"]}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_returned_letter_marks_its_notice_returned_in_the_report(client, factory):
    world = make_world(factory)
    chinese, english = _issue(client, world), _issue(client, world, "en")
    letter = {"channel": "letter", "at": local(-1, 12).isoformat(), "outcome": "returned", "letter_method": "post",
              "tracking": "EMS1234567", "notice_id": chinese["id"]}
    stored = _post(client, world, letter)
    assert stored.status_code == 201 and stored.get_json()["notice_id"] == chinese["id"]
    # twice returned (a second attempt) is still one notice returned
    assert _post(client, world, {**letter, "at": local(-1, 13).isoformat()}).status_code == 201
    other = make_world(factory)
    foreign = _post(client, other, {**letter, "notice_id": english["id"]})
    assert foreign.status_code == 422 and "notice_id" in foreign.get_json()["errors"]
    by_call = _post(client, world, {"channel": "call", "at": local(-1, 14).isoformat(), "outcome": "no_answer",
                                    "notice_id": chinese["id"]})
    assert by_call.status_code == 422 and "notice_id" in by_call.get_json()["errors"]

    today = datetime.now(UTC).date()
    url = f"/api/v1/reports/contacts?from={(today - timedelta(days=5)).isoformat()}&to={today.isoformat()}"
    report = client.get(url, headers=world.supervisor.headers).get_json()
    notices = {(n["template"], n["language"]): n for n in report["notices"]}
    assert notices[("overdue", "zh-CN")] == {"template": "overdue", "language": "zh-CN", "issued": 1, "returned": 1}
    assert notices[("overdue", "en")]["issued"] == 1 and notices[("overdue", "en")]["returned"] == 0
    assert report["letters_returned"] == 2
    mine = client.get(url + f"&collector_id={other.collector.id}", headers=world.supervisor.headers).get_json()
    assert mine["notices"] == [] and mine["letters_returned"] == 0
    text = client.get(url, headers={**world.supervisor.headers, "Accept": "text/csv"}).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    notice_rows = {(r["template"], r["language"]): r for r in rows if r["channel"] == "notice"}
    assert notice_rows[("overdue", "zh-CN")]["notices_issued"] == "1"
    assert notice_rows[("overdue", "zh-CN")]["notices_returned"] == "1"
    assert {len(r) for r in rows} == {len(rows[0])} and None not in rows[0]   # one header for every row
