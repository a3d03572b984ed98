"""Evidence test material made on the fly: photos with EXIF, hostile files, multipart bodies, signatures."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import wave
import zlib
from datetime import datetime, timedelta, timezone

from PIL import ExifTags, Image

HOME = (31.2354, 121.5055)
SHANGHAI = timezone(timedelta(hours=8))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _dms(value: float) -> tuple[float, float, float]:
    hundredths = round(value * 360_000)
    degrees, rest = divmod(hundredths, 360_000)
    minutes, rest = divmod(rest, 6_000)
    return float(degrees), float(minutes), rest / 100


def photo(size=(96, 64), *, at: datetime | None = None, where=HOME, fmt="JPEG", colour=(200, 40, 40)) -> bytes:
    """A small camera-like photo: EXIF make/model, DateTimeOriginal with offset, GPS."""
    img = Image.new("RGB", size, colour)
    img.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 2))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme"
    exif[ExifTags.Base.Model] = "FieldCam 3"
    exif[ExifTags.Base.Orientation] = 1
    moment = (at or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = moment.strftime("%Y:%m:%d %H:%M:%S")
    details[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    if where is not None:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update({
            ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: _dms(where[0]),
            ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: _dms(where[1]),
        })
    out = io.BytesIO()
    img.save(out, fmt, exif=exif)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1-bit PNG of a few kilobytes that would decode to 400 megapixels."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(200)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = photo((640, 480))
    return data[: len(data) * 2 // 3]


def executable() -> bytes:
    """A Windows PE header: what an attacker would name `receipt.jpg`."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x90" * 400


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 800)
    return out.getvalue()


def capture(visit_id: str, data: bytes, *, kind: str = "photo", at: datetime | None = None, where=HOME,
            **overrides) -> dict:
    moment = (at or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    body = {"visit_id": visit_id, "kind": kind, "sha256": sha256(data),
            "captured_at": moment.isoformat(timespec="seconds"), "lat": where[0], "lon": where[1],
            "accuracy_m": 8.0, "consent": {"subject": "granted", "third_parties_present": False}}
    body.update(overrides)
    return body


def multipart(metadata: dict | str, data: bytes, filename: str = "capture.jpg") -> dict:
    """A werkzeug test-client `data=` for POST /evidence."""
    text = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return {"metadata": text, "file": (io.BytesIO(data), filename, "application/octet-stream")}
