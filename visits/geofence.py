"""Presence checks: geodesic distance to the address, the geofence, impossible travel.

Distances are geodesic on the WGS-84 ellipsoid (geopy), the standard a court expert would
reproduce. A reported GPS accuracy widens the fence, but only up to 50 m, so that a phone
claiming 2 km of uncertainty cannot "be" at every address in town.
"""

from __future__ import annotations

import math
from datetime import datetime

from geopy.distance import geodesic

from jurisdictions.localtime import utc

__all__ = [
    "ACCURACY_CAP_M",
    "DEFAULT_MAX_KMH",
    "DEFAULT_RADIUS_M",
    "DEFAULT_TRAVEL_TOLERANCE_M",
    "InvalidCoordinates",
    "Point",
    "distance_m",
    "geofence_allowance_m",
    "is_impossible_travel",
    "travel_speed_kmh",
    "validate_coordinates",
    "within_geofence",
]

Point = tuple[float, float]  # (lat, lon) in degrees, WGS-84

DEFAULT_RADIUS_M = 100.0
ACCURACY_CAP_M = 50.0
DEFAULT_MAX_KMH = 150.0
# Two fixes of a standing phone can differ by tens of metres; distances this small say
# nothing about speed, so impossible travel is judged on the distance beyond them.
DEFAULT_TRAVEL_TOLERANCE_M = 100.0


class InvalidCoordinates(ValueError):
    """Latitude/longitude that are not numbers on the globe."""


def validate_coordinates(lat: float, lon: float) -> Point:
    """Return ``(lat, lon)`` as floats, or raise :class:`InvalidCoordinates` saying why."""
    for name, value in (("lat", lat), ("lon", lon)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidCoordinates(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidCoordinates(f"{name} must be finite, got {value!r}")
    if not -90.0 <= lat <= 90.0:
        raise InvalidCoordinates(f"lat must be within -90..90, got {lat}")
    if not -180.0 <= lon <= 180.0:
        raise InvalidCoordinates(f"lon must be within -180..180, got {lon}")
    return float(lat), float(lon)


def distance_m(a: Point, b: Point) -> float:
    """Geodesic distance in metres between two ``(lat, lon)`` points."""
    return float(geodesic(validate_coordinates(*a), validate_coordinates(*b)).meters)


def geofence_allowance_m(
    radius_m: float = DEFAULT_RADIUS_M, accuracy_m: float | None = None
) -> float:
    """The radius plus the reported accuracy capped at 50 m (no accuracy adds nothing)."""
    _non_negative("radius_m", radius_m)
    if accuracy_m is None:
        return float(radius_m)
    _non_negative("accuracy_m", accuracy_m)
    return float(radius_m) + min(float(accuracy_m), ACCURACY_CAP_M)


def within_geofence(
    distance_m: float, radius_m: float = DEFAULT_RADIUS_M, accuracy_m: float | None = None
) -> bool:
    """True when ``distance_m`` is at most the radius plus min(accuracy, 50 m)."""
    _non_negative("distance_m", distance_m)
    return float(distance_m) <= geofence_allowance_m(radius_m, accuracy_m)


def travel_speed_kmh(a_point: Point, a_time: datetime, b_point: Point, b_time: datetime) -> float:
    """Average speed between two fixes, in km/h, whichever came first.

    Equal timestamps give 0 for the same place and infinity for two different places.
    """
    metres = distance_m(a_point, b_point)
    return _speed_kmh(metres, a_time, b_time)


def is_impossible_travel(
    a_point: Point,
    a_time: datetime,
    b_point: Point,
    b_time: datetime,
    max_kmh: float = DEFAULT_MAX_KMH,
    tolerance_m: float = DEFAULT_TRAVEL_TOLERANCE_M,
) -> bool:
    """True when getting from one fix to the other needs more than ``max_kmh``.

    The first ``tolerance_m`` of distance is forgiven as GPS noise, so two check-ins at the
    same moment a few metres apart are not flagged, while the same moment in two towns is.
    """
    if not max_kmh > 0:
        raise ValueError(f"max_kmh must be positive, got {max_kmh}")
    _non_negative("tolerance_m", tolerance_m)
    metres = max(0.0, distance_m(a_point, b_point) - tolerance_m)
    return _speed_kmh(metres, a_time, b_time) > max_kmh


def _speed_kmh(metres: float, a_time: datetime, b_time: datetime) -> float:
    seconds = abs((utc(b_time, "b_time") - utc(a_time, "a_time")).total_seconds())
    if seconds == 0:
        return 0.0 if metres == 0 else math.inf
    return metres / 1000.0 / (seconds / 3600.0)


def _non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
