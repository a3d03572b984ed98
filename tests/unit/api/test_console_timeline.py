"""Timeline sentences, without app or database: every event type, both languages, local time and UTC."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from api.console.timeline import Clock, Facts, Language, VisitFacts, people_in, tell, tell_all

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SUP, COL, COL2, GONE = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                        "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444")
VISIT, PHOTO, COPY, PACKET, PROMISE = ("aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b",
                                       "cccccccc-0000-4000-8000-00000000000c", "dddddddd-0000-4000-8000-00000000000d",
                                       "eeeeeeee-0000-4000-8000-00000000000e")
EN, ZH = Language.load("en"), Language.load("zh_CN")


@dataclass
class Event:
    type: str
    details: dict = field(default_factory=dict)
    actor_id: str | None = SUP
    subject_id: str | None = None
    at: datetime = datetime(2026, 12, 8, 2, 5, tzinfo=UTC)


def links(kind, item_id):
    return f"/console/{kind}/{item_id}" if kind in ("visit", "evidence", "packet") else None


FACTS = Facts(people={SUP: "Zhou Supervisor", COL: "demo-collector", COL2: "demo-collector-2"},
              visits={VISIT: VisitFacts("Asia/Shanghai", "home")}, evidence={PHOTO: "photo", COPY: "photo"},
              zone="Asia/Shanghai", link=links)

SCHEDULED = Event("visit_scheduled", {
    "visit_id": VISIT, "address_kind": "home", "window_start": "2026-12-08T02:00:00Z",
    "window_end": "2026-12-08T03:00:00Z", "collector_id": COL, "second_collector_id": COL2}, subject_id=VISIT)

# Every type the packages record (cases, visits, evidence, legal_docs), and the two visit changes to come.
EVENTS = {
    "case_opened": Event("case_opened", {"reference": "SH-2026-0001", "jurisdiction": "CN"}),
    "case_updated": Event("case_updated", {"changed": ["assigned_collector_id", "debtor.phone", "status"]}),
    "visit_scheduled": SCHEDULED,
    "visit_checked_in": Event("visit_checked_in", {"visit_id": VISIT, "within_geofence": False, "distance_m": 212.4,
                                                   "outside_window": True, "impossible_travel": False},
                              actor_id=COL, subject_id=VISIT),
    "visit_checked_out": Event("visit_checked_out", {"visit_id": VISIT, "outcome": "promise_to_pay"},
                               actor_id=COL, subject_id=VISIT),
    "visit_cancelled": Event("visit_cancelled", {"visit_id": VISIT, "reason": "debtor in hospital",
                                                 "window_start": "2026-12-08T02:00:00Z",
                                                 "window_end": "2026-12-08T03:00:00Z"}, subject_id=VISIT),
    "visit_rescheduled": Event("visit_rescheduled", {
        "visit_id": VISIT, "reason": "rain", "window_start": "2026-12-09T06:00:00Z",
        "window_end": "2026-12-09T07:30:00Z", "previous_window_start": "2026-12-08T02:00:00Z",
        "previous_window_end": "2026-12-08T03:00:00Z"}, subject_id=VISIT),
    "promise_made": Event("promise_made", {"promise_id": PROMISE, "amount": "500.00", "currency": "CNY",
                                           "due_date": "2026-12-10"}, actor_id=COL, subject_id=VISIT),
    "promise_kept": Event("promise_kept", {"promise_id": PROMISE}, actor_id=COL, subject_id=VISIT),
    "promise_broken": Event("promise_broken", {"promise_id": PROMISE, "due_date": "2026-12-10"}, actor_id=None,
                            subject_id=VISIT),
    "evidence_sealed": Event("evidence_sealed", {"evidence_id": COPY, "kind": "photo", "media_type": "image/jpeg",
                                                 "size": 2048, "derived_from": PHOTO}, subject_id=COPY),
    "evidence_legal_hold_set": Event("evidence_legal_hold_set", {"evidence_id": PHOTO}, subject_id=PHOTO),
    "evidence_legal_hold_released": Event("evidence_legal_hold_released", {"evidence_id": PHOTO}, subject_id=PHOTO),
    "packet_requested": Event("packet_requested", {"packet_id": PACKET, "version": 2, "language": "zh-CN",
                                                   "consent_overrides": [PHOTO]}, subject_id=PACKET),
    "packet_built": Event("packet_built", {"packet_id": PACKET, "version": 2, "exhibits": 1, "pages": 12,
                                           "volumes": 1, "withheld": 2, "manifest_sha256": "ab" * 32},
                          subject_id=PACKET),
    "packet_failed": Event("packet_failed", {"packet_id": PACKET, "version": 3, "error": f"evidence {PHOTO} missing",
                                            "evidence_id": PHOTO}, subject_id=PACKET),
    "notice_issued": Event("notice_issued", {"notice_id": PACKET, "evidence_id": PHOTO, "kind": "validation",
                                             "language": "en", "mailing_date": "2026-11-20",
                                             "validation_end": "2026-12-30"}, subject_id=PACKET),
    "notice_issued_overdue": Event("notice_issued", {"notice_id": PACKET, "evidence_id": PHOTO, "kind": "overdue",
                                                     "language": "zh-CN", "mailing_date": "2026-12-07",
                                                     "respond_by": "2026-12-21"}, subject_id=PACKET),
}

EXPECTED_EN = {
    "case_opened": "Case SH-2026-0001 opened by Zhou Supervisor, jurisdiction CN.",
    "case_updated": "Case updated by Zhou Supervisor: assigned collector, debtor&#39;s phone, and status changed.",
    "visit_scheduled": f'<a href="/console/visit/{VISIT}">Visit</a> scheduled by Zhou Supervisor at the home address '
                       "for Dec 8, 2026 10:00–11:00 Asia/Shanghai (02:00–03:00 UTC), "
                       "collectors demo-collector and demo-collector-2.",
    "visit_checked_in": f'Check-in by demo-collector at the home address (<a href="/console/visit/{VISIT}">visit</a>), '
                        "outside the geofence, 212 m from the address. Outside the visit window.",
    "visit_checked_out": f'Check-out by demo-collector (<a href="/console/visit/{VISIT}">visit</a>): '
                         "the debtor promised to pay.",
    "visit_cancelled": f'<a href="/console/visit/{VISIT}">Visit</a> for Dec 8, 2026 10:00–11:00 Asia/Shanghai '
                       "(02:00–03:00 UTC) cancelled by Zhou Supervisor. Reason: debtor in hospital",
    "visit_rescheduled": f'<a href="/console/visit/{VISIT}">Visit</a> rescheduled by Zhou Supervisor from '
                         "Dec 8, 2026 10:00–11:00 Asia/Shanghai (02:00–03:00 UTC) to "
                         "Dec 9, 2026 14:00–15:30 Asia/Shanghai (06:00–07:30 UTC). Reason: rain",
    "promise_made": "Promise to pay CN¥500.00 by Dec 10, 2026, recorded by demo-collector. "
                    f'Made during a <a href="/console/visit/{VISIT}">visit</a>.',
    "promise_kept": "Payment recorded by demo-collector: the promise to pay CN¥500.00 by Dec 10, 2026 was kept.",
    "promise_broken": "No payment by the due date: the promise to pay CN¥500.00 by Dec 10, 2026 was broken.",
    "evidence_sealed": f'<a href="/console/evidence/{COPY}">Photo</a> sealed by Zhou Supervisor: a redacted copy of '
                       f'<a href="/console/evidence/{PHOTO}">Photo</a>. 2,048 bytes.',
    "evidence_legal_hold_set": f'Legal hold placed on <a href="/console/evidence/{PHOTO}">Photo</a> by Zhou Supervisor.',
    "evidence_legal_hold_released": f'Legal hold on <a href="/console/evidence/{PHOTO}">Photo</a> released by '
                                    "Zhou Supervisor.",
    "packet_requested": f'<a href="/console/packet/{PACKET}">Packet v2</a> requested by Zhou Supervisor, in '
                        "Chinese (Simplified, China). Consent overridden for 1 item.",
    "packet_built": f'<a href="/console/packet/{PACKET}">Packet v2</a> built: 1 exhibit, 12 pages, 1 volume, '
                    "and 2 items withheld.",
    "packet_failed": f'<a href="/console/packet/{PACKET}">Packet v3</a> could not be built: evidence … missing '
                     f'(<a href="/console/evidence/{PHOTO}">Photo</a>)',
    "notice_issued": f'<a href="/console/evidence/{PHOTO}">Validation notice</a> in English issued by Zhou Supervisor, '
                     "mailed Nov 20, 2026. The validation period ends Dec 30, 2026.",
    "notice_issued_overdue": f'<a href="/console/evidence/{PHOTO}">Overdue notice</a> in Chinese (Simplified, China) '
                             "issued by Zhou Supervisor, mailed Dec 7, 2026. Reply asked by Dec 21, 2026.",
}

EXPECTED_ZH = {
    "case_opened": "Zhou Supervisor 立案 SH-2026-0001，管辖地 CN。",
    "case_updated": "Zhou Supervisor 更新了案件：修改了负责催收员、债务人电话和状态。",
    "visit_scheduled": f'Zhou Supervisor 安排了<a href="/console/visit/{VISIT}">上门拜访</a>：住所地址，'
                       "2026年12月8日 10:00–11:00 Asia/Shanghai（UTC 02:00–03:00），催收员 demo-collector和demo-collector-2。",
    "visit_checked_in": f'demo-collector 在住所地址签到（<a href="/console/visit/{VISIT}">拜访</a>），'
                        "位于地理围栏外，距地址 212 米。不在拜访时段内。",
    "visit_checked_out": f'demo-collector 签退（<a href="/console/visit/{VISIT}">拜访</a>）：债务人承诺还款。',
    "visit_cancelled": f'Zhou Supervisor 取消了原定于 2026年12月8日 10:00–11:00 Asia/Shanghai（UTC 02:00–03:00） 的'
                       f'<a href="/console/visit/{VISIT}">上门拜访</a>。原因：debtor in hospital',
    "visit_rescheduled": f'Zhou Supervisor 将<a href="/console/visit/{VISIT}">上门拜访</a>从 '
                         "2026年12月8日 10:00–11:00 Asia/Shanghai（UTC 02:00–03:00） 改期至 "
                         "2026年12月9日 14:00–15:30 Asia/Shanghai（UTC 06:00–07:30）。原因：rain",
    "promise_made": "承诺于 2026年12月10日 前还款 ¥500.00，记录人：demo-collector。"
                    f'于一次<a href="/console/visit/{VISIT}">拜访</a>中作出。',
    "promise_kept": "demo-collector 登记了还款：于 2026年12月10日 前还款 ¥500.00 的承诺已履行。",
    "promise_broken": "到期未还款：于 2026年12月10日 前还款 ¥500.00 的承诺已违约。",
    "evidence_sealed": f'Zhou Supervisor 封存了<a href="/console/evidence/{COPY}">照片</a>：'
                       f'<a href="/console/evidence/{PHOTO}">照片</a>的脱敏副本。2,048 字节。',
    "evidence_legal_hold_set": f'Zhou Supervisor 对<a href="/console/evidence/{PHOTO}">照片</a>设置了法律保全。',
    "evidence_legal_hold_released": f'Zhou Supervisor 解除了<a href="/console/evidence/{PHOTO}">照片</a>的法律保全。',
    "packet_requested": f'Zhou Supervisor 申请生成<a href="/console/packet/{PACKET}">材料包 v2</a>，'
                        "语言：中文 (简体, 中国)。1 项证据的同意要求被豁免。",
    "packet_built": f'<a href="/console/packet/{PACKET}">材料包 v2</a>已生成：1 件证物、12 页、1 卷和2 项未收录。',
    "packet_failed": f'<a href="/console/packet/{PACKET}">材料包 v3</a>生成失败：evidence … missing '
                     f'（<a href="/console/evidence/{PHOTO}">照片</a>）',
    "notice_issued": f'Zhou Supervisor 发出了英语<a href="/console/evidence/{PHOTO}">债务确认通知</a>，'
                     "寄出日期 2026年11月20日。债务确认期于 2026年12月30日 届满。",
    "notice_issued_overdue": f'Zhou Supervisor 发出了中文 (简体, 中国)<a href="/console/evidence/{PHOTO}">逾期欠款通知</a>，'
                             "寄出日期 2026年12月7日。要求于 2026年12月21日 前答复。",
}


def sentence_of(name, language):
    # promise_kept and promise_broken name the promise as promise_made described it on the same page
    entries = tell_all([EVENTS["promise_made"], EVENTS[name]], FACTS, language)
    return str(entries[-1].sentence)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_event_type_reads_as_an_english_sentence(name):
    assert sentence_of(name, EN) == EXPECTED_EN[name]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_event_type_reads_as_a_chinese_sentence(name):
    assert sentence_of(name, ZH) == EXPECTED_ZH[name]


@pytest.mark.parametrize("name", sorted(EVENTS))
@pytest.mark.parametrize("language", [EN, ZH], ids=["en", "zh"])
def test_no_ids_and_no_none_in_any_sentence(name, language):
    text = re.sub(r'href="[^"]*"', "", sentence_of(name, language))
    assert not UUID.search(text) and "None" not in text


def test_the_event_time_is_the_addresss_local_time_then_utc():
    entry = tell(EVENTS["visit_checked_in"], FACTS, EN)
    assert (entry.local, entry.utc) == ("Dec 8, 2026 10:05 Asia/Shanghai", "02:05 UTC")
    late = tell(Event("visit_checked_in", EVENTS["visit_checked_in"].details, subject_id=VISIT,
                      at=datetime(2026, 12, 8, 17, 30, tzinfo=UTC)), FACTS, ZH)
    # 01:30 the next morning in Shanghai: the UTC side keeps its own day
    assert (late.local, late.utc) == ("2026年12月9日 01:30 Asia/Shanghai", "2026年12月8日 17:30 UTC")


def test_a_half_hour_zone_shows_its_own_local_time():
    facts = Facts(people=FACTS.people, visits={VISIT: VisitFacts("Asia/Kolkata", "workplace")}, link=links)
    event = Event("visit_scheduled", {**SCHEDULED.details, "address_kind": "workplace",
                                      "window_start": "2026-12-08T04:30:00Z", "window_end": "2026-12-08T05:15:00Z"},
                  subject_id=VISIT)
    assert "at the workplace address for Dec 8, 2026 10:00–10:45 Asia/Kolkata (04:30–05:15 UTC)" in \
        str(tell(event, facts, EN).sentence)


def test_a_daylight_saving_zone_uses_the_offset_of_the_day():
    clock = Clock(EN)
    summer = clock.window("2026-07-01T14:00:00Z", "2026-07-01T15:00:00Z", "America/New_York")
    winter = clock.window("2026-12-01T15:00:00Z", "2026-12-01T16:00:00Z", "America/New_York")
    assert summer == "Jul 1, 2026 10:00–11:00 America/New_York (14:00–15:00 UTC)"
    assert winter == "Dec 1, 2026 10:00–11:00 America/New_York (15:00–16:00 UTC)"
    # a window across local midnight names both days; the UTC side names its day when it differs
    night = clock.window("2026-12-08T15:30:00Z", "2026-12-08T16:30:00Z", "Asia/Shanghai")
    assert night == "Dec 8, 2026 23:30 – Dec 9, 2026 00:30 Asia/Shanghai (15:30–16:30 UTC)"


def test_an_unknown_type_reads_as_a_generic_sentence():
    event = Event("visit.inspected", {"visit_id": VISIT, "inspector_id": COL, "derived_from": None, "locked": True,
                                      "note": f"see {PHOTO}", "minutes": 1200, "extra": {"a": 1}}, subject_id=VISIT)
    assert str(tell(event, FACTS, EN).sentence) == \
        "Visit inspected, recorded by Zhou Supervisor. locked: yes; minutes: 1,200."
    assert str(tell(event, FACTS, ZH).sentence) == "Visit inspected，记录人：Zhou Supervisor。locked: 是; minutes: 1,200."


def test_the_generic_sentence_never_shows_identity_or_account_numbers():
    event = Event("debtor.contacted", {"debtor_phone": "+8613800138000", "national_id": "110101198501011234",
                                       "card_number": "6222020000001234", "account": "6222", "channel": "sms"})
    assert str(tell(event, FACTS, EN).sentence) == "Debtor contacted, recorded by Zhou Supervisor. channel: sms."


def test_details_of_an_unexpected_shape_fall_back_to_the_generic_sentence():
    event = Event("case_updated", {"changed": 5})
    assert str(tell(event, FACTS, EN).sentence) == "Case updated, recorded by Zhou Supervisor. changed: 5."


def test_missing_people_and_the_system_are_named_in_words():
    gone = Event("visit_scheduled", {**SCHEDULED.details, "collector_id": GONE, "second_collector_id": None},
                 actor_id=GONE, subject_id=VISIT)
    assert "scheduled by a former user at the home address" in str(tell(gone, FACTS, EN).sentence)
    assert ", collector a former user." in str(tell(gone, FACTS, EN).sentence)
    assert "已不存在的用户 安排了" in str(tell(gone, FACTS, ZH).sentence)
    kept = Event("promise_kept", {"promise_id": PROMISE}, actor_id=None)
    assert str(tell(kept, FACTS, EN).sentence) == "Payment recorded by the system: a promise to pay was kept."


def test_items_the_reader_cannot_open_are_plain_words():
    facts = Facts(people=FACTS.people, zone="Asia/Shanghai")
    sentence = str(tell(EVENTS["packet_built"], facts, EN).sentence)
    assert sentence.startswith("Packet v2 built:") and "<a" not in sentence


def test_names_are_escaped():
    facts = Facts(people={SUP: "<script>x</script>"}, zone="Asia/Shanghai")
    assert "<script>" not in str(tell(EVENTS["case_opened"], facts, EN).sentence)


def test_without_a_known_zone_the_time_is_utc_only():
    entry = tell(EVENTS["case_opened"], Facts(people=FACTS.people), EN)
    assert (entry.local, entry.utc) == ("Dec 8, 2026 02:05 UTC", "")


def test_people_in_collects_actors_and_collectors_for_one_lookup():
    assert people_in(EVENTS.values()) == {SUP, COL, COL2}
