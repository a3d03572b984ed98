"""Geodesic distance, the geofence allowance and impossible travel."""

import math
from datetime import datetime, timedelta, timezone

import pytest

from visits.geofence import (
    InvalidCoordinates,
    distance_m,
    geofence_allowance_m,
    is_impossible_travel,
    travel_speed_kmh,
    validate_coordinates,
    within_geofence,
)

UTC = timezone.utc
T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)


@pytest.mark.parametrize(
    "lat, lon",
    [(0, 0), (90, 180), (-90, -180), (31.2304, 121.4737), (-33.8688, 151.2093)],
)
def test_valid_coordinates(lat, lon):
    assert validate_coordinates(lat, lon) == (float(lat), float(lon))


@pytest.mark.parametrize(
    "lat, lon",
    [
        (90.0001, 0),
        (-91, 0),
        (0, 180.5),
        (0, -181),
        (float("nan"), 0),
        (0, float("inf")),
        (True, 0),
        ("31.2", 121.4),
        (None, 121.4),
    ],
)
def test_invalid_coordinates(lat, lon):
    with pytest.raises(InvalidCoordinates):
        validate_coordinates(lat, lon)


@pytest.mark.parametrize(
    "a, b, expected_m, tolerance_m",
    [
        ((0.0, 0.0), (0.0, 1.0), 111_319.491, 0.01),  # one degree along the WGS-84 equator
        ((0.0, 0.0), (1.0, 0.0), 110_574.389, 0.01),  # one degree of latitude at the equator
        (SHANGHAI, SHANGHAI, 0.0, 0.0),
        (SHANGHAI, BEIJING, 1_067_000.0, 3_000.0),
    ],
)
def test_distance_is_geodesic(a, b, expected_m, tolerance_m):
    assert distance_m(a, b) == pytest.approx(expected_m, abs=tolerance_m)
    assert distance_m(a, b) == pytest.approx(distance_m(b, a))


@pytest.mark.parametrize(
    "distance, radius, accuracy, inside",
    [
        (0, 100, None, True),
        (100, 100, None, True),
        (100.01, 100, None, False),
        (120, 100, 20, True),
        (120.5, 100, 20, False),
        (150, 100, 50, True),
        (150.01, 100, 50, False),
        (150, 100, 500, True),  # accuracy counts at most 50 m
        (151, 100, 500, False),
        (100, 100, 0, True),
        (240, 200, 40, True),
        (260, 200, 80, False),
    ],
)
def test_within_geofence(distance, radius, accuracy, inside):
    assert within_geofence(distance, radius, accuracy) is inside
    assert within_geofence(distance_m=distance, radius_m=radius, accuracy_m=accuracy) is inside


def test_default_radius_is_100_m():
    assert within_geofence(100.0)
    assert not within_geofence(100.5)
    assert geofence_allowance_m() == 100.0
    assert geofence_allowance_m(accuracy_m=1_000) == 150.0


@pytest.mark.parametrize(
    "distance, radius, accuracy",
    [(-1, 100, None), (10, -5, None), (10, 100, -1), (float("nan"), 100, None), (10, 100, float("inf"))],
)
def test_geofence_rejects_nonsense(distance, radius, accuracy):
    with pytest.raises(ValueError):
        within_geofence(distance, radius, accuracy)


@pytest.mark.parametrize(
    "a, a_time, b, b_time, expected",
    [
        ((0.0, 0.0), T0, (0.0, 1.0), T0 + timedelta(hours=1), 111.319491),
        ((0.0, 1.0), T0 + timedelta(hours=1), (0.0, 0.0), T0, 111.319491),  # order does not matter
        ((0.0, 0.0), T0, (0.0, 1.0), T0 + timedelta(hours=2), 55.6597455),
        (SHANGHAI, T0, SHANGHAI, T0, 0.0),
        (SHANGHAI, T0, SHANGHAI, T0 + timedelta(minutes=5), 0.0),
        (SHANGHAI, T0, BEIJING, T0, math.inf),
    ],
)
def test_travel_speed(a, a_time, b, b_time, expected):
    speed = travel_speed_kmh(a, a_time, b, b_time)
    if math.isinf(expected):
        assert math.isinf(speed)
    else:
        assert speed == pytest.approx(expected, rel=1e-6)


def test_travel_speed_uses_instants_not_wall_clocks():
    ny = __import__("zoneinfo").ZoneInfo("America/New_York")
    # 01:30 EDT and 01:30 EST on the fall-back night are an hour apart.
    a = datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=ny)
    b = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ny)
    assert travel_speed_kmh((0.0, 0.0), a, (0.0, 1.0), b) == pytest.approx(111.319491, rel=1e-6)


@pytest.mark.parametrize(
    "a, b, elapsed, kwargs, impossible",
    [
        (SHANGHAI, BEIJING, timedelta(hours=1), {}, True),
        (SHANGHAI, BEIJING, timedelta(hours=10), {}, False),
        (SHANGHAI, BEIJING, timedelta(hours=3), {}, True),  # ~355 km/h: a train, still flagged
        (SHANGHAI, BEIJING, timedelta(hours=3), {"max_kmh": 400}, False),
        ((0.0, 0.0), (0.0, 1.0), timedelta(minutes=45), {}, False),  # ~148 km/h
        ((0.0, 0.0), (0.0, 1.0), timedelta(minutes=44), {}, True),  # ~151 km/h
        (SHANGHAI, (31.2306, 121.4737), timedelta(0), {}, False),  # ~22 m at the same moment: GPS noise
        (SHANGHAI, (31.2306, 121.4737), timedelta(0), {"tolerance_m": 0}, True),
        (SHANGHAI, (31.2754, 121.4737), timedelta(0), {}, True),  # 5 km at the same moment
        (SHANGHAI, SHANGHAI, timedelta(0), {"tolerance_m": 0}, False),
    ],
)
def test_impossible_travel(a, b, elapsed, kwargs, impossible):
    assert is_impossible_travel(a, T0, b, T0 + elapsed, **kwargs) is impossible


@pytest.mark.parametrize("kwargs", [{"max_kmh": 0}, {"max_kmh": -1}, {"tolerance_m": -1}])
def test_impossible_travel_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        is_impossible_travel(SHANGHAI, T0, BEIJING, T0 + timedelta(hours=5), **kwargs)


def test_travel_needs_aware_times():
    with pytest.raises(ValueError):
        travel_speed_kmh(SHANGHAI, datetime(2026, 5, 4, 2, 0), BEIJING, T0)
