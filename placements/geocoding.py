"""Coordinates for placement addresses that arrive without them, through a geopy geocoder the
agency configures (off by default). A row whose address cannot be placed on a map is rejected:
lawful visiting hours are the debtor's local hours, and the time zone comes from coordinates."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from geopy.exc import GeocoderTimedOut, GeocoderUnavailable, GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import get_geocoder_for_service

WHY = "lawful visiting hours need the address's time zone"
CACHE_ENTRIES = 10_000  # distinct addresses remembered within one file


class Unplaceable(Exception):
    """The address has no coordinates and none could be found; the message says why."""


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float


def query(address: dict) -> str:
    """The free-text search a geocoder takes: line, city, country."""
    return ", ".join(str(address[k]).strip() for k in ("line", "city", "country") if address.get(k))


class Geocoding:
    """One placement file's geocoder: requests spaced by the configured delay (geopy's
    RateLimiter), each distinct address asked once per file (a bounded cache; misses cached too)."""

    def __init__(self, geocoder, *, min_delay_seconds: float, timeout_seconds: float):
        self._geocode = RateLimiter(geocoder.geocode, min_delay_seconds=min_delay_seconds, max_retries=0,
                                    swallow_exceptions=False)
        self._timeout = timeout_seconds
        self._cache: dict[str, Place | str] = {}

    def locate(self, address: dict) -> Place:
        text = query(address)
        if not text:
            raise Unplaceable(f"the address has no coordinates and nothing to geocode; {WHY}")
        found = self._cache.get(text)
        if found is None:
            found = self._ask(text)
            if len(self._cache) < CACHE_ENTRIES:
                self._cache[text] = found
        if isinstance(found, str):
            raise Unplaceable(found)
        return found

    def _ask(self, text: str) -> Place | str:
        try:
            location = self._geocode(text, exactly_one=True, timeout=self._timeout)
        except (GeocoderTimedOut, GeocoderUnavailable):  # geopy's requests adapter says a read timeout so
            return f"the geocoder could not be reached or did not answer within {self._timeout:g} s; {WHY}"
        except GeopyError as error:
            return f"the geocoder failed ({type(error).__name__}); {WHY}"
        if location is None:
            return f"the geocoder found no such place; {WHY}"
        lat, lon = float(location.latitude), float(location.longitude)
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return f"the geocoder answered coordinates out of range; {WHY}"
        return Place(lat, lon)


class NoGeocoder:
    """Geocoding off: every address without coordinates is unplaceable."""

    def locate(self, address: dict) -> Place:
        raise Unplaceable(f"the address has no coordinates and no geocoder is configured "
                          f"(FIELDPROOF_GEOCODER); {WHY}")


def for_settings(settings) -> Geocoding | NoGeocoder:
    """The geocoder the settings name, fresh for one file (its cache and pacing are the file's)."""
    if settings.geocoder == "off":
        return NoGeocoder()
    options: dict = {"user_agent": settings.geocoder_user_agent, "timeout": settings.geocoder_timeout_seconds}
    if settings.geocoder_url:
        scheme, _, domain = settings.geocoder_url.partition("://")
        options.update(scheme=scheme, domain=domain.rstrip("/"))
    kind = get_geocoder_for_service(settings.geocoder)
    if settings.geocoder_api_key and "api_key" in inspect.signature(kind).parameters:
        options["api_key"] = settings.geocoder_api_key
    geocoder = kind(**options)
    return Geocoding(geocoder, min_delay_seconds=settings.geocoder_min_delay_seconds,
                     timeout_seconds=settings.geocoder_timeout_seconds)
