"""Photo ingest cost: our media pipeline against the bare Pillow steps it wraps.

Generates a 4000x3000 photo-like JPEG with EXIF (GPS, capture time, orientation), then times

  ours:     spool_stream (copy + SHA-256 + MD5) -> screen_media (sniff, kind, polyglot)
            -> exif_summary -> make_thumbnail(512), whose reduced-scale decode of every byte
            is the integrity check that `inspect_image` would otherwise repeat (also timed)
  baseline: hashlib.sha256 over the file -> Image.open -> getexif -> thumbnail(512) -> save

and prints the median of several runs for each and their ratio (target <= 1.3).
Run: python bench/ingest_media_bench.py [--runs N]
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evidence.images import exif_summary, inspect_image, make_thumbnail  # noqa: E402
from evidence.media import screen_media  # noqa: E402
from evidence.spool import spool_stream  # noqa: E402

WIDTH, HEIGHT = 4000, 3000


def make_photo(path: Path) -> None:
    """Smooth shading, shapes and sensor-like grain: compresses like a real 12 MP photo."""
    base = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    img = Image.merge("RGB", (base, base.transpose(Image.Transpose.ROTATE_180),
                              base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(img)
    for i in range(60):
        x, y = (i * 397) % WIDTH, (i * 211) % HEIGHT
        colour = ((i * 40) % 255, (i * 90) % 255, (i * 15) % 255)
        draw.ellipse((x, y, x + 300, y + 200), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(3))
    grain = Image.merge("RGB", [Image.effect_noise((WIDTH, HEIGHT), 40 + 10 * i) for i in range(3)])
    img = Image.blend(img, grain, 0.3)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme"
    exif[ExifTags.Base.Model] = "FieldCam 3"
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:30:00"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (31.0, 13.0, 48.0), 3: "E",
                                               4: (121.0, 28.0, 12.0)})
    img.save(path, "JPEG", quality=92, exif=exif)


def ours(photo: Path, work: Path, separate_inspect: bool = False) -> None:
    """As ingest runs it: the thumbnail decode is the integrity check (ThumbnailInfo.source).

    With `separate_inspect`, `inspect_image` runs as well, as it would for a caller that
    wants the check without a thumbnail: the photo is then decoded twice.
    """
    with photo.open("rb") as upload:
        spooled = spool_stream(upload, work, max_bytes=500 << 20)
    with spooled:
        screen_media(spooled.path, "photo")
        if separate_inspect:
            inspect_image(spooled.path)
        exif_summary(spooled.path)
        make_thumbnail(spooled.path, work / "ours-thumb.jpg")


def ours_separate_inspect(photo: Path, work: Path) -> None:
    ours(photo, work, separate_inspect=True)


def baseline(photo: Path, work: Path) -> None:
    digest = hashlib.sha256()
    with photo.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    with Image.open(photo) as img:
        img.getexif()
        img.thumbnail((512, 512))
        img.save(work / "plain-thumb.jpg", "JPEG", quality=85)


def timed(step, *args) -> float:
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fieldproof-bench-") as tmp:
        work = Path(tmp)
        photo = work / "photo.jpg"
        make_photo(photo)
        print(f"photo: {WIDTH}x{HEIGHT} JPEG with EXIF, {photo.stat().st_size / 1e6:.1f} MB")
        ours(photo, work)
        baseline(photo, work)
        ours_times, base_times, separate_times = [], [], []
        for _ in range(options.runs):
            base_times.append(timed(baseline, photo, work))
            ours_times.append(timed(ours, photo, work))
            separate_times.append(timed(ours_separate_inspect, photo, work))
        base_median = statistics.median(base_times)
        ours_median = statistics.median(ours_times)
        separate_median = statistics.median(separate_times)
        ratio = ours_median / base_median
        rows = [
            ("baseline  hashlib + open + getexif + thumbnail + save", base_median, ""),
            ("ours      spool(sha256+md5) + screen + exif + thumbnail*", ours_median,
             f"ratio {ratio:.2f} (target <= 1.3)"),
            ("ours      the same plus a separate inspect_image", separate_median,
             f"ratio {separate_median / base_median:.2f}"),
        ]
        for label, seconds, note in rows:
            print(f"{label:58s} {seconds * 1e3:7.1f} ms  {note}")
        print("* make_thumbnail decodes every byte and refuses truncation and bombs, as"
              f" inspect_image does; medians of {options.runs} runs")
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
