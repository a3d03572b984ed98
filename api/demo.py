"""A demo organisation for `make run`: one user per role and about twenty cases in four cities."""
from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from accounts.models import User
from accounts.services import create_user
from api.demo_story import load_story
from core.runtime import Runtime
from cases.services import create_case
from core.actor import Actor
from core.clock import utcnow
from jurisdictions.localtime import zone_at
from visits.services import schedule_visit

ROLES = ("admin", "supervisor", "collector", "legal", "auditor")

# (city, jurisdiction, currency, country, region, [(home line, lat, lon), (workplace line, lat, lon)])
PLACES = [
    ("Shanghai", "CN", "CNY", "CN", "Shanghai", [
        ("88 Century Avenue, Pudong", 31.2354, 121.5055, "1 Lujiazui Ring Road, Pudong", 31.2397, 121.4998),
        ("300 Huaihai Middle Road, Huangpu", 31.2208, 121.4728, "1000 Nanjing West Road, Jing'an", 31.2286, 121.4582),
        ("1 Xujiahui Road, Xuhui", 31.1959, 121.4370, "100 Zhangjiang Road, Pudong", 31.2033, 121.5904),
        ("58 Wuyi Road, Changning", 31.2139, 121.4245, "18 Hongqiao Road, Xuhui", 31.1967, 121.4332),
        ("215 Siping Road, Hongkou", 31.2703, 121.4981, "200 Yincheng Road, Pudong", 31.2381, 121.5035),
    ]),
    ("Beijing", "CN", "CNY", "CN", "Beijing", [
        ("1 Dongzhimen South Street, Dongcheng", 39.9388, 116.4345, "7 Jianguomenwai Avenue, Chaoyang", 39.9087, 116.4569),
        ("16 Haidian Street, Haidian", 39.9832, 116.3064, "5 Zhongguancun South Street, Haidian", 39.9593, 116.3270),
        ("9 Wangfujing Street, Dongcheng", 39.9149, 116.4109, "1 Financial Street, Xicheng", 39.9150, 116.3587),
        ("32 Sanlitun Road, Chaoyang", 39.9365, 116.4547, "81 Jianguo Road, Chaoyang", 39.9075, 116.4736),
        ("6 Xizhimen Outer Street, Xicheng", 39.9402, 116.3496, "2 Chaoyangmen North Street, Dongcheng", 39.9305, 116.4343),
    ]),
    ("New York", "US-NY", "USD", "US", "NY", [
        ("350 5th Avenue, Manhattan", 40.7484, -73.9857, "200 Park Avenue, Manhattan", 40.7533, -73.9765),
        ("1 Bedford Avenue, Brooklyn", 40.7223, -73.9572, "1 Metrotech Center, Brooklyn", 40.6937, -73.9855),
        ("30-30 Steinway Street, Queens", 40.7632, -73.9166, "1 Court Square, Queens", 40.7471, -73.9446),
        ("2 Lincoln Square, Manhattan", 40.7733, -73.9830, "1 Liberty Plaza, Manhattan", 40.7092, -74.0107),
        ("100 Grand Concourse, Bronx", 40.8173, -73.9282, "1 Fordham Plaza, Bronx", 40.8610, -73.8905),
    ]),
    ("Mumbai", "IN", "INR", "IN", "Maharashtra", [
        ("12 Marine Drive, Churchgate", 18.9432, 72.8236, "Dalal Street, Fort", 18.9298, 72.8335),
        ("45 Linking Road, Bandra West", 19.0647, 72.8347, "G Block, Bandra Kurla Complex", 19.0667, 72.8681),
        ("7 Hill Road, Bandra West", 19.0544, 72.8295, "Nariman Point", 18.9256, 72.8242),
        ("22 Juhu Tara Road, Juhu", 19.0988, 72.8267, "Powai Hiranandani Gardens", 19.1176, 72.9060),
        ("9 LBS Marg, Ghatkopar West", 19.0863, 72.9081, "Lower Parel, Senapati Bapat Marg", 18.9985, 72.8258),
    ]),
]

NAMES = {
    "CN": ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴芳"],
    "US-NY": ["Jordan Miller", "Avery Johnson", "Casey Brown", "Riley Davis", "Morgan Wilson"],
    "IN": ["Aarav Sharma", "Diya Patel", "Vihaan Gupta", "Ananya Iyer", "Kabir Singh"],
}


def load_demo(wiring: Runtime) -> list[str]:
    """Idempotent: the organisation and the story are each loaded once (a data dir holding an
    older demo gets the story on its next run); a second run changes nothing."""
    lines = _load_organisation(wiring)
    return lines + load_story(wiring, PLACES)


def _load_organisation(wiring: Runtime) -> list[str]:
    """Users of each role, twenty cases in four cities and their scheduled visits; nothing when
    the demo admin already exists."""
    logins_file = wiring.settings.data_dir / "demo-logins.txt"
    with wiring.db.transaction() as session:
        if session.scalar(select(User.id).where(User.username == "demo-admin")):
            lines = ["demo organisation already loaded"]
            if logins_file.exists():
                lines += logins_file.read_text().splitlines()
            return lines
        users = {}
        credentials = []
        for role in ROLES:
            password = f"{role}-{secrets.token_urlsafe(9)}"
            users[role] = create_user(session, username=f"demo-{role}", role=role, password=password,
                                      display_name=f"Demo {role.title()}")
            credentials.append(f"  {role:<10} username demo-{role:<12} password {password}")
        second = create_user(session, username="demo-collector-2", role="collector",
                             password=(password2 := f"collector-{secrets.token_urlsafe(9)}"),
                             display_name="Demo Collector 2")
        credentials.append(f"  {'collector':<10} username demo-collector-2   password {password2}")
        supervisor = Actor(id=users["supervisor"].id, role="supervisor", username="demo-supervisor")
        count = 0
        opened = []
        for city, jurisdiction, currency, country, region, homes in PLACES:
            names = NAMES["CN" if jurisdiction == "CN" else jurisdiction]
            for n, (home, hlat, hlon, work, wlat, wlon) in enumerate(homes):
                count += 1
                collector = users["collector"] if count % 3 else second
                opened.append(create_case(session, supervisor, wiring.cipher, {
                    "reference": f"DEMO-{count:04d}",
                    "debtor": {"name": names[(count - 1) % len(names)],
                               "national_id": f"1101011985{count:04d}123{count % 10}",
                               "phone": f"+86 138 0000 {count:04d}"},
                    "card_last4": f"{4000 + count:04d}"[-4:],
                    "currency": currency,
                    "amount_overdue": Decimal(1200 + 317 * count).quantize(Decimal("0.01")),
                    "days_past_due": 30 + 7 * count,
                    "jurisdiction": jurisdiction,
                    "flags": {"cease_contact": count % 11 == 0, "attorney_represented": count % 13 == 0,
                              "workplace_contact_prohibited": n == 2},
                    "assigned_collector_id": collector.id,
                    "addresses": [
                        {"kind": "home", "line": home, "city": city, "region": region, "country": country,
                         "lat": hlat, "lon": hlon},
                        {"kind": "workplace", "line": work, "city": city, "region": region, "country": country,
                         "lat": wlat, "lon": wlon},
                    ],
                }))
        visits = _schedule_demo_visits(session, wiring, supervisor, opened, (users["collector"].id, second.id))
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    logins_file.write_text("\n".join(credentials) + "\n")
    logins_file.chmod(0o600)
    return [f"demo organisation loaded: {len(credentials)} users, {count} cases, {visits} visits", "logins:", *credentials,
            f"(kept in {logins_file})"]


def _schedule_demo_visits(session, wiring: Runtime, supervisor: Actor, opened, collectors: tuple[str, str]) -> int:
    """Home visits at lawful local hours: later today where the day still allows one, else
    tomorrow, staggered so that each collector's day makes a route. Cases that may not be
    visited (cease contact, represented debtor) get none, as the rules would refuse them."""
    now = utcnow()
    scheduled = 0
    for n, case in enumerate(opened):
        if case.cease_contact or case.attorney_represented:
            continue
        home = next(a for a in case.addresses if a.kind == "home")
        zone = zone_at(home.lat, home.lon)
        local_now = now.astimezone(zone)
        later_today = (local_now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        if 9 <= later_today.hour <= 16 and n % 2 == 0:
            start = later_today
        else:
            tomorrow = local_now.date() + timedelta(days=1)
            start = datetime.combine(tomorrow, time(10 + (n % 4) * 2), tzinfo=zone)
        collector = case.assigned_collector_id
        other = collectors[1] if collector == collectors[0] else collectors[0]
        schedule_visit(session, supervisor, wiring.settings, {
            "case_id": case.id, "address_id": home.id, "collector_id": collector,
            # CN asks for two collectors at a home; naming a second elsewhere is good practice.
            "second_collector_id": other, "window_start": start, "window_end": start + timedelta(hours=1),
        }, now=now)
        scheduled += 1
    return scheduled
