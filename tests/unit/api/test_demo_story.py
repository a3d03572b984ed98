"""The demo's story needs a demo city inside lawful visiting hours now: there is one at any hour."""
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from api.demo import PLACES
from api.demo_story import _lawful_city
from jurisdictions.localtime import zone_at
from jurisdictions.organisation import organisation_profile

WIRING = SimpleNamespace(settings=SimpleNamespace(rule_overrides={}))


@pytest.mark.parametrize("day", [datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC),
                                 datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)],
                         ids=["winter", "summer", "us-dst-starts", "us-dst-ends"])
def test_some_demo_city_is_in_lawful_hours_at_every_moment_of_the_day(day):
    for minutes in range(0, 24 * 60, 5):
        now = day + timedelta(minutes=minutes)
        lawful = _lawful_city(WIRING, PLACES, now)
        assert lawful is not None, now
        assert lawful.window_start <= now < lawful.window_end - timedelta(minutes=4)
        city = next(place for place in PLACES if place[0] == lawful.city)
        hours = organisation_profile(city[1], {}).hours
        zone = zone_at(city[5][0][1], city[5][0][2])
        start, end = lawful.window_start.astimezone(zone), lawful.window_end.astimezone(zone)
        assert start.date() == end.date() or end.time() == datetime.min.time(), (now, lawful)
        assert hours.start <= start.time() and (end.time() <= hours.end or hours.end == datetime.min.time()), \
            (now, lawful)


def test_a_tightened_rule_can_leave_no_city_lawful():
    """With hours tightened everywhere to one small span, most moments have no lawful city: the
    story is then left for a later run instead of scheduling an unlawful visit."""
    tight = SimpleNamespace(settings=SimpleNamespace(rule_overrides={"hours.local": {"start": "12:00", "end": "12:30"}}))
    assert _lawful_city(tight, PLACES, datetime(2026, 1, 15, 0, 0, tzinfo=UTC)) is None
