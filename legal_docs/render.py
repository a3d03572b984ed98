"""Render a PacketContent into PDF/A-3b volumes with continuous Bates numbers.

How the work is split, and why:

* WeasyPrint lays out only text. Its per-page cost is in layout, and pushing
  hundreds of photos through it costs time and memory for nothing, so every
  photo is a *plate*: an empty box in the HTML whose position WeasyPrint
  reports (``Page.anchors``); pikepdf then draws the JPEG there as a
  DCTDecode image, copying its bytes without re-encoding when it is already
  print-sized (``PRINT_MAX_EDGE``), else after one downscale.
* Bates numbers are CSS margin boxes (``counter(page)`` in a zero-padded
  ``@counter-style``, reset to each piece's first number), so WeasyPrint sets
  them as real, searchable text in an embedded font; stamping afterwards
  would need a second font path to stay PDF/A.
* The packet is laid out in pieces (front matter, exhibit chunks of at most
  ``CHUNK_EXHIBITS``, back matter), each its own small document, so layout
  memory stays bounded whatever the packet's size. The front matter (exhibit
  index with Bates ranges) is laid out first with placeholders of the same
  width to learn its page count, then again with the real numbers once the
  exhibits are placed; a changed page count repeats the placement.
* Volumes are planned before layout from byte estimates (plate bytes + text
  overhead), exhibits never split; pikepdf joins each volume's pieces, draws
  the plates, writes one outline (a bookmark per section and exhibit) and
  attaches ``manifest.json`` as a PDF/A-3 associated file (``/AF``).
* PDF exhibits are rasterised with ``pdftoppm`` (first ``MAX_RASTER_PAGES``
  pages) so the court sees them in the packet; the original PDF stays in the
  bundle. If it cannot be rasterised a page says so and where the original is.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pikepdf
from markupsafe import Markup
from PIL import Image, ImageOps

from legal_docs.bates import bates_number, bates_range, plan_volumes
from legal_docs.content import Exhibit, PacketContent
from legal_docs.manifest import (
    BundleFile,
    ExhibitPlacement,
    Pagination,
    VolumePlacement,
    build_manifest,
    exhibit_file_name,
)

__all__ = [
    "DEFAULT_MAX_VOLUME_BYTES",
    "RenderedPacket",
    "Volume",
    "render_packet",
]

DEFAULT_MAX_VOLUME_BYTES = 25_000_000
PRINT_MAX_EDGE = 2400          # px; about 300 dpi across the printable width of A4
PRINT_JPEG_QUALITY = 85
RASTER_DPI = 150
MAX_RASTER_PAGES = 40
MAX_NOTE_CHARS = 20_000
CHUNK_EXHIBITS = 40
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "legal"
_PX_TO_PT = 0.75
_TEXT_PAGE_ESTIMATE = 30_000
_FONT_ESTIMATE = {"en": 150_000, "zh-CN": 700_000}


@dataclass(frozen=True)
class Plate:
    """A JPEG to draw into a laid-out box: the print copy of a photo or of one PDF page."""

    path: Path
    width: int
    height: int
    colorspace: str
    size: int


@dataclass(frozen=True)
class _Prepared:
    exhibit: Exhibit
    plates: tuple[Plate, ...]
    note_text: str | None = None
    source_pages: int | None = None
    unrendered: bool = False

    @property
    def bundle_name(self) -> str:
        return exhibit_file_name(self.exhibit)

    @property
    def estimate(self) -> int:
        return sum(p.size for p in self.plates) + _TEXT_PAGE_ESTIMATE * (1 + len(self.plates) // 2)


@dataclass(frozen=True)
class Volume:
    """One written PDF volume."""

    number: int
    path: Path
    pages: int
    first: int
    last: int
    size: int
    sha256: str
    bates_first: str
    bates_last: str


@dataclass(frozen=True)
class RenderedPacket:
    """The volumes, where every exhibit landed, and the manifest embedded in each volume."""

    volumes: tuple[Volume, ...]
    pagination: Pagination
    embedded_manifest: bytes
    warnings: tuple[str, ...]
    bates_prefix: str

    @property
    def pages(self) -> int:
        return sum(v.pages for v in self.volumes)

    def exhibit_bates(self, number: int) -> tuple[str, str]:
        """``(bates_first, bates_last)`` of exhibit ``number``."""
        placement = next(p for p in self.pagination.exhibits if p.number == number)
        return (bates_number(self.bates_prefix, placement.first), bates_number(self.bates_prefix, placement.last))


@dataclass
class _Piece:
    """One laid-out WeasyPrint document, written as a text-only PDF/A piece."""

    path: Path
    pages: int
    bookmarks: list
    plates: list[tuple[int, tuple[float, float, float, float], Plate]] = field(default_factory=list)
    continues: bool = False


# --- preparing print copies -------------------------------------------------------------


def _jpeg_plate(image_path: Path, out_dir: Path, name: str) -> Plate:
    """The original JPEG when it can go into the PDF as it is, else a print-sized copy."""
    with Image.open(image_path) as image:
        orientation = image.getexif().get(0x0112, 1)
        if (image.format == "JPEG" and image.mode in ("RGB", "L") and orientation == 1
                and max(image.size) <= PRINT_MAX_EDGE):
            return Plate(image_path, image.width, image.height,
                         "DeviceRGB" if image.mode == "RGB" else "DeviceGray", image_path.stat().st_size)
        image.draft("RGB", (PRINT_MAX_EDGE, PRINT_MAX_EDGE))
        copy = ImageOps.exif_transpose(image)
        copy.thumbnail((PRINT_MAX_EDGE, PRINT_MAX_EDGE))
        if copy.mode not in ("RGB", "L"):
            copy = copy.convert("RGB")
        target = out_dir / f"{name}.jpg"
        copy.save(target, "JPEG", quality=PRINT_JPEG_QUALITY)
        return Plate(target, copy.width, copy.height,
                     "DeviceRGB" if copy.mode == "RGB" else "DeviceGray", target.stat().st_size)


def _rasterise_pdf(exhibit: Exhibit, out_dir: Path) -> tuple[tuple[Plate, ...], int | None]:
    try:
        with pikepdf.open(exhibit.path) as source:
            total = len(source.pages)
    except (pikepdf.PdfError, OSError):
        return (), None
    if shutil.which("pdftoppm") is None or total == 0:
        return (), total
    prefix = out_dir / f"pdf{exhibit.number:04d}"
    pages = min(total, MAX_RASTER_PAGES)
    result = subprocess.run(
        ["pdftoppm", "-jpeg", "-jpegopt", "quality=80", "-r", str(RASTER_DPI), "-f", "1", "-l", str(pages),
         str(exhibit.path), str(prefix)], capture_output=True, timeout=300, check=False)
    outputs = sorted(out_dir.glob(f"{prefix.name}-*.jpg"))
    if result.returncode != 0 or len(outputs) != pages:
        return (), total
    return tuple(_jpeg_plate(path, out_dir, path.stem + "p") for path in outputs), total


def _prepare(exhibit: Exhibit, out_dir: Path) -> _Prepared:
    if exhibit.kind == "photo" or exhibit.media_type.startswith("image/"):
        try:
            return _Prepared(exhibit, (_jpeg_plate(exhibit.path, out_dir, f"ex{exhibit.number:04d}"),))
        except (OSError, Image.DecompressionBombError, ValueError):
            return _Prepared(exhibit, (), unrendered=True)
    if exhibit.media_type == "application/pdf":
        plates, total = _rasterise_pdf(exhibit, out_dir)
        return _Prepared(exhibit, plates, source_pages=total, unrendered=not plates)
    if exhibit.media_type.startswith("text/"):
        with open(exhibit.path, "rb") as handle:
            text = handle.read(MAX_NOTE_CHARS * 4).decode("utf-8", errors="replace")[:MAX_NOTE_CHARS]
        return _Prepared(exhibit, (), note_text=text)
    return _Prepared(exhibit, ())


# --- layout ------------------------------------------------------------------------------


def _css_string(value: object) -> Markup:
    """A CSS string literal that is safe inside <style>."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ").replace("<", "\\3C ")
    return Markup(f'"{text}"')


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = _css_string
    env.filters["utc"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["local"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S %z")
    env.filters["metres"] = lambda value: "—" if value is None else f"{value:,.0f} m"
    return env


def load_weasyprint():
    """Import WeasyPrint and undo its import-time side effect.

    Importing it sets PIL's `ImageFile.LOAD_TRUNCATED_IMAGES` for the whole process; in the
    embedded default packets are built in the web process, whose photo ingest must keep
    refusing truncated files. Packets draw no images through WeasyPrint, so nothing here needs it.
    """
    from PIL import ImageFile

    import weasyprint

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return weasyprint


class _Layout:
    """Lays out the pieces of one packet with one Jinja environment and one font configuration."""

    def __init__(self, content: PacketContent, work_dir: Path) -> None:
        load_weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        self.content = content
        self.work_dir = work_dir
        self.template = _environment().get_template("packet.html")
        self.fonts = FontConfiguration()
        self.counter = 0

    def render(self, piece: str, start: int, **context):
        from weasyprint import HTML

        html = self.template.render(content=self.content, piece=piece, start=start,
                                    lang=self.content.language, family=self.content.jurisdiction_family,
                                    bates=lambda n: bates_number(self.content.bates_prefix, n),
                                    bates_range=lambda a, b: bates_range(self.content.bates_prefix, a, b),
                                    **context)
        return HTML(string=html, base_url=str(TEMPLATES_DIR)).render(font_config=self.fonts)

    def write(self, document, **extra) -> _Piece:
        self.counter += 1
        path = self.work_dir / f"piece{self.counter:04d}.pdf"
        document.write_pdf(path, pdf_variant="pdf/a-3b")
        return _Piece(path=path, pages=len(document.pages), bookmarks=document.make_bookmark_tree(), **extra)


def _page_of(document, anchor: str) -> int:
    for index, page in enumerate(document.pages):
        if anchor in page.anchors:
            return index
    raise LookupError(f"anchor {anchor} was not laid out")


def _lay_out_exhibits(layout: _Layout, chunk: Sequence[_Prepared], start: int, *, volume: int, volumes: int,
                      cover: bool, first_volume: bool, exhibit_numbers: tuple[int, int]):
    document = layout.render("exhibits", start, items=chunk, volume=volume, volumes=volumes,
                             volume_cover=cover, exhibits_heading=first_volume and cover,
                             volume_exhibits=exhibit_numbers)
    starts = [_page_of(document, f"exhibit-{item.exhibit.number}") for item in chunk]
    ends = [s - 1 for s in starts[1:]] + [len(document.pages) - 1]
    spans = {item.exhibit.number: (start + s, start + e) for item, s, e in zip(chunk, starts, ends)}
    plates = []
    for item in chunk:
        for position, plate in enumerate(item.plates):
            anchor = f"plate-{item.exhibit.number}-{position}"
            page = _page_of(document, anchor)
            plates.append((page, document.pages[page].anchors[anchor], plate))
    return document, spans, plates


def _chunks(items: Sequence[_Prepared], size: int) -> list[Sequence[_Prepared]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [items]


# --- assembling volumes ------------------------------------------------------------------


def _draw_plate(pdf: pikepdf.Pdf, page: pikepdf.Page, rect: tuple[float, float, float, float],
                plate: Plate, name: str) -> None:
    """Draw the JPEG, aspect kept, centred at the top of the laid-out box."""
    image = pikepdf.Stream(pdf, plate.path.read_bytes())
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = plate.width, plate.height, 8
    image.ColorSpace, image.Filter = pikepdf.Name(f"/{plate.colorspace}"), pikepdf.Name.DCTDecode
    page_height = float(page.mediabox[3])
    x0, y0, x1, y1 = (value * _PX_TO_PT for value in rect)
    scale = min((x1 - x0) / plate.width, (y1 - y0) / plate.height)
    width, height = plate.width * scale, plate.height * scale
    left = x0 + ((x1 - x0) - width) / 2
    bottom = page_height - y0 - height
    # WeasyPrint shares one /Resources among a piece's pages: give this page its own, so each
    # page lists only the images it draws.
    resources = pikepdf.Dictionary({key: value for key, value in page.Resources.items()})
    resources.XObject = pikepdf.Dictionary({key: value for key, value in resources.get("/XObject", {}).items()})
    resources.XObject[f"/{name}"] = image
    page.obj.Resources = resources
    resource = f"/{name}"
    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    drawing = f"\nQ\nq {width:.3f} 0 0 {height:.3f} {left:.3f} {bottom:.3f} cm {resource} Do Q\n"
    page.contents_add(pikepdf.Stream(pdf, drawing.encode("ascii")), prepend=False)


def _outline_items(tree, offset: int) -> list[pikepdf.OutlineItem]:
    items = []
    for label, (page, _x, _y), children, _state in tree:
        item = pikepdf.OutlineItem(label, offset + page)
        item.children.extend(_outline_items(children, offset))
        items.append(item)
    return items


def _assemble(pieces: Sequence[_Piece], target: Path, manifest: bytes, content: PacketContent) -> None:
    with pikepdf.open(pieces[0].path) as pdf:
        others = [pikepdf.open(piece.path) for piece in pieces[1:]]
        try:
            for other in others:
                pdf.pages.extend(other.pages)
            offset, serial = 0, 0
            for piece in pieces:
                for page_index, rect, plate in piece.plates:
                    serial += 1
                    _draw_plate(pdf, pdf.pages[offset + page_index], rect, plate, f"FPPlate{serial}")
                offset += piece.pages
            with pdf.open_outline() as outline:
                outline.root.clear()
                offset = 0
                for piece in pieces:
                    items = _outline_items(piece.bookmarks, offset)
                    if piece.continues and outline.root:
                        outline.root[-1].children.extend(items)
                    else:
                        outline.root.extend(items)
                    offset += piece.pages
            spec = pikepdf.AttachedFileSpec(
                pdf, manifest, filename="manifest.json", mime_type="application/json",
                description="Packet manifest (RFC 8785 JSON): file hashes, custody leaves and inclusion proofs",
                creation_date=content.generated_at.strftime("D:%Y%m%d%H%M%SZ"),
                mod_date=content.generated_at.strftime("D:%Y%m%d%H%M%SZ"),
                relationship=pikepdf.Name.Data)
            pdf.attachments["manifest.json"] = spec
            pdf.Root.AF = pikepdf.Array([spec.obj])
            pdf.save(target)
        finally:
            for other in others:
                other.close()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def volume_file_name(content: PacketContent, number: int) -> str:
    """The bundle path of a volume: ``pdf/<prefix>_vol01.pdf``."""
    return f"pdf/{content.bates_prefix}_vol{number:02d}.pdf"


def render_packet(content: PacketContent, out_dir: Path | str, *, max_volume_bytes: int = DEFAULT_MAX_VOLUME_BYTES,
                  start_number: int = 1, work_dir: Path | str | None = None) -> RenderedPacket:
    """Render ``content`` into PDF/A-3b volumes under ``out_dir``; Bates numbers start at ``start_number``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="packet-") as scratch:
        scratch_dir = Path(scratch)
        return _render(content, out_dir, scratch_dir, max_volume_bytes, start_number)


def _render(content: PacketContent, out_dir: Path, scratch: Path, limit: int, start: int) -> RenderedPacket:
    warnings = list(content.warnings)
    prepared = [_prepare(exhibit, scratch) for exhibit in content.exhibits]
    for item in prepared:
        if item.unrendered:
            warnings.append(f"exhibit {item.exhibit.number} could not be shown in the PDF; "
                            f"its original is in the bundle as {exhibit_file_name(item.exhibit)}")
    font = _FONT_ESTIMATE[content.language]
    plan = plan_volumes([item.estimate for item in prepared], int(limit * 0.97), volume_overhead=font,
                        first_overhead=100_000 + 1_000 * (len(prepared) + len(content.chronology)),
                        last_overhead=60_000 + 1_000 * len(prepared))
    layout = _Layout(content, scratch)
    volume_of = {item.exhibit.number: v + 1 for v, group in enumerate(plan) for item in
                 (prepared[i] for i in group)}

    def front(spans, volumes_spans, total):
        return layout.render("front", start, items=prepared, spans=spans, volume_of=volume_of,
                             volume_spans=volumes_spans, total_last=total, volumes=len(plan))

    placeholder = {item.exhibit.number: (start, start + 1) for item in prepared}
    front_pages = len(front(placeholder, [(start, start + 1)] * len(plan), start + 1).pages)
    for _attempt in range(4):
        volume_pieces: list[list[_Piece]] = [[] for _ in plan]
        spans: dict[int, tuple[int, int]] = {}
        number = start + front_pages
        for v, group in enumerate(plan):
            items = [prepared[i] for i in group]
            numbers = (items[0].exhibit.number, items[-1].exhibit.number) if items else (0, 0)
            for c, chunk in enumerate(_chunks(items, CHUNK_EXHIBITS)):
                if not chunk and v == 0:
                    continue
                document, chunk_spans, plates = _lay_out_exhibits(
                    layout, chunk, number, volume=v + 1, volumes=len(plan), cover=c == 0,
                    first_volume=v == 0, exhibit_numbers=numbers)
                spans.update(chunk_spans)
                volume_pieces[v].append(layout.write(document, plates=plates, continues=c > 0))
                number += len(document.pages)
        back = layout.render("back", number, items=prepared, spans=spans, volume_of=volume_of)
        volume_pieces[-1].append(layout.write(back))
        last = number + len(back.pages) - 1
        volume_spans = []
        first = start
        for v, pieces in enumerate(volume_pieces):
            pages = sum(p.pages for p in pieces) + (front_pages if v == 0 else 0)
            volume_spans.append((first, first + pages - 1))
            first += pages
        final_front = front(spans, volume_spans, last)
        if len(final_front.pages) == front_pages:
            break
        front_pages = len(final_front.pages)
    else:  # pragma: no cover - the front matter's length does not depend on digit values
        raise RuntimeError("front matter page count did not settle")
    volume_pieces[0].insert(0, layout.write(final_front))

    pagination = Pagination(
        exhibits=tuple(ExhibitPlacement(n, volume_of[n], *spans[n]) for n in sorted(spans)),
        volumes=tuple(VolumePlacement(v + 1, volume_file_name(content, v + 1), b - a + 1, a, b)
                      for v, (a, b) in enumerate(volume_spans)),
    )
    exhibit_files = [BundleFile(exhibit_file_name(e), e.sha256, e.size, "exhibit") for e in content.exhibits]
    manifest = build_manifest(content, exhibit_files, pagination)
    volumes = []
    for v, pieces in enumerate(volume_pieces):
        target = out_dir / Path(volume_file_name(content, v + 1)).name
        _assemble(pieces, target, manifest, content)
        a, b = volume_spans[v]
        size = target.stat().st_size
        if size > limit and len(plan[v]) > 1:
            warnings.append(f"volume {v + 1} is {size} bytes, over the {limit}-byte limit")
        volumes.append(Volume(v + 1, target, b - a + 1, a, b, size, _sha256_file(target),
                              bates_number(content.bates_prefix, a), bates_number(content.bates_prefix, b)))
    return RenderedPacket(tuple(volumes), pagination, manifest, tuple(warnings), content.bates_prefix)
