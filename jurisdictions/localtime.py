"""Local time at an address: time zone from coordinates, offline, and DST-aware.

The rules speak of the address's local time, so the zone comes from where the address is,
never from the collector's device or the server. timezonefinder answers offline; its finder
takes ~0.2 s to load, so one instance is created on first use and shared (no work at import).
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

__all__ = ["TimeZoneUnavailable", "require_aware", "segments", "utc", "zone_at"]

_finder: TimezoneFinder | None = None
_finder_lock = threading.Lock()


class TimeZoneUnavailable(ValueError):
    """No time zone can be found for a place; the message says why."""


def _timezone_finder() -> TimezoneFinder:
    global _finder
    if _finder is None:
        with _finder_lock:
            if _finder is None:
                from timezonefinder import TimezoneFinder  # heavy (numpy, h3): load on first use

                _finder = TimezoneFinder()
    return _finder


def zone_at(lat: float | None, lon: float | None) -> ZoneInfo:
    """The IANA zone at ``(lat, lon)``; raises :class:`TimeZoneUnavailable` saying why."""
    if lat is None or lon is None:
        raise TimeZoneUnavailable("the address has no coordinates, so its time zone is unknown")
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not isinstance(lat, (int, float))
        or not isinstance(lon, (int, float))
        or not (math.isfinite(lat) and math.isfinite(lon))
        or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)
    ):
        raise TimeZoneUnavailable(
            f"the address coordinates ({lat}, {lon}) are not a valid latitude/longitude, "
            "so its time zone is unknown"
        )
    name = _timezone_finder().timezone_at(lng=float(lon), lat=float(lat))
    if name is None:
        raise TimeZoneUnavailable(f"no time zone is known at ({lat}, {lon})")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise TimeZoneUnavailable(
            f"time zone {name} at ({lat}, {lon}) is missing from this system's tz database"
        ) from None


def require_aware(value: datetime, what: str) -> datetime:
    """Refuse naive datetimes: an instant without an offset has no local time anywhere."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must carry a UTC offset (aware datetime)")
    return value


def utc(value: datetime, what: str = "datetime") -> datetime:
    """The same instant in UTC.

    Python compares and subtracts two datetimes that share a tzinfo by wall clock, ignoring
    the offset and ``fold`` (so 01:30 EDT "equals" 01:30 EST); arithmetic on instants must
    therefore happen in UTC.
    """
    return require_aware(value, what).astimezone(timezone.utc)


_PROBE = timedelta(minutes=30)
_RESOLUTION = timedelta(microseconds=1)


def segments(
    start: datetime, end: datetime, zone: tzinfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split ``[start, end)`` into pieces of constant UTC offset in ``zone``.

    Each piece is ``(piece_start, piece_end, offset)``, instants in UTC. Offsets are probed
    every 30 minutes and each change is located to the microsecond by bisection, so a window
    that crosses a DST change is judged instant by instant. (Two offset changes less than
    30 minutes apart do not occur in the tz database.)
    """
    start = start.astimezone(timezone.utc)
    end = end.astimezone(timezone.utc)
    if end <= start:
        return []

    def offset(t: datetime) -> timedelta:
        off = t.astimezone(zone).utcoffset()
        assert off is not None
        return off

    pieces: list[tuple[datetime, datetime, timedelta]] = []
    piece_start, piece_offset = start, offset(start)
    last = end - _RESOLUTION  # the last instant inside the half-open window
    probe = start
    while probe < last:
        nxt = min(probe + _PROBE, last)
        if offset(nxt) == piece_offset:
            probe = nxt
            continue
        lo, hi = probe, nxt  # offset(lo) == piece_offset != offset(hi)
        while hi - lo > _RESOLUTION:
            mid = lo + (hi - lo) / 2
            if offset(mid) == piece_offset:
                lo = mid
            else:
                hi = mid
        pieces.append((piece_start, hi, piece_offset))
        piece_start, piece_offset, probe = hi, offset(hi), hi
    pieces.append((piece_start, end, piece_offset))
    return pieces
