"""Shared by the visit, route and report tests: a pinned service clock, a small world, helpers.

The service reads the time through `visits.services.utcnow`; the `clock` fixture pins it so
that a check-in can happen "tomorrow at 10:05 in Shanghai" without waiting for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from geopy.distance import geodesic

from core.clock import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOME = (31.2354, 121.5055)
WORK = (31.2397, 121.4998)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import visits.services

    pinned = Clock(utcnow())
    monkeypatch.setattr(visits.services, "utcnow", pinned)
    return pinned


def local(days: int, hour: int, minute: int = 0, zone=SHANGHAI) -> datetime:
    """`hour:minute` on the local day `days` after today in `zone`."""
    day = datetime.now(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def moved(point: tuple[float, float], metres: float, bearing: float = 90.0) -> tuple[float, float]:
    target = geodesic(meters=metres).destination(point, bearing)
    return target.latitude, target.longitude


@dataclass
class World:
    supervisor: object
    collector: object
    second: object
    case: dict

    def address(self, kind: str) -> dict:
        return next(a for a in self.case["addresses"] if a["kind"] == kind)


def make_world(factory, **case_overrides) -> World:
    supervisor = factory.user("supervisor")
    collector, second = factory.user("collector"), factory.user("collector")
    case = factory.case(collector=collector, supervisor=supervisor, **case_overrides)
    return World(supervisor, collector, second, case)


def schedule(client, world: World, start: datetime, end: datetime, *, kind: str = "home",
             collector=None, second: bool = True, case: dict | None = None):
    case = case or world.case
    body = {"case_id": case["id"], "address_id": next(a for a in case["addresses"] if a["kind"] == kind)["id"],
            "collector_id": (collector or world.collector).id, "window_start": start.isoformat(),
            "window_end": end.isoformat()}
    if second:
        body["second_collector_id"] = world.second.id
    return client.post("/api/v1/visits", json=body, headers=world.supervisor.headers)


def scheduled(client, world: World, start: datetime, end: datetime, **kwargs) -> dict:
    response = schedule(client, world, start, end, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def check_in(client, user, visit_id: str, at: datetime, point: tuple[float, float], accuracy_m=10.0, **extra):
    body = {"at": at.isoformat(), "lat": point[0], "lon": point[1], "accuracy_m": accuracy_m, **extra}
    return client.post(f"/api/v1/visits/{visit_id}/check-in", json=body, headers=user.headers)


def check_out(client, user, visit_id: str, at: datetime, outcome: str, point=HOME, **extra):
    body = {"at": at.isoformat(), "lat": point[0], "lon": point[1], "outcome": outcome, **extra}
    return client.post(f"/api/v1/visits/{visit_id}/check-out", json=body, headers=user.headers)


def rules_of(response) -> list[str]:
    return [v["rule"] for v in response.get_json().get("violations", [])]


def timeline(client, world: World, case_id: str | None = None) -> list[dict]:
    response = client.get(f"/api/v1/cases/{case_id or world.case['id']}/timeline?page_size=100",
                          headers=world.supervisor.headers)
    assert response.status_code == 200
    return response.get_json()
