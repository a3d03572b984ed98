"""Was the camera where and when the collector says? Pure checks that flag, never refuse.

A mismatch is not proof of anything (EXIF clocks drift, GPS is off indoors, some phones strip
location), so these checks return flags for a reviewer and leave the item sealed. Distances
use the haversine formula on a sphere of the IUGG mean radius: within 0.5 % of the ellipsoid,
far below GPS error at the thresholds used here, and dependency-free.

An EXIF DateTimeOriginal without OffsetTimeOriginal is wall-clock time; it is read in the
visit address's zone. When that wall time is ambiguous (the repeated hour when clocks go back)
the reading closer to the claimed time is used, so a DST change alone never raises a flag.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float


@dataclass(frozen=True)
class PresenceLimits:
    """How far apart the readings may be before a reviewer should look."""

    exif_to_claimed_m: float = 250.0
    claimed_to_address_m: float = 500.0
    exif_to_address_m: float = 500.0
    time_skew: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class PresenceFlag:
    code: str
    detail: str


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def check_presence(
    *,
    exif: Mapping[str, object],
    claimed_at: datetime,
    claimed_location: GeoPoint | None,
    address_location: GeoPoint | None,
    address_zone: ZoneInfo,
    limits: PresenceLimits = PresenceLimits(),
    claimed_accuracy_m: float | None = None,
) -> list[PresenceFlag]:
    """Flags for every disagreement between EXIF, the collector's claim and the address.

    `exif` is an `images.exif_summary` result. The claimed location's reported accuracy
    widens the limits that involve it, since the device itself said it could be that far off.
    """
    if claimed_at.tzinfo is None or claimed_at.utcoffset() is None:
        raise ValueError("claimed_at must be timezone-aware")
    flags: list[PresenceFlag] = []
    slack = max(0.0, claimed_accuracy_m or 0.0)
    exif_point = _exif_point(exif)

    if exif_point is None:
        flags.append(PresenceFlag("exif_gps_missing", "the image carries no usable GPS position"))
    if exif_point is not None and claimed_location is not None:
        _compare(flags, "exif_gps_far_from_claimed", "EXIF GPS", "claimed location",
                 distance_m(exif_point, claimed_location), limits.exif_to_claimed_m + slack)
    if claimed_location is not None and address_location is not None:
        _compare(flags, "claimed_location_far_from_address", "claimed location",
                 "visit address", distance_m(claimed_location, address_location),
                 limits.claimed_to_address_m + slack)
    if exif_point is not None and address_location is not None:
        _compare(flags, "exif_gps_far_from_address", "EXIF GPS", "visit address",
                 distance_m(exif_point, address_location), limits.exif_to_address_m)

    taken = exif.get("datetime_original")
    moment = _parse_iso(taken) if isinstance(taken, str) else None
    if moment is None:
        flags.append(PresenceFlag("exif_time_missing", "the image carries no usable capture time"))
    else:
        skew = _skew(moment, claimed_at, address_zone)
        if skew > limits.time_skew:
            flags.append(PresenceFlag(
                "exif_time_far_from_claimed",
                f"EXIF time {taken} is {_minutes(skew)} from claimed {claimed_at.isoformat()} "
                f"(limit {_minutes(limits.time_skew)})",
            ))
    return flags


def _exif_point(exif: Mapping[str, object]) -> GeoPoint | None:
    lat, lon = exif.get("gps_lat"), exif.get("gps_lon")
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    if isinstance(lat, bool) or isinstance(lon, bool):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None
    return GeoPoint(float(lat), float(lon))


def _compare(flags: list[PresenceFlag], code: str, left: str, right: str,
             metres: float, limit: float) -> None:
    if metres > limit:
        detail = f"{left} is {metres:.0f} m from {right} (limit {limit:.0f} m)"
        flags.append(PresenceFlag(code, detail))


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _skew(moment: datetime, claimed_at: datetime, zone: ZoneInfo) -> timedelta:
    """Compared in UTC: subtraction within one tzinfo would ignore `fold` and DST."""
    claimed_utc = claimed_at.astimezone(UTC)
    if moment.tzinfo is not None:
        return abs(moment.astimezone(UTC) - claimed_utc)
    readings = (moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1))
    return min(abs(reading.astimezone(UTC) - claimed_utc) for reading in readings)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"
