"""Pillow safety and derivatives, against images generated here (bombs included, kept tiny)."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageChops, ImageStat, PngImagePlugin, TiffImagePlugin

from evidence.errors import CorruptMedia, DecompressionBomb, EvidenceRejected, InvalidRegion
from evidence.images import (
    DEFAULT_MAX_PIXELS,
    ImageInfo,
    Region,
    exif_summary,
    inspect_image,
    make_thumbnail,
    redact,
)

REPO = Path(__file__).resolve().parents[3]

# --- corpus factories ---------------------------------------------------------------------


def noise(size=(64, 48), mode="RGB") -> Image.Image:
    bands = [Image.effect_noise(size, 80 + 20 * i) for i in range(3)]
    return Image.merge("RGB", bands).convert(mode)


def camera_exif(orientation: int = 1, gps=True, offset: str | None = "+08:00") -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme"
    exif[ExifTags.Base.Model] = "FieldCam 3"
    exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:30:00"
    if offset:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update({
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (31.0, 13.0, 48.0),
            ExifTags.GPS.GPSLongitudeRef: "W",
            ExifTags.GPS.GPSLongitude: (121.0, 28.0, 12.0),
        })
    return exif


def save(img: Image.Image, path: Path, fmt: str, **options) -> Path:
    img.save(path, format=fmt, **options)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_from_rows(width: int, height: int, rows: bytes, *, color=0, depth=8, interlace=0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit PNG with real, highly compressible IDAT: kilobytes on disk, gigapixels decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(min(height, 2000))) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def jpeg_with_dimensions(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF frame header is patched to claim other dimensions."""
    out = io.BytesIO()
    noise((16, 16)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_app1(payload: bytes) -> bytes:
    out = io.BytesIO()
    noise((32, 32)).save(out, "JPEG")
    data = out.getvalue()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def halves(size=(400, 200)) -> Image.Image:
    """Left half red, right half blue: orientation is visible in any thumbnail."""
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return img


# --- inspect_image: positives ----------------------------------------------------------------

@pytest.mark.parametrize("fmt, mode, options", [
    ("JPEG", "RGB", {}),
    ("JPEG", "L", {}),
    ("JPEG", "RGB", {"progressive": True}),
    ("JPEG", "CMYK", {}),
    ("PNG", "RGB", {}),
    ("PNG", "RGBA", {}),
    ("PNG", "L", {}),
    ("PNG", "P", {}),
    ("PNG", "1", {}),
    ("PNG", "RGB", {"interlace": 1}),
    ("PNG", "I;16", {}),
])
def test_inspect_accepts_sound_images(tmp_path, fmt, mode, options):
    img = noise((123, 77)).convert(mode)
    path = save(img, tmp_path / f"ok.{fmt.lower()}", fmt, **options)
    assert inspect_image(path) == ImageInfo(123, 77, fmt)


def test_inspect_accepts_interlaced_png_of_odd_sizes(tmp_path):
    for width, height in [(1, 1), (3, 9), (9, 3), (17, 5)]:
        path = save(noise((width, height)), tmp_path / f"i{width}x{height}.png", "PNG", interlace=1)
        assert inspect_image(path) == ImageInfo(width, height, "PNG")


# --- inspect_image: bombs -----------------------------------------------------------------

@pytest.mark.parametrize("data", [
    pytest.param(png_bomb(100_000, 100_000), id="png-10-gigapixel"),
    pytest.param(png_bomb(9_500, 9_500), id="png-just-over-1x-pillow-only-warns"),
    pytest.param(jpeg_with_dimensions(65_000, 65_000), id="jpeg-4-gigapixel"),
    pytest.param(jpeg_with_dimensions(10_000, 9_000), id="jpeg-just-over-1x"),
])
def test_decompression_bombs_are_refused(tmp_path, data):
    path = tmp_path / "bomb.img"
    path.write_bytes(data)
    assert path.stat().st_size < 200_000
    filters_before = list(warnings.filters)
    with pytest.raises(DecompressionBomb) as caught:
        inspect_image(path)
    assert caught.value.code == "decompression_bomb"
    assert warnings.filters == filters_before
    with pytest.raises(DecompressionBomb):
        make_thumbnail(path, tmp_path / "thumb.jpg")
    with pytest.raises(DecompressionBomb):
        redact(path, tmp_path / "redacted", [Region(0, 0, 1, 1)], "black")
    assert not (tmp_path / "thumb.jpg").exists()


def test_pixel_limit_is_configurable_and_inclusive(tmp_path):
    path = save(noise((40, 25)), tmp_path / "small.png", "PNG")
    assert inspect_image(path, max_pixels=1000).width == 40
    with pytest.raises(DecompressionBomb) as caught:
        inspect_image(path, max_pixels=999)
    assert caught.value.context["max_pixels"] == 999
    assert DEFAULT_MAX_PIXELS == 89_478_485


def test_png_text_chunk_bomb_is_refused(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "A" * (4 << 20), zip=True)
    path = save(noise((8, 8)), tmp_path / "ztxt.png", "PNG", pnginfo=info)
    assert path.stat().st_size < 100_000
    with pytest.raises(DecompressionBomb):
        inspect_image(path)


# --- inspect_image: truncated and corrupt -------------------------------------------------

def _jpeg(tmp_path, **options) -> bytes:
    out = io.BytesIO()
    noise((256, 192)).save(out, "JPEG", **options)
    return out.getvalue()


@pytest.mark.parametrize("options", [{}, {"progressive": True}])
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.9])
def test_truncated_jpeg_is_corrupt(tmp_path, options, keep):
    data = _jpeg(tmp_path, **options)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptMedia):
        inspect_image(path)


@pytest.mark.parametrize("damage", ["huffman-table", "no-scan", "bad-frame", "garbage-after-soi"])
def test_corrupt_jpeg_is_corrupt(tmp_path, damage):
    data = bytearray(_jpeg(tmp_path))
    if damage == "huffman-table":
        at = data.find(b"\xff\xc4")
        data[at + 4:at + 40] = b"\xff" * 36
    elif damage == "no-scan":
        data = data[:data.find(b"\xff\xda")] + b"\xff\xd9"
    elif damage == "bad-frame":
        at = data.find(b"\xff\xc0")
        data[at + 9] = 9
    else:
        data = data[:3] + bytes(range(256)) * 4
    path = tmp_path / "bad.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptMedia):
        inspect_image(path)


def _png_rows(width=16, height=8) -> bytes:
    return b"".join(b"\x00" + bytes((x * 7 + y) % 256 for x in range(width)) for y in range(height))


@pytest.mark.parametrize("case", [
    "truncated", "no-iend", "crc", "short-idat", "long-idat", "bad-filter", "not-zlib",
    "split-idat-gap",
])
def test_broken_png_is_corrupt(tmp_path, case):
    rows = _png_rows()
    good = png_from_rows(16, 8, rows)
    if case == "truncated":
        data = good[: len(good) // 2]
    elif case == "no-iend":
        data = good[:-12]
    elif case == "crc":
        data = bytearray(good)
        data[40] ^= 0x01
        data = bytes(data)
    elif case == "short-idat":
        data = png_from_rows(16, 8, rows[:-17])
    elif case == "long-idat":
        data = png_from_rows(16, 8, rows + b"\x00" * 17)
    elif case == "bad-filter":
        data = png_from_rows(16, 8, b"\x07" + rows[1:])
    elif case == "not-zlib":
        ihdr = struct.pack(">IIBBBBB", 16, 8, 8, 0, 0, 0, 0)
        data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"\x00" * 64)
                + png_chunk(b"IEND", b""))
    else:
        packed = zlib.compress(rows)
        ihdr = struct.pack(">IIBBBBB", 16, 8, 8, 0, 0, 0, 0)
        data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", packed[:20])
                + png_chunk(b"tEXt", b"k\x00v") + png_chunk(b"IDAT", packed[20:])
                + png_chunk(b"IEND", b""))
    assert inspect_image(_write(tmp_path, good, "good.png")) == ImageInfo(16, 8, "PNG")
    with pytest.raises(CorruptMedia):
        inspect_image(_write(tmp_path, data, "bad.png"))


def _write(tmp_path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data", [b"", b"MZ\x90\x00" * 50, b"GIF89a" + b"\x00" * 64,
                                  b"\x89PNG\r\n\x1a\n"])
def test_non_images_are_corrupt(tmp_path, data):
    with pytest.raises(CorruptMedia) as caught:
        inspect_image(_write(tmp_path, data, "x.jpg"))
    assert isinstance(caught.value, EvidenceRejected)


def test_inspect_does_not_hold_a_full_size_bitmap(tmp_path):
    """A 24 MP baseline JPEG would need 72 MB decoded; 1/8-scale decoding needs ~1 MB."""
    path = tmp_path / "big.jpg"
    Image.linear_gradient("L").resize((6000, 4000)).convert("RGB").save(path, quality=90)
    script = (
        "import resource, sys\n"
        "from evidence.images import inspect_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "inspect_image(sys.argv[1])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO,
                            capture_output=True, text=True, check=True)
    growth_kib = int(result.stdout.strip())
    assert growth_kib < 24 * 1024


# --- exif_summary ---------------------------------------------------------------------------

def test_exif_summary_reads_camera_time_gps_orientation(tmp_path):
    path = save(noise(), tmp_path / "cam.jpg", "JPEG", exif=camera_exif(orientation=6))
    assert exif_summary(path) == {
        "make": "Acme",
        "model": "FieldCam 3",
        "orientation": 6,
        "datetime_original": "2024-05-01T10:30:00+08:00",
        "gps_lat": round(31 + 13 / 60 + 48 / 3600, 7),
        "gps_lon": -round(121 + 28 / 60 + 12 / 3600, 7),
    }


def test_exif_summary_without_offset_is_naive(tmp_path):
    path = save(noise(), tmp_path / "cam.jpg", "JPEG", exif=camera_exif(gps=False, offset=None))
    summary = exif_summary(path)
    assert summary["datetime_original"] == "2024-05-01T10:30:00"
    assert "gps_lat" not in summary


def test_exif_summary_of_png(tmp_path):
    path = save(noise(), tmp_path / "cam.png", "PNG", exif=camera_exif())
    assert exif_summary(path)["make"] == "Acme"


def test_exif_summary_drops_malformed_fields(tmp_path):
    exif = camera_exif(orientation=9)
    exif[ExifTags.Base.Make] = "M" * 60_000
    exif[ExifTags.Base.Model] = "\x00\x00\x07"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    details[ExifTags.Base.OffsetTimeOriginal] = "+99:99"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({
        ExifTags.GPS.GPSLatitude: (TiffImagePlugin.IFDRational(1, 0), 0.0, 0.0),
        ExifTags.GPS.GPSLongitudeRef: "Q",
    })
    path = tmp_path / "odd.jpg"
    noise().save(path, "JPEG", exif=exif.tobytes())
    summary = exif_summary(path)
    assert summary == {"make": "M" * 128}


def test_exif_summary_of_oversized_png_exif(tmp_path):
    exif = camera_exif()
    exif[ExifTags.Base.Model] = "X" * (2 << 20)
    path = save(noise(), tmp_path / "big-exif.png", "PNG", exif=exif)
    summary = exif_summary(path)
    assert summary["model"] == "X" * 128 and summary["make"] == "Acme"


def test_exif_summary_bad_offset_keeps_wall_time(tmp_path):
    exif = camera_exif(gps=False, offset="+99:99")
    path = save(noise(), tmp_path / "cam.jpg", "JPEG", exif=exif)
    assert exif_summary(path)["datetime_original"] == "2024-05-01T10:30:00"


@pytest.mark.parametrize("payload", [
    b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 100,
    b"Exif\x00\x00II*\x00" + struct.pack("<I", 0xFFFFFF00),
    b"Exif\x00\x00MM\x00*" + struct.pack(">IH", 8, 0xFFFF)
    + b"\x01\x0f\x00\x02\xff\xff\xff\xff\x00\x00\x00\x08",
    b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x25\x88\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00",
    b"Exif\x00\x00",
])
def test_exif_summary_never_raises_on_hostile_exif(tmp_path, payload):
    path = _write(tmp_path, jpeg_with_app1(payload), "hostile.jpg")
    summary = exif_summary(path)
    assert isinstance(summary, dict)
    assert inspect_image(path).format == "JPEG"


@pytest.mark.parametrize("data", [b"", b"MZ" * 10, png_bomb(100_000, 100_000)])
def test_exif_summary_of_non_images_is_empty(tmp_path, data):
    assert exif_summary(_write(tmp_path, data, "x.jpg")) == {}
    assert exif_summary(tmp_path / "missing.jpg") == {}


# --- thumbnails ---------------------------------------------------------------------------

def _no_metadata(path: Path) -> None:
    raw = path.read_bytes()
    assert b"Exif" not in raw and b"GPS" not in raw and b"Acme" not in raw
    assert b"ICC_PROFILE" not in raw and b"http://ns.adobe.com/xap" not in raw
    with Image.open(path) as img:
        assert not img.getexif()
        assert "exif" not in img.info and "icc_profile" not in img.info


def test_thumbnail_strips_exif_and_gps(tmp_path):
    src = save(noise((1200, 900)), tmp_path / "cam.jpg", "JPEG", exif=camera_exif(),
               icc_profile=b"fake-icc" * 10)
    info = make_thumbnail(src, tmp_path / "thumb.jpg")
    assert (info.width, info.height, info.media_type) == (512, 384, "image/jpeg")
    assert info.size == (tmp_path / "thumb.jpg").stat().st_size
    assert info.source == ImageInfo(1200, 900, "JPEG")
    _no_metadata(tmp_path / "thumb.jpg")


@pytest.mark.parametrize("orientation, top_colour", [(1, None), (6, "red"), (8, "blue")])
def test_thumbnail_applies_orientation(tmp_path, orientation, top_colour):
    src = save(halves(), tmp_path / "o.jpg", "JPEG", exif=camera_exif(orientation=orientation))
    info = make_thumbnail(src, tmp_path / "t.jpg", max_side=100)
    with Image.open(tmp_path / "t.jpg") as thumb:
        thumb = thumb.convert("RGB")
        if top_colour is None:
            assert (info.width, info.height) == (100, 50)
            assert thumb.getpixel((10, 25))[0] > 200
        else:
            assert (info.width, info.height) == (50, 100)
            red, _, blue = thumb.getpixel((25, 10))
            assert (red > 200) if top_colour == "red" else (blue > 200)


def test_thumbnail_of_transparent_png_is_flattened_on_white(tmp_path):
    src = save(Image.new("RGBA", (300, 300), (0, 0, 0, 0)), tmp_path / "a.png", "PNG")
    info = make_thumbnail(src, tmp_path / "t.jpg", max_side=64)
    assert (info.width, info.height) == (64, 64)
    with Image.open(tmp_path / "t.jpg") as thumb:
        assert thumb.mode == "RGB" and min(thumb.getpixel((32, 32))) > 240


def test_small_images_are_not_upscaled(tmp_path):
    src = save(noise((40, 30)), tmp_path / "s.png", "PNG")
    assert make_thumbnail(src, tmp_path / "t.jpg").width == 40


@pytest.mark.parametrize("keep", [0.5, 0.9])
@pytest.mark.parametrize("max_side", [16, 64, 512])
def test_thumbnail_is_also_an_integrity_check(tmp_path, keep, max_side):
    """Ingest decodes a photo once, through make_thumbnail; it must refuse what inspect does."""
    data = _jpeg(tmp_path)
    src = _write(tmp_path, data[: int(len(data) * keep)], "cut.jpg")
    with pytest.raises(CorruptMedia):
        make_thumbnail(src, tmp_path / "t.jpg", max_side=max_side)
    rows = _png_rows()
    bad_png = _write(tmp_path, png_from_rows(16, 8, rows[:-17]), "short.png")
    with pytest.raises(CorruptMedia):
        make_thumbnail(bad_png, tmp_path / "t.jpg", max_side=max_side)


# --- redaction ----------------------------------------------------------------------------

def _outside_mask(size, regions) -> Image.Image:
    mask = Image.new("L", size, 255)
    for r in regions:
        mask.paste(0, (r.x, r.y, r.x + r.width, r.y + r.height))
    return mask


def _diff_stats(a: Image.Image, b: Image.Image, mask: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return ImageStat.Stat(diff, mask).mean[0]


@pytest.mark.parametrize("mode", ["blur", "black"])
def test_png_redaction_changes_only_the_regions(tmp_path, mode):
    original = noise((200, 120))
    src = save(original, tmp_path / "o.png", "PNG")
    regions = [Region(10, 10, 50, 40), Region(150, 60, 50, 60)]
    info = redact(src, tmp_path / "r.png", regions, mode)
    assert (info.width, info.height, info.media_type, info.mode) == (200, 120, "image/png", mode)
    assert info.regions == tuple(regions)
    with Image.open(tmp_path / "r.png") as out:
        assert out.format == "PNG"
        out = out.convert("RGB")
        outside = _outside_mask(original.size, regions)
        assert ImageChops.difference(
            Image.composite(out, original, outside), original
        ).getbbox() is None or _diff_stats(out, original, outside) == 0
        for r in regions:
            inside = original.crop((r.x, r.y, r.x + r.width, r.y + r.height))
            changed = out.crop((r.x, r.y, r.x + r.width, r.y + r.height))
            stat = ImageStat.Stat(ImageChops.difference(inside, changed).convert("L"))
            assert stat.mean[0] > 30
            if mode == "black":
                assert changed.getextrema() == ((0, 0), (0, 0), (0, 0))
            else:
                assert max(ImageStat.Stat(changed.convert("L")).stddev) < 20


def test_jpeg_redaction_keeps_outside_pixels_and_strips_exif(tmp_path):
    original = noise((320, 240))
    src = save(original, tmp_path / "o.jpg", "JPEG", quality=98, subsampling=0, exif=camera_exif())
    with Image.open(src) as decoded:
        original = decoded.convert("RGB")
    region = Region(100, 80, 64, 64)
    info = redact(src, tmp_path / "r.jpg", [{"x": 100, "y": 80, "width": 64, "height": 64}], "blur")
    assert info.media_type == "image/jpeg" and info.regions == (region,)
    with Image.open(tmp_path / "r.jpg") as out:
        assert out.format == "JPEG"
        out = out.convert("RGB")
    outside = _outside_mask(original.size, [region])
    inside = ImageChops.invert(outside)
    assert _diff_stats(out, original, outside) < 1
    assert _diff_stats(out, original, inside) > 30
    _no_metadata(tmp_path / "r.jpg")


def test_redaction_coordinates_are_those_a_viewer_sees(tmp_path):
    src = save(halves((400, 200)), tmp_path / "o.png", "PNG", exif=camera_exif(orientation=6))
    info = redact(src, tmp_path / "r.png", [Region(0, 0, 200, 100)], "black")
    assert (info.width, info.height) == (200, 400)
    with Image.open(tmp_path / "r.png") as out:
        assert out.size == (200, 400)
        assert out.getpixel((50, 50))[:3] == (0, 0, 0)
        assert out.getpixel((50, 150))[:3] == (255, 0, 0)
        assert out.getpixel((50, 350))[:3] == (0, 0, 255)
        assert not out.getexif()
    _no_metadata(tmp_path / "r.png")


@pytest.mark.parametrize("regions, mode", [
    ([Region(0, 0, 65, 10)], "black"),
    ([Region(60, 0, 5, 10)], "black"),
    ([Region(0, 40, 10, 9)], "black"),
    ([Region(-1, 0, 10, 10)], "black"),
    ([Region(0, 0, 0, 10)], "black"),
    ([Region(0, 0, True, 10)], "black"),
    ([Region(0.5, 0, 10, 10)], "blur"),
    ([{"x": 0, "y": 0, "width": 10}], "blur"),
    ([], "blur"),
    ([Region(0, 0, 10, 10)], "pixelate"),
])
def test_invalid_regions_are_refused(tmp_path, regions, mode):
    src = save(noise((64, 48)), tmp_path / "o.png", "PNG")
    with pytest.raises(InvalidRegion) as caught:
        redact(src, tmp_path / "r.png", regions, mode)
    assert caught.value.code == "invalid_region"
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("mode", ["P", "LA", "L", "RGBA", "I;16"])
def test_redaction_handles_png_modes(tmp_path, mode):
    src = save(noise((64, 48)).convert(mode), tmp_path / "o.png", "PNG")
    for redaction in ("blur", "black"):
        info = redact(src, tmp_path / f"r-{redaction}.png", [Region(8, 8, 16, 16)], redaction)
        assert info.media_type == "image/png"
