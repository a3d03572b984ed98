"""Pillow, fenced in: safe inspection of photos and the derivatives made from them.

Every open goes through `_open_guarded`, which allows only the JPEG and PNG decoders, refuses
images past a pixel limit before any pixel is decoded (Pillow by default only *warns* between
1x and 2x its limit), and turns every decoder failure into `CorruptMedia`. The warning filter
is set in a `warnings.catch_warnings()` block rather than at import, and the explicit size
check does not depend on it, so a concurrent thread resetting the filters cannot let a bomb
through.

Derivatives never touch the original file: they are new files written to `out_path`, in the
orientation a viewer sees, with no EXIF, GPS, XMP or text chunks.
"""
from __future__ import annotations

import io
import math
import os
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from PIL import ExifTags, Image, ImageCms, ImageFile, ImageFilter, ImageOps, UnidentifiedImageError

from evidence.errors import CorruptMedia, DecompressionBomb, EvidenceRejected, InvalidRegion

DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's own MAX_IMAGE_PIXELS (about 0.25 GB of 24-bit RGB), refused at 1x here."""
THUMBNAIL_QUALITY = 85
REDACTION_QUALITY = 95
_FORMATS = ("JPEG", "PNG")
_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_READ = 1 << 20
_EXIF_TEXT_LIMIT = 128


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class ThumbnailInfo:
    """The thumbnail written, and the source it proved decodable (see `make_thumbnail`)."""

    width: int
    height: int
    media_type: str
    size: int
    source: ImageInfo


@dataclass(frozen=True)
class Region:
    """A rectangle in pixels of the image as displayed (EXIF orientation applied)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class RedactionInfo:
    width: int
    height: int
    media_type: str
    mode: str
    regions: tuple[Region, ...]


# --- opening ------------------------------------------------------------------------------

@contextmanager
def _open_guarded(path: str | os.PathLike[str], max_pixels: int) -> Iterator[Image.Image]:
    """Open a JPEG or PNG with bombs refused and decoder failures mapped to `CorruptMedia`."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("ImageFile.LOAD_TRUNCATED_IMAGES must stay False for evidence")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        if max_pixels <= Image.MAX_IMAGE_PIXELS:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        else:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=_FORMATS) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise DecompressionBomb(
                        f"{width}x{height} exceeds {max_pixels} pixels",
                        width=width, height=height, max_pixels=max_pixels,
                    )
                yield img
        except EvidenceRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecompressionBomb(str(exc), max_pixels=max_pixels) from None
        except ValueError as exc:
            if "Decompressed data too large" in str(exc):
                raise DecompressionBomb(str(exc)) from None
            raise CorruptMedia(f"image does not decode: {exc}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, EOFError, struct.error,
                IndexError, KeyError, TypeError, zlib.error) as exc:
            raise CorruptMedia(f"image does not decode: {exc}") from None


def inspect_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageInfo:
    """Prove the image decodes to its end, without holding the full-size bitmap.

    JPEG: decoded at 1/8 scale (libjpeg DCT scaling still reads every entropy-coded byte, so
    truncation is caught; a progressive JPEG still needs its coefficient buffer, at most about
    2 bytes per pixel per component). PNG: every chunk CRC is checked and the IDAT stream is
    inflated chunk by chunk, its length compared with what the dimensions require.
    """
    with _open_guarded(path, max_pixels) as img:
        width, height = img.size
        fmt = img.format or ""
        if fmt == "JPEG":
            img.draft(img.mode if img.mode in ("L", "RGB", "CMYK") else "RGB",
                      (max(1, width // 8), max(1, height // 8)))
            img.load()
        else:
            _check_png_stream(path)
    return ImageInfo(width=width, height=height, format=fmt)


def _check_png_stream(path: str | os.PathLike[str]) -> None:
    """Walk PNG chunks with CRCs and inflate IDAT in constant memory; raise `CorruptMedia`."""
    with open(path, "rb") as f:
        f.seek(8)
        inflater = zlib.decompressobj()
        expected = stride = inflated = 0
        interlaced = False
        seen_idat = ended_idat = False
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise CorruptMedia("PNG truncated before IEND")
            length, kind = struct.unpack(">I4s", header)
            if length > 0x7FFFFFFF:
                raise CorruptMedia("PNG chunk length out of range")
            crc = zlib.crc32(kind)
            remaining = length
            if kind == b"IHDR":
                data = f.read(length)
                if length != 13 or len(data) != 13:
                    raise CorruptMedia("bad IHDR")
                crc = zlib.crc32(data, crc)
                remaining = 0
                expected, stride, interlaced = _png_layout(data)
            elif kind == b"IDAT" and ended_idat:
                raise CorruptMedia("IDAT chunks are not consecutive")
            while remaining:
                piece = f.read(min(remaining, _READ))
                if not piece:
                    raise CorruptMedia("PNG truncated inside a chunk")
                remaining -= len(piece)
                crc = zlib.crc32(piece, crc)
                if kind == b"IDAT":
                    inflated = _inflate_idat(inflater, piece, inflated, expected, stride,
                                             interlaced)
            trailer = f.read(4)
            if len(trailer) < 4 or struct.unpack(">I", trailer)[0] != crc:
                raise CorruptMedia(f"PNG chunk {kind!r} fails its CRC")
            if kind == b"IDAT":
                seen_idat = True
            elif seen_idat:
                ended_idat = True
            if kind == b"IEND":
                break
        if not seen_idat or not inflater.eof or inflated != expected:
            raise CorruptMedia("PNG image data is shorter than its dimensions",
                               expected=expected, inflated=inflated)


def _png_layout(ihdr: bytes) -> tuple[int, int, bool]:
    """(inflated bytes the IDAT stream must hold, scanline stride, interlaced)."""
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if channels is None or depth not in (1, 2, 4, 8, 16) or interlace not in (0, 1):
        raise CorruptMedia("unsupported PNG header")

    def row_bytes(w: int) -> int:
        return 1 + (w * channels * depth + 7) // 8

    if not interlace:
        return height * row_bytes(width), row_bytes(width), False
    total = 0
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        pass_w = max(0, -(-(width - x0) // dx))
        pass_h = max(0, -(-(height - y0) // dy))
        if pass_w and pass_h:
            total += pass_h * row_bytes(pass_w)
    return total, 0, True


def _inflate_idat(
    inflater: zlib._Decompress, data: bytes, inflated: int, expected: int, stride: int,
    interlaced: bool,
) -> int:
    """Inflate one IDAT piece in bounded steps, checking length and scanline filter bytes."""
    try:
        while data:
            out = inflater.decompress(data, _READ)
            if not interlaced and out:
                first = (-inflated) % stride
                if first < len(out) and max(out[first::stride]) > 4:
                    raise CorruptMedia("PNG scanline with an unknown filter type")
            inflated += len(out)
            if inflated > expected:
                raise CorruptMedia("PNG image data is longer than its dimensions")
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as exc:
        raise CorruptMedia(f"PNG image data does not inflate: {exc}") from None
    return inflated


# --- EXIF ---------------------------------------------------------------------------------

def exif_summary(path: str | os.PathLike[str]) -> dict[str, object]:
    """Camera, capture time, GPS and orientation; never raises, returns what parses.

    Keys (each present only when valid): `make`, `model`, `datetime_original` (ISO 8601,
    with the offset only when OffsetTimeOriginal gives one), `orientation` (1..8),
    `gps_lat`, `gps_lon` (decimal degrees).
    """
    summary: dict[str, object] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=_FORMATS) as img:
                exif = img.getexif()
                _summarise_exif(exif, summary)
    except Exception:
        pass
    return summary


def _summarise_exif(exif: Image.Exif, summary: dict[str, object]) -> None:
    for key, tag in (("make", ExifTags.Base.Make), ("model", ExifTags.Base.Model)):
        text = _exif_text(_safe_get(exif, tag))
        if text:
            summary[key] = text
    orientation = _safe_get(exif, ExifTags.Base.Orientation)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        summary["orientation"] = orientation
    exif_ifd = _safe_ifd(exif, ExifTags.IFD.Exif)
    moment = _exif_datetime(exif_ifd.get(ExifTags.Base.DateTimeOriginal),
                            exif_ifd.get(ExifTags.Base.OffsetTimeOriginal))
    if moment is not None:
        summary["datetime_original"] = moment.isoformat()
    gps = _safe_ifd(exif, ExifTags.IFD.GPSInfo)
    lat = _gps_degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef),
                       "N", "S", 90.0)
    lon = _gps_degrees(gps.get(ExifTags.GPS.GPSLongitude),
                       gps.get(ExifTags.GPS.GPSLongitudeRef), "E", "W", 180.0)
    if lat is not None and lon is not None:
        summary["gps_lat"] = lat
        summary["gps_lon"] = lon


def _safe_get(exif: Mapping[int, object], tag: int) -> object:
    try:
        return exif.get(tag)
    except Exception:
        return None


def _safe_ifd(exif: Image.Exif, tag: int) -> Mapping[int, object]:
    try:
        ifd = exif.get_ifd(tag)
        return ifd if isinstance(ifd, Mapping) else {}
    except Exception:
        return {}


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value.replace("\x00", "") if ch.isprintable()).strip()
    return text[:_EXIF_TEXT_LIMIT] or None


def _exif_datetime(value: object, offset: object) -> datetime | None:
    text = _exif_text(value)
    if not text:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset_text = _exif_text(offset)
    if offset_text and len(offset_text) == 6 and offset_text[0] in "+-" and offset_text[3] == ":":
        try:
            hours, minutes = int(offset_text[1:3]), int(offset_text[4:6])
            if hours <= 14 and minutes < 60:
                sign = 1 if offset_text[0] == "+" else -1
                moment = moment.replace(
                    tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
        except ValueError:
            pass
    return moment


def _gps_degrees(value: object, ref: object, positive: str, negative: str,
                 limit: float) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)  # type: ignore[union-attr]
    except Exception:
        return None
    if not all(math.isfinite(v) and v >= 0 for v in (degrees, minutes, seconds)):
        return None
    if minutes >= 60 or seconds >= 60:
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    hemisphere = _exif_text(ref)
    if hemisphere == negative:
        decimal = -decimal
    elif hemisphere != positive:
        return None
    if abs(decimal) > limit:
        return None
    return round(decimal, 7)


# --- derivatives --------------------------------------------------------------------------

def make_thumbnail(
    path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    max_side: int = 512,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ThumbnailInfo:
    """A JPEG no larger than `max_side`, upright, in sRGB, with no metadata at all.

    Making it gives every guarantee `inspect_image` gives (same guarded open, every byte of a
    JPEG decoded with truncation refused, the PNG stream check), so ingest decodes a photo
    once and reports the source in `ThumbnailInfo.source`. JPEGs are decoded at the smallest
    DCT scale that still covers `max_side`; PNG has no reduced decode, so its bitmap (bounded
    by `max_pixels`) is held once. The image is downscaled before it is turned upright (the
    bounding box is square, so the order does not change the result), so nothing full-size
    is ever copied.
    """
    if max_side < 1:
        raise ValueError("max_side must be >= 1")
    with _open_guarded(path, max_pixels) as img:
        source = ImageInfo(width=img.width, height=img.height, format=img.format or "")
        icc = img.info.get("icc_profile")
        if img.format == "JPEG":
            img.draft("RGB", (max_side, max_side))
        else:
            _check_png_stream(path)
        # Decode here, inside the guard: `thumbnail` skips an image that already fits, and the
        # first load would then happen in `_upright`, which treats OSError as "no orientation".
        img.load()
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        thumb = _to_srgb(_flatten(_upright(img, in_place=False)), icc)
        thumb.info.clear()
        thumb.save(out_path, format="JPEG", quality=THUMBNAIL_QUALITY)
        width, height = thumb.size
    return ThumbnailInfo(width=width, height=height, media_type="image/jpeg",
                         size=os.path.getsize(out_path), source=source)


def redact(
    path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    regions: Iterable[Region | Mapping[str, int]],
    mode: Literal["blur", "black"] = "blur",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> RedactionInfo:
    """Blur or black out regions into a new file of the same format, without metadata.

    Regions are in pixels of the image as displayed: EXIF orientation is applied first, so
    the coordinates a reviewer picked on screen are the ones redacted, and the output is
    upright with no orientation tag. Pixels outside the regions are copied unchanged; a JPEG
    is re-encoded once, with its own quantization tables and subsampling when it can be
    (otherwise quality 95, 4:4:4), so the generation loss outside the regions stays small.
    `blur` reduces each region to a 1/16 mosaic and then smooths it, so no detail finer than
    16 px survives; use `black` for text.
    """
    if mode not in ("blur", "black"):
        raise InvalidRegion(f"unknown redaction mode {mode!r}")
    boxes = tuple(_as_region(region) for region in regions)
    if not boxes:
        raise InvalidRegion("at least one region is required")
    with _open_guarded(path, max_pixels) as img:
        fmt = img.format or "PNG"
        icc = img.info.get("icc_profile")
        img.load()
        upright = _editable(_upright(img, in_place=True))
        width, height = upright.size
        for box in boxes:
            if box.x + box.width > width or box.y + box.height > height:
                raise InvalidRegion("region outside the image", region=box.__dict__,
                                    width=width, height=height)
            _redact_box(upright, box, mode)
        upright.info.clear()
        options: dict[str, object] = {"icc_profile": icc} if icc else {}
        if fmt == "JPEG" and upright is img:
            upright.save(out_path, format="JPEG", quality="keep", subsampling="keep", **options)
        elif fmt == "JPEG":
            upright.save(out_path, format="JPEG", quality=REDACTION_QUALITY, subsampling=0,
                         **options)
        else:
            upright.save(out_path, format="PNG", **options)
    return RedactionInfo(width=width, height=height, media_type=_MEDIA_TYPES[fmt], mode=mode,
                         regions=boxes)


def _upright(img: Image.Image, *, in_place: bool) -> Image.Image:
    """Apply EXIF orientation; unreadable EXIF has no orientation a viewer could apply."""
    try:
        if in_place:
            ImageOps.exif_transpose(img, in_place=True)
            return img
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, KeyError, TypeError, struct.error, SyntaxError):
        return img if in_place else img.copy()


def _as_region(region: Region | Mapping[str, int]) -> Region:
    if isinstance(region, Mapping):
        try:
            region = Region(region["x"], region["y"], region["width"], region["height"])
        except KeyError as exc:
            raise InvalidRegion(f"region misses {exc.args[0]!r}") from None
    values = (region.x, region.y, region.width, region.height)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidRegion("region coordinates must be integers")
    if region.x < 0 or region.y < 0 or region.width <= 0 or region.height <= 0:
        raise InvalidRegion("region must have x, y >= 0 and a positive size")
    return region


def _editable(img: Image.Image) -> Image.Image:
    """A mode the filters handle, keeping transparency and greyscale where present."""
    if img.mode in ("RGB", "RGBA", "L", "LA"):
        return img
    if img.mode == "P" and "transparency" in img.info:
        return img.convert("RGBA")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.convert("L")
    return img.convert("RGB")


def _redact_box(img: Image.Image, box: Region, mode: str) -> None:
    bounds = (box.x, box.y, box.x + box.width, box.y + box.height)
    if mode == "black":
        fill: int | tuple[int, ...] = (0, 0, 0, 255) if img.mode == "RGBA" else (
            (0, 255) if img.mode == "LA" else (0 if img.mode == "L" else (0, 0, 0)))
        img.paste(fill, bounds)
        return
    patch = img.crop(bounds)
    small = patch.resize((max(1, box.width // 16), max(1, box.height // 16)),
                         Image.Resampling.BOX)
    mosaic = small.resize(patch.size, Image.Resampling.BILINEAR)
    img.paste(mosaic.filter(ImageFilter.GaussianBlur(radius=4)), bounds)


def _flatten(img: Image.Image) -> Image.Image:
    """RGB for JPEG output; transparent areas become white rather than black."""
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from an embedded ICC profile, so dropping the profile keeps the colours."""
    if not icc:
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"),
                                              outputMode="RGB")
    except Exception:
        return img
    return converted if isinstance(converted, Image.Image) else img
