"""A day in the field for the collector's app tests: places where it is day (or night) right now,
collectors with today's visits there, and phone-camera-like JPEGs."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image

from tests.evidence_corpus import _dms

# (lat, lon, IANA zone): real places, so the server's own time-zone lookup agrees with the zone.
PLACES = [
    (31.2354, 121.5055, "Asia/Shanghai"), (35.6762, 139.6503, "Asia/Tokyo"), (13.7563, 100.5018, "Asia/Bangkok"),
    (22.5726, 88.3639, "Asia/Kolkata"), (25.2048, 55.2708, "Asia/Dubai"), (-1.2864, 36.8172, "Africa/Nairobi"),
    (6.5244, 3.3792, "Africa/Lagos"), (64.1466, -21.9426, "Atlantic/Reykjavik"), (-15.7939, -47.8828, "America/Sao_Paulo"),
    (4.7110, -74.0721, "America/Bogota"), (19.4326, -99.1332, "America/Mexico_City"), (21.3069, -157.8583, "Pacific/Honolulu"),
    (-36.8485, 174.7633, "Pacific/Auckland"),
]


@dataclass
class Place:
    lat: float
    lon: float
    zone: str

    def local(self, when: datetime) -> datetime:
        return when.astimezone(ZoneInfo(self.zone))

    def near(self, metres_north: float = 15.0) -> dict:
        """A GPS position this far north of the address."""
        return {"latitude": self.lat + metres_north / 111_320, "longitude": self.lon, "accuracy": 8}


def place_where(hours: range, now: datetime | None = None) -> Place:
    """A place whose local hour is in `hours` now, with an hour of margin after (CN lawful: 08–22)."""
    now = now or datetime.now(timezone.utc)
    for lat, lon, zone in PLACES:
        local = now.astimezone(ZoneInfo(zone))
        later = (now + timedelta(hours=1)).astimezone(ZoneInfo(zone))
        if local.hour in hours and later.hour in hours:
            return Place(lat, lon, zone)
    raise LookupError(f"no place with a local hour in {hours}")


def camera_exif(place: Place, when: datetime | None = None) -> Image.Exif:
    """EXIF as a phone camera writes it: make, model, local time with offset, GPS of `place`."""
    moment = place.local(when or datetime.now(timezone.utc))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme"
    exif[ExifTags.Base.Model] = "FieldCam 3"
    exif[ExifTags.Base.Orientation] = 1
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = moment.strftime("%Y:%m:%d %H:%M:%S")
    offset = moment.strftime("%z")
    details[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({
        ExifTags.GPS.GPSLatitudeRef: "N" if place.lat >= 0 else "S", ExifTags.GPS.GPSLatitude: _dms(abs(place.lat)),
        ExifTags.GPS.GPSLongitudeRef: "E" if place.lon >= 0 else "W", ExifTags.GPS.GPSLongitude: _dms(abs(place.lon)),
    })
    return exif


def camera_photo(place: Place, size=(1024, 768), colour=(180, 30, 30)) -> bytes:
    img = Image.new("RGB", size, colour)
    img.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=camera_exif(place))
    return out.getvalue()


def noisy_photo(min_bytes: int, place: Place) -> bytes:
    """A large camera-like JPEG (noise does not compress) with EXIF GPS at `place`."""
    side = int((min_bytes / 2.0 / 0.75) ** 0.5)  # about 2 bytes a pixel for noise at this quality
    while True:
        img = Image.frombytes("RGB", (side, side * 3 // 4), os.urandom(side * (side * 3 // 4) * 3))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=85, exif=camera_exif(place))
        if out.tell() >= min_bytes:
            return out.getvalue()
        side = int(side * 1.08)


@dataclass
class FieldDay:
    place: Place
    collector: object
    supervisor: object
    cases: list = field(default_factory=list)
    visit_ids: list = field(default_factory=list)


def field_day(app, factory, place: Place, *, visits: int = 2, status: str = "scheduled") -> FieldDay:
    """A collector with `visits` visits today at addresses around `place`, scheduled directly
    (the API refuses windows outside lawful hours, and tests run at any hour)."""
    from visits.models import Visit

    supervisor, collector = factory.user("supervisor"), factory.user("collector")
    day = FieldDay(place, collector, supervisor)
    now = datetime.now(timezone.utc)
    for n in range(visits):
        lat, lon = place.lat + n * 0.004, place.lon + n * 0.003
        case = factory.case(collector=collector, supervisor=supervisor, addresses=[
            {"kind": "home", "line": f"{88 + n} Harbour Road", "city": "Testville", "country": "CN", "lat": lat, "lon": lon}])
        start = now - timedelta(minutes=30)
        with app.extensions["fieldproof"].db.transaction() as session:
            visit = Visit(case_id=case["id"], address_id=case["addresses"][0]["id"], collector_id=collector.id,
                          window_start=start, window_end=start + timedelta(hours=3), time_zone=place.zone,
                          local_date=place.local(start).date(), status=status, scheduled_by=supervisor.id)
            session.add(visit)
            session.flush()
            day.visit_ids.append(visit.id)
        day.cases.append(case)
    return day
