"""Written notices over HTTP: issue, the same notice once, sealing and custody, the timeline, roles
and visibility, the PDF download, and a packet that includes a notice exhibit verified offline."""
from __future__ import annotations

import hashlib
import io
import threading

import pypdf
import pytest
from sqlalchemy import func, select

from custody.models import CustodyEvent
from evidence.models import EvidenceItem
from legal_docs.models import Notice
from legal_docs.verify_bundle import verify_bundle

US_CASE = {
    "jurisdiction": "US-CA", "currency": "USD", "amount_overdue": "1200.50",
    "debtor": {"name": "Jane Roe", "phone": "+1 916 555 0199"},
    "addresses": [{"kind": "home", "line": "2 Oak Avenue", "city": "Sacramento", "region": "CA", "country": "US",
                   "lat": 38.5816, "lon": -121.4944}],
}
ITEMIZATION = {"date": "2026-09-30", "amount": "1200.00", "interest": "15.50", "fees": "25.00", "payments": "40.00"}


@pytest.fixture
def us_case(factory, world):
    return factory.case(collector=world.collector, supervisor=world.supervisor, **US_CASE)


def issue(client, user, case_id, **body):
    body = {"template": "validation", "language": "en", "itemization": ITEMIZATION, **body}
    return client.post(f"/api/v1/cases/{case_id}/notices", headers=user.headers, json=body)


def _text(data: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_validation_notice_is_issued_sealed_in_the_ledger_and_on_the_timeline(client, app, world, us_case):
    response = issue(client, world.supervisor, us_case["id"], mailed_at="2026-11-20T16:00:00-08:00",
                     itemization=ITEMIZATION)
    assert response.status_code == 201, response.get_json()
    notice = response.get_json()
    assert notice["template"] == "validation" and notice["language"] == "en"
    assert notice["mailing_date"] == "2026-11-20"            # the date in the offset it was given
    assert notice["assumed_receipt"] == "2026-11-30"         # Thanksgiving and a weekend skipped
    assert notice["validation_end"] == "2026-12-30"
    assert notice["itemization"]["total"] == "1200.50"

    pdf = client.get(f"/api/v1/notices/{notice['id']}/pdf", headers=world.collector.headers)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == notice["sha256"] and len(pdf.data) == notice["size"]
    text = _text(pdf.data)
    assert "December 30, 2026" in text and "1,200.50" in text and "September 30, 2026" in text

    item = client.get(f"/api/v1/evidence/{notice['evidence_id']}", headers=world.legal.headers).get_json()
    assert item["kind"] == "document" and item["status"] == "sealed" and item["sha256"] == notice["sha256"]
    assert item["media_type"] == "application/pdf" and item["visit_id"] is None
    custody = client.get(f"/api/v1/evidence/{notice['evidence_id']}/custody", headers=world.legal.headers).get_json()
    assert [e["type"] for e in custody] == ["created", "sealed", "downloaded"]
    assert all(e["ledger_index"] is not None or e.get("ledger_status") == "pending" for e in custody)
    assert custody[0]["details"]["notice_id"] == notice["id"]

    timeline = client.get(f"/api/v1/cases/{us_case['id']}/timeline?page_size=100",
                          headers=world.legal.headers).get_json()
    issued = [e for e in timeline if e["type"] == "notice_issued"]
    assert len(issued) == 1
    assert issued[0]["details"] == {"notice_id": notice["id"], "evidence_id": notice["evidence_id"],
                                    "kind": "validation", "language": "en", "mailing_date": "2026-11-20",
                                    "validation_end": "2026-12-30"}


def test_issuing_the_same_notice_again_returns_the_first(client, app, world, us_case):
    first = issue(client, world.supervisor, us_case["id"], mailed_at="2026-11-20T09:00:00-08:00")
    assert first.status_code == 201
    again = issue(client, world.legal, us_case["id"], mailed_at="2026-11-20T15:30:00-08:00")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    other_day = issue(client, world.supervisor, us_case["id"], mailed_at="2026-11-23T09:00:00-08:00")
    assert other_day.status_code == 201 and other_day.get_json()["id"] != first.get_json()["id"]
    chinese = issue(client, world.supervisor, us_case["id"], mailed_at="2026-11-20T09:00:00-08:00",
                    language="zh-CN")
    assert chinese.status_code == 201 and chinese.get_json()["sha256"] != first.get_json()["sha256"]
    with app.extensions["fieldproof"].db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 3
        assert session.scalar(select(func.count()).select_from(EvidenceItem)
                              .where(EvidenceItem.sha256 == first.get_json()["sha256"])) == 1
        assert session.scalar(select(func.count()).select_from(CustodyEvent)
                              .where(CustodyEvent.evidence_id == first.get_json()["evidence_id"])) == 2
    listed = client.get(f"/api/v1/cases/{us_case['id']}/notices", headers=world.collector.headers)
    assert listed.status_code == 200 and [n["id"] for n in listed.get_json()] == \
        [first.get_json()["id"], other_day.get_json()["id"], chinese.get_json()["id"]]
    later = client.get(f"/api/v1/cases/{us_case['id']}/notices",
                       query_string={"updated_since": chinese.get_json()["issued_at"]}, headers=world.collector.headers)
    assert [n["id"] for n in later.get_json()] == [chinese.get_json()["id"]]


def test_cn_case_gets_the_collection_letter_and_no_validation_notice(client, world):
    case_id = world.case["id"]
    refused = issue(client, world.supervisor, case_id, itemization={"date": "2026-09-30", "amount": "12345.67"})
    assert refused.status_code == 422 and "template" in refused.get_json()["errors"]
    response = issue(client, world.supervisor, case_id, template="overdue", language="zh-CN",
                     mailed_at="2026-12-07T10:00:00+08:00", itemization={"date": "2026-09-30", "amount": "12345.67"})
    assert response.status_code == 201, response.get_json()
    notice = response.get_json()
    assert notice["validation_end"] is None and notice["respond_by"] == "2026-12-21"
    text = _text(client.get(f"/api/v1/notices/{notice['id']}/pdf", headers=world.legal.headers).data)
    assert "催收通知函" in text and "12,345.67" in text and "2026年12月21日" in text


def test_itemization_must_add_up_to_the_amount_owed(client, app, world, us_case):
    wrong = issue(client, world.supervisor, us_case["id"], itemization={**ITEMIZATION, "fees": "26.00"})
    assert wrong.status_code == 422 and "itemization" in wrong.get_json()["errors"]
    late = issue(client, world.supervisor, us_case["id"], mailed_at="2026-09-01T09:00:00-07:00",
                 itemization=ITEMIZATION)
    assert late.status_code == 422
    with app.extensions["fieldproof"].db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 0
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == 0


def test_roles_and_visibility(client, world, us_case, factory):
    for role in ("collector", "auditor", "admin"):
        assert issue(client, factory.user(role), us_case["id"]).status_code == 403
    notice = issue(client, world.legal, us_case["id"]).get_json()
    assert client.get(f"/api/v1/notices/{notice['id']}", headers=world.collector.headers).status_code == 200
    stranger = factory.user("collector")
    assert client.get(f"/api/v1/notices/{notice['id']}", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/notices/{notice['id']}/pdf", headers=stranger.headers).status_code == 404
    assert client.get(f"/api/v1/cases/{us_case['id']}/notices", headers=stranger.headers).status_code == 404
    assert issue(client, world.supervisor, "no-such-case").status_code == 404
    assert client.get("/api/v1/notices/no-such-notice", headers=world.supervisor.headers).status_code == 404
    # the PDF is also the evidence item's content, for whoever may read the case's evidence
    content = client.get(f"/api/v1/evidence/{notice['evidence_id']}/content", headers=world.collector.headers)
    assert content.status_code == 200 and hashlib.sha256(content.data).hexdigest() == notice["sha256"]
    assert client.get(f"/api/v1/evidence/{notice['evidence_id']}/content", headers=stranger.headers).status_code == 404


def test_an_idempotency_key_replays_the_first_answer(client, world, us_case):
    headers = {**world.supervisor.headers, "Idempotency-Key": "notice-1"}
    body = {"template": "validation", "language": "en", "itemization": ITEMIZATION}
    first = client.post(f"/api/v1/cases/{us_case['id']}/notices", headers=headers, json=body)
    replay = client.post(f"/api/v1/cases/{us_case['id']}/notices", headers=headers, json=body)
    assert (first.status_code, replay.status_code) == (201, 201) and first.get_json() == replay.get_json()
    other = client.post(f"/api/v1/cases/{us_case['id']}/notices", headers=headers, json={**body, "language": "zh-CN"})
    assert other.status_code == 409


PACKET_WORDS = {
    "en": ["Written notice issued by the organisation",
           "Validation notice mailed, in English; the validation period ends 2026-12-30"],
    "zh-CN": ["本机构发出的书面通知", "寄出债务确认通知（英文）；债务确认期于2026-12-30届满"],
}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_packet_includes_the_notice_as_an_exhibit_and_verifies_offline(client, app, world, us_case, tmp_path,
                                                                         language):
    notice = issue(client, world.legal, us_case["id"], itemization=ITEMIZATION,
                   mailed_at="2026-11-20T09:00:00-08:00").get_json()
    accepted = client.post(f"/api/v1/cases/{us_case['id']}/packets", headers=world.legal.headers,
                           json={"language": language, "evidence_ids": [notice["evidence_id"]]})
    assert accepted.status_code == 202, accepted.get_json()
    assert app.extensions["fieldproof"].jobs.wait_idle(120)
    packet = client.get(f"/api/v1/packets/{accepted.get_json()['id']}", headers=world.legal.headers).get_json()
    assert packet["status"] == "ready", packet.get("error")
    assert [(e["evidence_id"], e["sha256"]) for e in packet["exhibits"]] == [(notice["evidence_id"], notice["sha256"])]
    bundle = client.get(f"/api/v1/packets/{packet['id']}/bundle", headers=world.legal.headers)
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.data)
    report = verify_bundle(path)
    assert report.ok, report.failures
    assert report.exhibits == 1
    pdf = client.get(f"/api/v1/packets/{packet['id']}/pdf", headers=world.legal.headers)
    flat = " ".join(_text(pdf.data).split())
    assert notice["sha256"] in flat and "at the ," not in flat
    # the exhibit is captioned as an issued notice; the chronology holds it, mailed at 17:00 UTC
    for words in PACKET_WORDS[language]:   # text extraction puts spaces between scripts: compare without
        assert words.replace(" ", "") in flat.replace(" ", ""), words
    assert "2026-11-20 17:00:00 UTC" in flat


def test_the_same_notice_issued_twice_at_once_is_one_notice(app, world, us_case):
    """Two issues racing: the case row's lock makes the second find the first's notice."""
    barrier, answers = threading.Barrier(2), []

    def send(user):
        with app.test_client() as client:
            barrier.wait(timeout=30)
            answers.append(issue(client, user, us_case["id"], mailed_at="2026-11-20T09:00:00-08:00"))

    threads = [threading.Thread(target=send, args=(user,)) for user in (world.supervisor, world.legal)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.get_json() for a in answers]
    assert answers[0].get_json() == answers[1].get_json()
    with app.extensions["fieldproof"].db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 1
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == 1


def test_without_an_itemization_the_case_amount_is_itemized_at_its_creation_date(client, world, us_case):
    response = issue(client, world.supervisor, us_case["id"], itemization=None)
    assert response.status_code == 422   # null is not an itemization
    response = client.post(f"/api/v1/cases/{us_case['id']}/notices", headers=world.supervisor.headers,
                           json={"template": "validation", "language": "en"})
    assert response.status_code == 201, response.get_json()
    notice = response.get_json()
    assert notice["itemization"] == {"date": us_case["created_at"][:10], "amount": "1200.50", "interest": "0.00",
                                     "fees": "0.00", "payments": "0.00", "total": "1200.50"}
