"""The demo's story: a day in the field, told through the product's own services.

Two debtors in the demo city whose local time is deepest inside lawful visiting hours right now.
Each gets a home visit whose window holds the present moment; one collector checks in at the
door, the other 450 m away (outside the geofence: flagged). Each takes a photo made here (Pillow,
EXIF time and GPS) and writes a note, both signed by a registered demo phone, uploaded and sealed
through `evidence.services` like an upload from the API. One debtor pays at the door, keeping a
promise made on a call four days ago; the other's promise from twelve days ago fell due five days
ago and is broken (the sweep marks it, as the reports would), and they promise again. A supervisor
redacts a bystander from a photo; the first debtor was sent a written notice (the US validation
notice, else the overdue notice) twenty days ago, which legal's packet of that case, built in
English and in Chinese, holds as an exhibit and in its chronology;
an auditor verifies the case, and the ledger signs a checkpoint over all of it.

Time is used honestly: no service is given a clock other than the real one. Scheduling refuses
windows that have ended and check-ins are judged against the moment the visit was scheduled, so
the visits happen now, in a window around the present, at an address where now is lawful (with
four cities on three continents one always is). Only the two promises lie in the past: a promise
is recorded with the moment it was made (`make_promise(made_at=...)`), as a call logged after it
was made would be. The packets and the verification run here, through the same job functions the
job runner would call, so the story is complete when the command returns.
"""
from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw, ExifTags
from sqlalchemy import select

from accounts.models import User
from accounts.services import register_device
from cases.models import Case
from cases.promises import make_promise, sweep_broken_promises
from cases.services import create_case
from core.actor import Actor
from core.clock import utcnow
from core.jobs import run_job
from core.runtime import Runtime
from contacts.services import record_contact
from custody.checkpoints import issue_checkpoint
from custody.verification import request_verification
from evidence.services import add_note, ingest_evidence, redact_evidence, spool_upload
from evidence.signatures import signed_payload
from legal_docs.assembly import request_packet
from jurisdictions.localtime import zone_at
from jurisdictions.organisation import organisation_profile
from legal_docs.notices import issue_notice
from visits.services import check_in, check_out, schedule_visit

STORY_REFERENCES = ("DEMO-0021", "DEMO-0022")
PHONE = "Demo phone"
# Per city: two more homes for the story's debtors (name, line, lat, lon).
STORY_HOMES = {
    "Shanghai": [("孙悦", "500 Fuxing Middle Road, Huangpu", 31.2145, 121.4690),
                 ("马超", "1200 Changle Road, Xuhui", 31.2199, 121.4437)],
    "Beijing": [("高洁", "20 Gulou East Street, Dongcheng", 39.9398, 116.4002),
                ("林涛", "3 Xinjiekou South Street, Xicheng", 39.9402, 116.3690)],
    "New York": [("Taylor Reed", "120 West 86th Street, Manhattan", 40.7869, -73.9745),
                 ("Jamie Ortiz", "45 Prospect Park West, Brooklyn", 40.6707, -73.9702)],
    "Mumbai": [("Ishaan Rao", "14 Carter Road, Bandra West", 19.0652, 72.8222),
               ("Meera Nair", "3 Pali Hill, Bandra West", 19.0680, 72.8265)],
}
# What the collectors write, in the language of the place (the packets quote it).
WORDS = {
    "en": {
        "paid_note": "Debtor at home; paid the promised instalment in cash against a receipt. "
                     "A neighbour was present at the door.",
        "paid_summary": "Instalment paid at the door; promise kept.",
        "promise_note": "Checked in from the street corner: the building's gate was locked. The debtor came "
                        "down, said the earlier promise was missed after a job loss, and promised again.",
        "promise_summary": "Missed the last promise; promised a smaller amount.",
        "call_summary": "Debtor answered; agreed to pay 2,000 within the week.",
        "reminder": "Your instalment is overdue. Please pay or call us back. Reply STOP to opt out.",
    },
    "zh": {
        "paid_note": "债务人在家，以现金支付了承诺的分期款并收到收据。一位邻居在门口在场。",
        "paid_summary": "在门口支付了分期款；承诺已履行。",
        "promise_note": "大楼门禁锁着，在街角签到。债务人下楼说明因失业未能履行上次承诺，并再次承诺还款。",
        "promise_summary": "上次承诺未履行；承诺偿还较少金额。",
        "call_summary": "债务人接听电话，同意一周内还款 2000 元。",
        "reminder": "您的分期款已逾期，请尽快还款或回电。退订回复TD",
    },
}
# Four hundred and fifty metres north of the door: outside any sensible geofence.
AWAY_DEGREES = 0.0045


@dataclass(frozen=True)
class _Lawful:
    city: str
    margin: timedelta
    window_start: datetime
    window_end: datetime


class _Deferred:
    """A job runner that keeps what it is given; the story runs the jobs itself once committed."""

    def __init__(self):
        self.jobs: list[tuple[str, dict]] = []

    def submit(self, name: str, payload: dict) -> None:
        self.jobs.append((name, dict(payload)))


def _lawful_city(wiring: Runtime, places, now: datetime) -> _Lawful | None:
    """The story city where now lies deepest inside the jurisdiction's lawful hours, with a
    window of up to half an hour either side of now that stays inside them."""
    best = None
    for city, jurisdiction, *_rest in places:
        _name, _line, lat, lon = STORY_HOMES[city][0]
        hours = organisation_profile(jurisdiction, wiring.settings.rule_overrides).hours
        zone = zone_at(lat, lon)
        local = now.astimezone(zone)
        opens = datetime.combine(local.date(), hours.start, tzinfo=zone)
        closes = datetime.combine(local.date(), hours.end, tzinfo=zone) if hours.end != time(0) else \
            datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        margin = min(local - opens, closes - local)
        if best is None or margin > best.margin:
            start = max(now - timedelta(minutes=30), opens.astimezone(UTC)).replace(second=0, microsecond=0)
            if start < opens:
                start += timedelta(minutes=1)
            end = min(now + timedelta(minutes=30), closes.astimezone(UTC)).replace(second=0, microsecond=0)
            best = _Lawful(city, margin, start, end)
    return best if best is not None and best.margin >= timedelta(minutes=5) else None


def _user(session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    return Actor(id=user.id, role=user.role, username=user.username)


def _photo(moment: datetime, lat: float, lon: float, *, colour: tuple[int, int, int]) -> bytes:
    """A drawn doorway (with a bystander to redact), EXIF time with its offset and GPS."""
    image = Image.new("RGB", (640, 480), (168, 200, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 120, 580, 480), fill=colour)                # the building
    draw.rectangle((260, 250, 380, 480), fill=(90, 60, 40))          # the door
    draw.rectangle((110, 170, 210, 250), fill=(220, 235, 250))       # windows
    draw.rectangle((430, 170, 530, 250), fill=(220, 235, 250))
    draw.rectangle((395, 265, 455, 295), fill=(30, 60, 140))         # the number plate
    draw.ellipse((480, 300, 540, 360), fill=(235, 190, 160))         # a bystander's face
    draw.rectangle((475, 360, 545, 480), fill=(60, 110, 70))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "FieldProof"
    exif[ExifTags.Base.Model] = "Demo phone"
    exif[ExifTags.Base.Orientation] = 1
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = moment.strftime("%Y:%m:%d %H:%M:%S")
    offset = moment.strftime("%z")
    details[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({
        ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S", ExifTags.GPS.GPSLatitude: _dms(abs(lat)),
        ExifTags.GPS.GPSLongitudeRef: "E" if lon >= 0 else "W", ExifTags.GPS.GPSLongitude: _dms(abs(lon)),
    })
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    hundredths = round(value * 360_000)
    degrees, rest = divmod(hundredths, 360_000)
    minutes, rest = divmod(rest, 6_000)
    return float(degrees), float(minutes), rest / 100


class _Phone:
    """A collector's demo phone: an Ed25519 key registered through the device service, signing
    captures as the collector's app does ({sha256, captured_at, lat, lon, visit_id}, RFC 8785)."""

    def __init__(self, session, collector: Actor):
        self.collector = collector
        self.key = Ed25519PrivateKey.generate()
        public = base64.b64encode(self.key.public_key().public_bytes_raw()).decode("ascii")
        self.device_id = register_device(session, collector, label=PHONE, public_key=public).id

    def sign(self, sha256: str, captured_at: str, lat: float, lon: float, visit_id: str) -> str:
        payload = signed_payload(sha256=sha256, captured_at=captured_at, lat=lat, lon=lon, visit_id=visit_id)
        return base64.b64encode(self.key.sign(payload)).decode("ascii")


def _capture_photo(session, wiring: Runtime, phone: _Phone, visit, zone, lat: float, lon: float,
                   colour: tuple[int, int, int]):
    """A photo taken now where the collector stands, uploaded like the API's streamed upload."""
    moment = utcnow().astimezone(zone).replace(microsecond=0)
    data = _photo(moment, lat, lon, colour=colour)
    text = moment.isoformat()
    sha256 = hashlib.sha256(data).hexdigest()
    capture = {"visit_id": visit.id, "kind": "photo", "sha256": sha256, "captured_at": moment,
               "captured_at_text": text, "lat": lat, "lon": lon, "accuracy_m": 8.0,
               "consent": {"subject": "granted", "third_parties_present": True},
               "device_id": phone.device_id, "device_signature": phone.sign(sha256, text, lat, lon, visit.id)}
    with spool_upload(wiring, [data]) as spooled:
        return ingest_evidence(session, phone.collector, wiring, capture, spooled)


def _write_note(session, wiring: Runtime, phone: _Phone, visit, zone, lat: float, lon: float, text: str):
    moment = utcnow().astimezone(zone)
    at_text = moment.isoformat()
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return add_note(session, phone.collector, wiring, visit.id, {
        "text": text, "at": moment, "at_text": at_text, "lat": lat, "lon": lon, "accuracy_m": 8.0,
        "device_id": phone.device_id, "device_signature": phone.sign(sha256, at_text, lat, lon, visit.id)})


def _due_end(due, zone) -> datetime:
    """A promise is due until the end of its local day (as check-out computes it)."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def _contacts(session, wiring: Runtime, lawful: _Lawful, paying, promising, words) -> None:
    """The calls, letter and SMS behind the promises: at the visit window's local hour on earlier days, so
    lawful wherever the window is (the hours of calls are those of visits in every profile)."""
    (paid_case, first), (promised_case, second) = paying, promising
    for case, collector, body in (
        (promised_case, second, {"channel": "letter", "at": lawful.window_start - timedelta(days=20),
                                 "outcome": "delivered", "letter_method": "post", "template": "overdue_notice",
                                 "tracking": "EMS1029384756CN"}),
        (paid_case, first, {"channel": "call", "at": lawful.window_start - timedelta(days=5),
                            "outcome": "no_answer", "duration_s": 35}),
        (paid_case, first, {"channel": "call", "at": lawful.window_start - timedelta(days=4),
                            "outcome": "spoke_debtor", "duration_s": 260, "recording_consent": "granted",
                            "text": words["call_summary"]}),
        (promised_case, second, {"channel": "sms", "at": lawful.window_start - timedelta(days=2),
                                 "outcome": "delivered", "template": "reminder_1", "text": words["reminder"]}),
    ):
        record_contact(session, collector, wiring, case.id, {"direction": "outbound", **body})


def story_loaded(session) -> bool:
    return session.scalar(select(Case.id).where(Case.reference == STORY_REFERENCES[0])) is not None


def load_story(wiring: Runtime, places) -> list[str]:
    """Load the story once (see the module's docstring); nothing when its first case exists.
    `places`: the demo organisation's cities (api/demo.py `PLACES`)."""
    with wiring.db.transaction() as session:
        if story_loaded(session):
            return []
    started = utcnow()
    lawful = _lawful_city(wiring, places, started)
    if lawful is None:
        return ["demo story not loaded: no demo city is inside lawful visiting hours now; run `fieldproof demo` later"]
    city, jurisdiction, currency, country, region, _homes = next(p for p in places if p[0] == lawful.city)
    deferred = _Deferred()
    with wiring.db.transaction() as session:
        supervisor, legal, auditor = (_user(session, f"demo-{role}") for role in ("supervisor", "legal", "auditor"))
        first, second = _user(session, "demo-collector"), _user(session, "demo-collector-2")
        phones = {first.id: _Phone(session, first), second.id: _Phone(session, second)}
        cases = []
        for n, (name, line, lat, lon) in enumerate(STORY_HOMES[city]):
            collector = (first, second)[n]
            cases.append(create_case(session, supervisor, wiring.cipher, {
                "reference": STORY_REFERENCES[n],
                "debtor": {"name": name, "national_id": f"11010119900307{21 + n:02d}1{n}",
                           "phone": f"+86 139 0000 00{21 + n}"},
                "card_last4": f"{7021 + n}", "currency": currency,
                "amount_overdue": Decimal("8640.00") + 1000 * n, "days_past_due": 64 + 30 * n,
                "jurisdiction": jurisdiction,
                "flags": {"cease_contact": False, "attorney_represented": False,
                          "workplace_contact_prohibited": False},
                "assigned_collector_id": collector.id,
                "addresses": [{"kind": "home", "line": line, "city": city, "region": region, "country": country,
                               "lat": lat, "lon": lon}],
            }))
        paying, promising = cases
        home = paying.addresses[0]
        zone = zone_at(home.lat, home.lon)
        today = started.astimezone(zone).date()
        # Promises made on calls before today: one still due (kept at the door), one long overdue.
        make_promise(session, paying, visit_id=None, collector_id=first.id, actor_id=first.id,
                     amount=Decimal("2000.00"), currency=None, due_date=today + timedelta(days=3),
                     due_end_at=_due_end(today + timedelta(days=3), zone), made_at=started - timedelta(days=4))
        make_promise(session, promising, visit_id=None, collector_id=second.id, actor_id=second.id,
                     amount=Decimal("1500.00"), currency=None, due_date=today - timedelta(days=5),
                     due_end_at=_due_end(today - timedelta(days=5), zone), made_at=started - timedelta(days=12))
        sweep_broken_promises(session, utcnow())
        mailed = started - timedelta(days=20)   # like a promise, a notice is recorded as mailed when it was
        issue_notice(session, supervisor, wiring, paying.id,
                     template="validation" if jurisdiction.startswith("US") else "overdue",
                     language="zh-CN" if jurisdiction == "CN" else "en", mailed_at=mailed,
                     itemization={"date": (mailed - timedelta(days=30)).date(), "amount": paying.amount_overdue})
        _contacts(session, wiring, lawful, (paying, first), (promising, second),
                  WORDS["zh" if jurisdiction == "CN" else "en"])

        photos = []
        for case, collector, other, away in ((paying, first, second, 0.0), (promising, second, first, AWAY_DEGREES)):
            address = case.addresses[0]
            visit = schedule_visit(session, supervisor, wiring.settings, {
                "case_id": case.id, "address_id": address.id, "collector_id": collector.id,
                "second_collector_id": other.id, "window_start": lawful.window_start,
                "window_end": lawful.window_end})
            lat, lon = address.lat + away + 0.0001, address.lon + 0.0001  # ~15 m from the door, or 450 m
            check_in(session, collector, wiring.settings, visit.id,
                     {"at": utcnow(), "lat": lat, "lon": lon, "accuracy_m": 8.0})
            phone = phones[collector.id]
            photos.append(_capture_photo(session, wiring, phone, visit, zone, lat, lon,
                                         colour=(214, 196, 160) if away == 0 else (190, 150, 130)))
            words = WORDS["zh" if jurisdiction == "CN" else "en"]
            if away == 0:
                _write_note(session, wiring, phone, visit, zone, lat, lon, words["paid_note"])
                check_out(session, collector, wiring.settings, visit.id, {
                    "at": utcnow(), "lat": lat, "lon": lon, "outcome": "payment_received",
                    "summary": words["paid_summary"]})
            else:
                _write_note(session, wiring, phone, visit, zone, lat, lon, words["promise_note"])
                check_out(session, collector, wiring.settings, visit.id, {
                    "at": utcnow(), "lat": lat, "lon": lon, "outcome": "promise_to_pay",
                    "summary": words["promise_summary"],
                    "promise": {"amount": "800.00", "due_date": today + timedelta(days=10)}})
        redact_evidence(session, supervisor, wiring, photos[0].id,
                        [{"x": 470, "y": 290, "width": 80, "height": 80}],
                        "a bystander's face (the neighbour did not agree to be photographed)")
        for language in ("en", "zh-CN"):
            request_packet(session, legal, deferred, paying.id, language=language)
        request_verification(session, auditor, deferred, scope="case", subject_id=paying.id)
    for name, payload in deferred.jobs:
        run_job(wiring, name, payload)
    with wiring.db.transaction() as session:
        checkpoint = issue_checkpoint(session, wiring.signer, wiring.settings.ledger_origin, only_if_changed=True)
    return [f"demo story loaded in {lawful.city}: cases {', '.join(STORY_REFERENCES)} with visits checked in and out "
            f"(one outside the geofence), signed photos and notes, a written notice, a redaction, a promise kept and one "
            f"broken, "
            f"packets in en and zh-CN, a verification and a checkpoint at ledger size {checkpoint.tree_size} "
            f"({(utcnow() - started).total_seconds():.1f} s)"]
