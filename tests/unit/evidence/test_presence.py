"""Presence checks: table-driven, pure, no EXIF parsing (summaries are given as dicts)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evidence.presence import (
    GeoPoint,
    PresenceFlag,
    PresenceLimits,
    check_presence,
    distance_m,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
ADDRESS = GeoPoint(31.2304, 121.4737)
CLAIMED_AT = datetime(2024, 5, 1, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


def _north(point: GeoPoint, metres: float) -> GeoPoint:
    return GeoPoint(point.lat + metres / 111_195.0, point.lon)


def _exif(lat=ADDRESS.lat, lon=ADDRESS.lon, taken="2024-05-01T10:30:00"):
    summary: dict[str, object] = {"make": "Acme"}
    if lat is not None:
        summary.update(gps_lat=lat, gps_lon=lon)
    if taken is not None:
        summary["datetime_original"] = taken
    return summary


def _codes(flags: list[PresenceFlag]) -> list[str]:
    return sorted(flag.code for flag in flags)


def _check(exif, claimed=ADDRESS, address=ADDRESS, claimed_at=CLAIMED_AT, zone=SHANGHAI,
           limits=None, accuracy=None):
    return check_presence(exif=exif, claimed_at=claimed_at, claimed_location=claimed,
                          address_location=address, address_zone=zone, limits=limits or PresenceLimits(),
                          claimed_accuracy_m=accuracy)


@pytest.mark.parametrize("a, b, metres", [
    (GeoPoint(0, 0), GeoPoint(0, 1), 111_195),
    (GeoPoint(0, 0), GeoPoint(1, 0), 111_195),
    (GeoPoint(31.2304, 121.4737), GeoPoint(39.9042, 116.4074), 1_067_000),
    (GeoPoint(51.5, -0.12), GeoPoint(51.5, -0.12), 0),
    (GeoPoint(0, 179.9), GeoPoint(0, -179.9), 22_239),
])
def test_distance(a, b, metres):
    assert distance_m(a, b) == pytest.approx(metres, rel=0.005, abs=1)


def test_consistent_capture_raises_no_flag():
    assert _check(_exif(*_north(ADDRESS, 30).__dict__.values())) == []


@pytest.mark.parametrize("exif_offset_m, claimed_offset_m, expected", [
    (0, 0, []),
    (240, 0, []),
    (300, 0, ["exif_gps_far_from_claimed"]),
    (600, 600, ["claimed_location_far_from_address", "exif_gps_far_from_address"]),
    (0, 600, ["claimed_location_far_from_address", "exif_gps_far_from_claimed"]),
    (900, 0, ["exif_gps_far_from_address", "exif_gps_far_from_claimed"]),
])
def test_location_limits(exif_offset_m, claimed_offset_m, expected):
    exif_point = _north(ADDRESS, exif_offset_m)
    flags = _check(_exif(exif_point.lat, exif_point.lon), claimed=_north(ADDRESS, claimed_offset_m))
    assert _codes(flags) == expected
    assert all(" m from " in flag.detail for flag in flags)


def test_limits_are_configurable():
    point = _north(ADDRESS, 100)
    tight = PresenceLimits(exif_to_claimed_m=50, claimed_to_address_m=50, exif_to_address_m=50)
    assert _codes(_check(_exif(point.lat, point.lon), limits=tight)) == [
        "exif_gps_far_from_address", "exif_gps_far_from_claimed"]


def test_claimed_accuracy_widens_limits_that_involve_the_claim():
    claimed = _north(ADDRESS, 700)
    assert _codes(_check(_exif(), claimed=claimed)) == [
        "claimed_location_far_from_address", "exif_gps_far_from_claimed"]
    assert _check(_exif(), claimed=claimed, accuracy=800) == []


@pytest.mark.parametrize("exif", [
    _exif(lat=None),
    _exif(lat=0.0, lon=0.0),
    _exif(lat=True, lon=1.0),
    _exif(lat=91.0, lon=0.0),
    _exif(lat="31.2", lon="121.4"),
])
def test_missing_or_unusable_gps_is_flagged_once(exif):
    assert _codes(_check(exif)) == ["exif_gps_missing"]


def test_unknown_locations_skip_comparisons():
    assert _check(_exif(), claimed=None, address=None) == []


@pytest.mark.parametrize("taken, expected", [
    ("2024-05-01T10:30:00", []),
    ("2024-05-01T10:44:00", []),
    ("2024-05-01T10:46:00", ["exif_time_far_from_claimed"]),
    ("2024-05-01T02:30:00", ["exif_time_far_from_claimed"]),
    ("2024-05-01T02:30:00+00:00", []),
    ("2024-05-01T10:30:00+08:00", []),
    ("2024-05-01T10:30:00+09:00", ["exif_time_far_from_claimed"]),
    (None, ["exif_time_missing"]),
    ("not a date", ["exif_time_missing"]),
])
def test_time_limits_naive_exif_read_in_address_zone(taken, expected):
    assert _codes(_check(_exif(taken=taken))) == expected


def test_time_limit_is_configurable():
    limits = PresenceLimits(time_skew=timedelta(minutes=2))
    flags = _check(_exif(taken="2024-05-01T10:35:00"), limits=limits)
    assert _codes(flags) == ["exif_time_far_from_claimed"]
    assert "limit 2 min" in flags[0].detail


def test_ambiguous_wall_time_at_dst_end_takes_the_closer_reading():
    # 2024-10-27 02:30 happens twice in Berlin: 00:30 UTC (CEST) and 01:30 UTC (CET).
    for hour in (0, 1):
        claimed = datetime(2024, 10, 27, hour, 30, tzinfo=UTC)
        assert _check(_exif(taken="2024-10-27T02:30:00"), claimed_at=claimed, zone=BERLIN) == []


def test_claimed_time_in_the_address_zone_is_compared_in_utc():
    claimed = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN)
    assert _check(_exif(taken="2024-10-27T01:30:00+00:00"), claimed_at=claimed, zone=BERLIN) == []


def test_naive_claimed_time_is_a_programming_error():
    with pytest.raises(ValueError):
        _check(_exif(), claimed_at=datetime(2024, 5, 1, 10, 30))
