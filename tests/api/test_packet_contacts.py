"""A packet built after calls, letters and a visit shows every contact in its chronology, in date order, with
local and UTC times, in both languages."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pypdf
import pytest

from tests.api.test_packets import build, upload
from tests.evidence_corpus import SHANGHAI


def _day(days_ago: int, hour: int) -> datetime:
    day = datetime.now(SHANGHAI).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)


def _chronology(text: str, heading: str, next_heading: str) -> str:
    start = text.index(heading, text.index(heading) + 1) if text.count(heading) > 1 else text.index(heading)
    return text[start:text.index(next_heading, start)]


@pytest.mark.parametrize("language, heading, next_heading, words", [
    ("en", "Chronology of collection efforts", "Exhibit index",
     ["Letter sent: delivered", "Call to the debtor: spoke to the debtor", "SMS sent: delivered"]),
    ("zh-CN", "催收经过", "证据目录", ["寄送信函：已送达", "致电债务人：与债务人通话", "发送短信：已送达"]),
])
def test_the_chronology_holds_every_contact_in_date_order(client, app, world, language, heading, next_heading,
                                                          words):
    upload(client, world, minutes_ago=5)
    contacts = [
        {"channel": "letter", "at": _day(3, 10).isoformat(), "outcome": "delivered", "letter_method": "post",
         "template": "overdue", "tracking": "EMS0001"},
        {"channel": "call", "at": _day(2, 21).isoformat(), "outcome": "spoke_debtor", "duration_s": 120},
        {"channel": "sms", "at": _day(1, 9).isoformat(), "outcome": "delivered", "template": "reminder",
         "text": "请尽快还款。退订回复TD"},
    ]
    for body in contacts:
        response = client.post(f"/api/v1/cases/{world.case['id']}/contacts", json=body,
                               headers=world.collector.headers)
        assert response.status_code == 201, response.get_json()
    packet = build(client, app, world, language=language)
    assert packet["status"] == "ready", packet.get("error")
    pdf = client.get(f"/api/v1/packets/{packet['id']}/pdf", headers=world.legal.headers).data
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    chronology = _chronology(text, heading, next_heading)
    # table cells wrap: compare without the line breaks and spaces text extraction puts in
    squeezed = "".join(chronology.split())
    positions = [squeezed.find("".join(w.split())) for w in words]
    assert -1 not in positions and positions == sorted(positions), (positions, squeezed)
    # the call at 21:00 Shanghai time is 13:00 UTC: both are shown
    call_utc = _day(2, 21).astimezone(UTC)
    assert f"{call_utc:%H:%M}" in chronology and "21:00" in chronology and "Asia/Shanghai" in chronology
