"""Contact and plan events read as sentences in both languages, at the debtor's local time beside UTC."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from api.console.timeline import Facts, Language, tell

SUP, COL = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
CONTACT = "ffffffff-0000-4000-8000-00000000000f"
EN, ZH = Language.load("en"), Language.load("zh_CN")
FACTS = Facts(people={SUP: "Zhou Supervisor", COL: "Zhang San"}, zone="Asia/Shanghai")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Event:
    type: str
    details: dict = field(default_factory=dict)
    actor_id: str | None = COL
    subject_id: str | None = CONTACT
    at: datetime = datetime(2026, 12, 8, 2, 5, tzinfo=UTC)


def contact(**details):
    return Event("contact_recorded", {"contact_id": CONTACT, "direction": "outbound",
                                      "at": "2026-12-08T02:05:00Z", "time_zone": "Asia/Shanghai", **details})


EVENTS = {
    "call": contact(channel="call", outcome="spoke_debtor", duration_s=95, text_sha256="ab" * 32),
    "call_in": contact(channel="call", direction="inbound", outcome="spoke_debtor"),
    "sms": contact(channel="sms", outcome="delivered", template="reminder_1"),
    "sms_stop": contact(channel="sms", direction="inbound", outcome="delivered", opt_out=True),
    "letter": contact(channel="letter", outcome="returned", letter_method="post", tracking="EMS1234"),
    "plan": Event("plan_edited", {"actions": []}, actor_id=SUP, subject_id=None),
}
EXPECTED = {
    "call": ("Call to the debtor by Zhang San: spoke to the debtor. 95 seconds. Text sealed, SHA-256 abababababababab…",
             "Zhang San 致电债务人：与债务人通话。95 秒。文本已封存，SHA-256 abababababababab…"),
    "call_in": ("Call from the debtor, taken by Zhang San: spoke to the debtor.",
                "债务人来电，接听人：Zhang San：与债务人通话。"),
    "sms": ("SMS sent by Zhang San: delivered. Template: reminder_1.", "Zhang San 发送了短信：已送达。模板：reminder_1。"),
    "sms_stop": ("SMS from the debtor, recorded by Zhang San. The debtor opted out of this channel.",
                 "债务人发来短信，记录人：Zhang San。债务人已退订此渠道。"),
    "letter": ("Letter sent by post by Zhang San: returned to sender. Tracking: EMS1234.",
               "Zhang San 以邮寄方式寄送信函：已退回。运单号：EMS1234。"),
    "plan": ("Case plan edited by Zhou Supervisor.", "Zhou Supervisor 修改了案件计划。"),
}


@pytest.mark.parametrize("name", sorted(EVENTS))
@pytest.mark.parametrize("index, language", [(0, EN), (1, ZH)], ids=["en", "zh"])
def test_contacts_read_as_sentences(name, index, language):
    sentence = str(tell(EVENTS[name], FACTS, language).sentence)
    assert sentence == EXPECTED[name][index]
    assert not UUID.search(sentence)


def test_a_contact_is_timed_in_the_debtors_zone_with_utc_beside_it():
    facts = Facts(people=FACTS.people, zone=None)  # the page knows no zone: the contact's own decides
    entry = tell(contact(channel="call", outcome="no_answer", time_zone="America/New_York"), facts, EN)
    assert entry.local == "Dec 7, 2026 21:05 America/New_York" and entry.utc == "Dec 8, 2026 02:05 UTC"
