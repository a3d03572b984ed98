"""Render a PacketContent into PDF/A-3b volumes with continuous Bates numbers.

One layout engine: WeasyPrint lays out every page of text from ``templates/legal/`` and its
stylesheet, ``packet.css``, the only source of layout. pikepdf joins the laid-out pieces, draws
the photos into the empty boxes the stylesheet left for them, draws the running heads (also laid out
by WeasyPrint) over every page and the stamps of the front and back matter, writes the outline and
attaches the manifest.

* The packet is made in pieces, each its own small WeasyPrint document, so memory stays bounded
  and pieces lay out in parallel in worker processes (the ``render_workers`` setting,
  ``FIELDPROOF_RENDER_WORKERS``; default min(2, CPUs)).
* Phase 1 lays out, once each, what cannot know its page numbers yet: the front matter (summary and
  chronology; the exhibit index, a piece of its own so both workers start at once), the back matter
  (declaration, hash appendix, how to verify) and the running heads (one page, drawn on every page:
  what repeats is laid out once). The Bates cells of the index and the appendix are boxes left
  empty, as the photos' are.
* Phase 2: exhibits and covers print their own Bates numbers (a margin box on the page counter, which
  the template resets to the piece's first number). A chunk of ``CHUNK_EXHIBITS`` exhibits is laid out
  on a first number reckoned from the front matter's pages (now known), each cover guessed at
  ``COVER_PAGES_GUESS`` pages and each earlier exhibit's pages predicted from its structure
  (``_predicted_pages``: a photo one page, a PDF one per plate after its caption, long custody or notes
  more). The packet is numbered on those predictions, and each volume is assembled in a worker as soon
  as its chunks are laid out: its cover (the packet's, or the volume's) is laid out there, and for the
  front and back matter a *stamp document*, one page per page with its Bates number (written by the
  template, placed by the stylesheet in the bottom margin) and the index and appendix ranges in boxes
  placed where the empty cells landed. The volumes are kept only when every exhibit took the pages
  predicted and every cover the pages guessed: otherwise the packet is numbered again on what was
  laid out, the chunks whose first number changed are laid out again (a chunk's pages do not depend
  on the numbers it prints, so once is enough) and the volumes assembled again. Correctness never
  rests on a prediction; a wrong one costs a second layout of the chunks after it.
* Photos are *plates*: the stylesheet gives each a box of fixed size; WeasyPrint reports where it
  landed (``Page.anchors``) and pikepdf draws the JPEG there as a DCTDecode image, copying its bytes
  when it is already print-sized (``PRINT_MAX_EDGE``), else after one downscale.
* Pieces are written uncompressed and each volume is compressed once as it is saved, with object
  streams (WeasyPrint's level-9 deflate of every piece cost half of writing a page). Resource names
  and the file /ID are fixed, so the same content gives the same bytes.
* Joined pieces each carry their own font subsets, which WeasyPrint tags by font name only; the
  assembly tags each font program by its own hash, so different subsets never share a tag
  (ISO 32000-1 §9.6.4) and identical ones share one program. Chinese subsets are cut down to the
  glyphs shown (``settle_fonts``), so a volume carries its photos and little else.
* Volumes are planned from byte estimates (plates + text + fonts), exhibits never split. A volume
  of several exhibits that comes out over the limit makes the packet be planned again on the
  measured overhead; a volume still over the limit is named in the packet's warnings.
* PDF exhibits are rasterised with ``pdftoppm`` (first ``MAX_RASTER_PAGES`` pages) so the court
  sees them in the packet; the original PDF stays in the bundle.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pikepdf
from markupsafe import Markup
from PIL import Image, ImageOps

from core.hashing import digest_file
from legal_docs.bates import DIGITS, bates_number, bates_range, plan_volumes
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
    "RENDER_LOCK",
    "RenderedPacket",
    "Volume",
    "render_packet",
]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "legal"
DEFAULT_MAX_VOLUME_BYTES = 25_000_000
PRINT_MAX_EDGE = 2400          # px; about 300 dpi across the printable width of A4
PRINT_JPEG_QUALITY = 85
RASTER_DPI = 150
MAX_RASTER_PAGES = 40
MAX_NOTE_CHARS = 20_000
CHUNK_EXHIBITS = 40           # exhibits per WeasyPrint document
RENDER_WORKERS = 0            # 0: the FIELDPROOF_RENDER_WORKERS setting, else min(2, CPUs)
PARALLEL_MIN_EXHIBITS = 24    # below this, worker start-up costs more than it saves
PLAN_ATTEMPTS = 4
COVER_PAGES_GUESS = 1         # pages of a volume's cover before it is laid out
_PX_TO_PT = 0.75
_TEXT_PAGE_ESTIMATE = 30_000
_FONT_ESTIMATE = {"en": 150_000, "zh-CN": 250_000}


@dataclass(frozen=True)
class Plate:
    """A JPEG to draw into a laid-out box: the print copy of a photo or of one PDF page."""

    path: Path
    width: int
    height: int
    colorspace: str
    size: int


@dataclass(frozen=True)
class PrintedExhibit:
    """An exhibit as the packet prints it: its plates, or its text, or why it cannot be shown."""

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
    """A laid-out WeasyPrint document written as a PDF/A piece, and what the assembly adds to it."""

    path: Path
    pages: int
    bookmarks: list
    plates: list[tuple[int, tuple[float, float, float, float], Plate]] = field(default_factory=list)
    cells: list[tuple[int, tuple[float, float, float, float], int, str]] = field(default_factory=list)
    continues: bool = False
    numbered: int | None = None   # the Bates number the piece printed on its first page; None: stamped


# --- print copies -------------------------------------------------------------------------


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


def _print_copy(exhibit: Exhibit, out_dir: Path) -> PrintedExhibit:
    if exhibit.kind == "photo" or exhibit.media_type.startswith("image/"):
        try:
            return PrintedExhibit(exhibit, (_jpeg_plate(exhibit.path, out_dir, f"ex{exhibit.number:04d}"),))
        except (OSError, Image.DecompressionBombError, ValueError):
            return PrintedExhibit(exhibit, (), unrendered=True)
    if exhibit.media_type == "application/pdf":
        plates, total = _rasterise_pdf(exhibit, out_dir)
        return PrintedExhibit(exhibit, plates, source_pages=total, unrendered=not plates)
    if exhibit.media_type.startswith("text/"):
        with open(exhibit.path, "rb") as handle:
            text = handle.read(MAX_NOTE_CHARS * 4).decode("utf-8", errors="replace")[:MAX_NOTE_CHARS]
        return PrintedExhibit(exhibit, (), note_text=text)
    return PrintedExhibit(exhibit, ())


# --- layout --------------------------------------------------------------------------------


def _css_string(value: object) -> Markup:
    """A CSS string literal that is safe inside <style>."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ").replace("<", "\\3C ")
    return Markup(f'"{text}"')


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment, one per process: templates compile once, not per build."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = _css_string
    env.filters["utc"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["local"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S %z")
    env.filters["metres"] = lambda value: "—" if value is None else f"{value:,.0f} m"
    return env


def labels(content: PacketContent):
    """The packet language's words (``<lang>/labels.html`` as a module)."""
    return _environment().get_template(f"{content.language}/labels.html").make_module({"content": content})


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
    """Lays out the pieces of one packet with one font configuration and the stylesheet parsed once."""

    def __init__(self, content: PacketContent, work_dir: Path) -> None:
        weasyprint = load_weasyprint()
        from weasyprint.css.counters import CounterStyle
        from weasyprint.text.fonts import FontConfiguration

        self.content, self.work_dir = content, work_dir
        self.template = _environment().get_template("packet.html")
        self.fonts, self.counters = FontConfiguration(), CounterStyle()
        style = _environment().get_template("packet.css").render(content=content, lang=content.language,
                                                                 digits=DIGITS)
        self.stylesheets = [weasyprint.CSS(string=style, font_config=self.fonts, counter_style=self.counters)]
        # Info and XMP dates come from this one value, at whole seconds, so they agree.
        self.created = content.generated_at.replace(microsecond=0).isoformat()

    def render(self, piece: str, numbered: int | None = None, **context):
        """Lay out ``piece``; ``numbered``: it prints its own Bates numbers, from this one."""
        from weasyprint import HTML

        prefix = self.content.bates_prefix
        html = self.template.render(content=self.content, piece=piece, lang=self.content.language, numbered=numbered,
                                    family=self.content.jurisdiction_family, created=self.created,
                                    bates=lambda n: bates_number(prefix, n),
                                    bates_range=lambda a, b: bates_range(prefix, a, b), **context)
        return HTML(string=html, base_url=str(TEMPLATES_DIR)).render(
            stylesheets=self.stylesheets, font_config=self.fonts, counter_style=self.counters,
            presentational_hints=False)

    def write(self, document, tag: str, **extra) -> _Piece:
        path = self.work_dir / f"{tag}.pdf"
        document.write_pdf(path, pdf_variant="pdf/a-3b", uncompressed_pdf=True)
        return _Piece(path=path, pages=len(document.pages), bookmarks=document.make_bookmark_tree(), **extra)


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- work that runs in this process or in a worker -----------------------------------------

_STATE: dict = {}


def _init_worker(content: PacketContent, printed: Sequence[PrintedExhibit], scratch: Path) -> None:
    """Per process: WeasyPrint through `load_weasyprint` only, one layout, the packet's inputs."""
    _STATE.clear()
    _STATE.update(layout=_Layout(content, scratch), printed=printed)


def _exhibit_chunk(tag: str, indices: Sequence[int], heading: bool, first: int):
    """Exhibits laid out with their Bates numbers from ``first``: their pages, where each starts and
    where its plates go. The page count does not depend on ``first``."""
    layout: _Layout = _STATE["layout"]
    chunk = [_STATE["printed"][i] for i in indices]
    document = layout.render("exhibits", numbered=first, items=chunk, exhibits_heading=heading)
    where: dict[str, tuple] = {}   # an element split over pages is an anchor on each: keep the first
    for index, page in enumerate(document.pages):
        for name, rect in page.anchors.items():
            where.setdefault(name, (index, rect))
    starts = [where[f"exhibit-{item.exhibit.number}"][0] for item in chunk]
    ends = [s - 1 for s in starts[1:]] + [len(document.pages) - 1]
    plates = [(*where[f"plate-{item.exhibit.number}-{position}"], plate)
              for item in chunk for position, plate in enumerate(item.plates)]
    spans = {item.exhibit.number: (s, e) for item, s, e in zip(chunk, starts, ends)}
    return layout.write(document, tag, plates=plates, continues=not heading, numbered=first), spans


def _cells(document) -> list[tuple[int, tuple[float, float, float, float], int, str]]:
    """The empty boxes left for Bates ranges (``bates-N`` in the index, ``hash-N`` in the appendix):
    page, box relative to the enclosing section's box on that page, exhibit number, style."""
    cells = []
    for index, page in enumerate(document.pages):
        sections = [rect for name, rect in page.anchors.items() if name.startswith("sec-")]
        for name, (x0, y0, x1, y1) in page.anchors.items():
            style, _, number = name.partition("-")
            if style in ("bates", "hash") and number.isdigit():
                sx, sy, *_ = next(r for r in sections if r[0] <= x0 <= r[2] and r[1] <= y0 <= r[3])
                cells.append((index, (x0 - sx, y0 - sy, x1 - sx, y1 - sy), int(number), style))
    return cells


def _task(job: tuple):
    """One unit of work: an exhibit chunk, a volume's assembly, or a piece that prints no page number."""
    kind, *args = job
    if kind == "assemble":
        return _assemble(*args)
    if kind == "exhibits":
        return _exhibit_chunk(*args)
    layout: _Layout = _STATE["layout"]
    tag, context = args
    document = layout.render(kind, items=_STATE["printed"], **context)
    return layout.write(document, tag, cells=_cells(document))


class _Runner:
    """Runs jobs in worker processes or here.

    When this process has no other thread, workers are forked *after* the layout is set up here,
    so they inherit loaded fonts and caches instead of each building their own; otherwise they
    start from a fork server and set up their own layout.
    """

    def __init__(self, workers: int, initargs: tuple) -> None:
        self.pool = None
        methods = mp.get_all_start_methods()
        forking = workers > 1 and threading.active_count() == 1 and "fork" in methods
        if workers <= 1 or forking:
            _init_worker(*initargs)
        if forking:
            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
        elif workers > 1:
            method = "forkserver" if "forkserver" in methods else "spawn"
            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(method),
                                            initializer=_init_worker, initargs=initargs)

    def submit(self, job: tuple) -> Future:
        """``job`` started in a worker (or done here, when there is none)."""
        if self.pool is not None:
            return self.pool.submit(_task, job)
        future: Future = Future()
        try:
            future.set_result(_task(job))
        except Exception as error:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(error)
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        _STATE.clear()


# --- assembling volumes ------------------------------------------------------------------------


def _own_resources(page: pikepdf.Page) -> None:
    """WeasyPrint shares one /Resources among a piece's pages: give this page its own, so each
    page lists only the images and stamps it draws."""
    resources = pikepdf.Dictionary({key: value for key, value in page.Resources.items()})
    resources.XObject = pikepdf.Dictionary({key: value for key, value in resources.get("/XObject", {}).items()})
    page.obj.Resources = resources


def _draw_plate(pdf: pikepdf.Pdf, page: pikepdf.Page, rect: tuple[float, float, float, float],
                plate: Plate, name: str) -> bytes:
    """Add the JPEG to the page; return the drawing, aspect kept, centred at the top of the laid-out box."""
    image = pikepdf.Stream(pdf, plate.path.read_bytes())
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = plate.width, plate.height, 8
    image.ColorSpace, image.Filter = pikepdf.Name(f"/{plate.colorspace}"), pikepdf.Name.DCTDecode
    x0, y0, x1, y1 = (value * _PX_TO_PT for value in rect)
    scale = min((x1 - x0) / plate.width, (y1 - y0) / plate.height)
    width, height = plate.width * scale, plate.height * scale
    left, bottom = x0 + ((x1 - x0) - width) / 2, float(page.mediabox[3]) - y0 - height
    page.obj.Resources.XObject[f"/{name}"] = image
    return f"q {width:.3f} 0 0 {height:.3f} {left:.3f} {bottom:.3f} cm /{name} Do Q\n".encode("ascii")


def _outline_items(tree, offset: int) -> list[pikepdf.OutlineItem]:
    items = []
    for label, (page, _x, _y), children, _state in tree:
        item = pikepdf.OutlineItem(label, offset + page)
        item.children.extend(_outline_items(children, offset))
        items.append(item)
    return items


def _fonts(pdf: pikepdf.Pdf):
    """Every font dictionary the pages use, directly or in form XObjects, each once."""
    seen, pending = set(), [page.Resources for page in pdf.pages]
    while pending:
        resources = pending.pop()
        for font in (resources.get("/Font") or {}).values():
            if font.objgen not in seen:
                seen.add(font.objgen)
                yield font
        for xobject in (resources.get("/XObject") or {}).values():
            if xobject.get("/Subtype") == pikepdf.Name.Form and "/Resources" in xobject \
                    and xobject.objgen not in seen:
                seen.add(xobject.objgen)
                pending.append(xobject.Resources)


def _shown_glyphs(cid_font) -> list[int]:
    """The glyphs a CID font's /W lists (WeasyPrint lists every glyph it shows), and .notdef."""
    widths, shown, i = list(cid_font.get("/W", [])), {0}, 0
    while i < len(widths):
        first = int(widths[i])
        if isinstance(widths[i + 1], pikepdf.Array):
            shown.update(range(first, first + len(widths[i + 1])))
            i += 2
        else:
            shown.update(range(first, int(widths[i + 1]) + 1))
            i += 3
    return sorted(shown)


def _compact_cff(program: bytes, glyphs: Sequence[int]) -> bytes | None:
    """The bare CFF of a CID-keyed OpenType subset, holding only ``glyphs``; None if it is not one.

    WeasyPrint's subsets keep every glyph id up to the highest one shown: tens of thousands of empty
    glyphs for Chinese, 100-150 KB per subset and one subset per piece of a volume. The CFF charset
    keeps each glyph's CID, so the codes in the content streams name the same glyphs."""
    from fontTools.cffLib import CFFFontSet
    from fontTools.ttLib import TTFont

    sfnt = TTFont(io.BytesIO(program), lazy=True)
    if "CFF " not in sfnt.reader:
        return None
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(sfnt.reader["CFF "]), sfnt)
    font = cff[cff.fontNames[0]]
    glyphs = [g for g in glyphs if g < len(font.charset)]
    if not hasattr(font, "ROS") or any(g and font.charset[g] != f"cid{g:05d}" for g in glyphs):
        return None
    names = [font.charset[g] for g in glyphs]
    index = font.CharStrings.charStringsIndex
    index.items = [index[g] for g in glyphs]
    del index.file, index.offsets
    font.CharStrings.charStrings = {name: n for n, name in enumerate(names)}
    if hasattr(font, "FDSelect"):
        selected = [font.FDSelect.gidArray[g] for g in glyphs]
        dicts = sorted(set(selected))
        font.FDSelect.gidArray, font.FDSelect.format = [dicts.index(d) for d in selected], None
        font.FDArray.items = [font.FDArray[d] for d in dicts]
        del font.FDArray.file, font.FDArray.offsets
    font.charset, font.numGlyphs = names, len(names)
    out = io.BytesIO()
    cff.compile(out, sfnt)
    return out.getvalue()


def settle_fonts(pdf: pikepdf.Pdf, cache: dict | None = None) -> None:
    """Keep only the glyphs shown in each CID-keyed CFF subset, tag each subset by a hash of its
    program, so subsets from different pieces never share a tag (ISO 32000-1 §9.6.4), and let
    identical programs share one stream. `cache`: compacted programs to reuse (default: the
    build's, dropped when the build ends)."""
    programs: dict[str, pikepdf.Object] = {}
    compacted: dict[tuple, bytes | None] = cache if cache is not None else _STATE.setdefault("compacted", {})
    for font in _fonts(pdf):
        members = [font, *font.get("/DescendantFonts", [])]
        descriptor = next((f.FontDescriptor for f in members if "/FontDescriptor" in f), None)
        key = next((k for k in ("/FontFile", "/FontFile2", "/FontFile3") if descriptor is not None and k in descriptor),
                   None)
        if key is None:
            continue
        stream = descriptor[key]
        if key == "/FontFile3" and stream.get("/Subtype") == pikepdf.Name.OpenType:
            glyphs = _shown_glyphs(members[-1])
            cache_key = (hashlib.sha256(stream.read_raw_bytes()).digest(), tuple(glyphs))
            if cache_key not in compacted:
                compacted[cache_key] = _compact_cff(stream.read_bytes(), glyphs)
            if compacted[cache_key] is not None:
                stream = descriptor[key] = pikepdf.Stream(pdf, b"")
                stream.write(zlib.compress(compacted[cache_key]), filter=pikepdf.Name.FlateDecode)
                stream.Subtype = pikepdf.Name.CIDFontType0C
        digest = hashlib.sha256(stream.read_raw_bytes()).digest()
        tag = "".join(chr(65 + byte % 26) for byte in digest[:6])
        descriptor[key] = programs.setdefault(digest.hex(), stream)
        for holder, name in [(f, "/BaseFont") for f in members] + [(descriptor, "/FontName")]:
            base = str(holder.get(name, ""))[1:]
            if base:
                holder[name] = pikepdf.Name("/" + tag + "+" + base.split("+", 1)[-1])


def _assemble(pieces: list[_Piece], cover: tuple[str, dict], cover_pages: int, target: Path,
              manifest: tuple[bytes, bytes], first_number: int,
              spans: dict[int, tuple[int, int]]) -> tuple[int | None, str | None, int]:
    """Lay out the volume's cover (``cover``: the packet's or a volume's, with its numbers, printing its
    own), then the stamp document of the pages that print no number of their own (front and back
    matter): each one's Bates number and the ranges that go into its index and appendix cells. Join the
    pieces; draw the plates, the running heads on every page and the stamps; write the outline and
    attach the manifest. Returns the file's size and SHA-256 and the cover's pages; when the cover
    is not ``cover_pages`` long, only its pages (every number after it is wrong: the caller numbers again)."""
    layout: _Layout = _STATE["layout"]
    prefix = layout.content.bates_prefix
    kind, context = cover
    document = layout.render(kind, numbered=first_number, items=_STATE["printed"], **context)
    if len(document.pages) != cover_pages:
        return None, None, len(document.pages)
    pieces = [layout.write(document, f"cover-{target.stem}", numbered=first_number), *pieces]
    stamped: list[tuple[int, list[tuple]]] = []   # (page of the volume, its cells) for pages without a number
    offset = 0
    for piece in pieces:
        if piece.numbered is not None:
            if piece.numbered != first_number + offset:   # the caller lays out again what was numbered wrong
                raise RuntimeError(f"{piece.path.name} is numbered from {piece.numbered}, "
                                   f"its first page is {first_number + offset}")
        else:
            cells: list[list[tuple]] = [[] for _ in range(piece.pages)]
            for page_index, (x0, y0, x1, y1), number, style in piece.cells:
                first, last = spans[number]
                lines = [bates_range(prefix, first, last)] if style == "hash" else \
                    [bates_number(prefix, first)] + ([f"–{bates_number(prefix, last)}"] if last != first else [])
                cells[page_index].append((style, x0, y0, x1 - x0, y1 - y0, lines))
            stamped += [(offset + index, page_cells) for index, page_cells in enumerate(cells)]
        offset += piece.pages
    stamp_of = {index: position for position, (index, _cells) in enumerate(stamped)}
    heads_path = layout.work_dir / "heads.pdf"
    with contextlib.ExitStack() as stack:
        pdf = stack.enter_context(pikepdf.open(pieces[0].path))
        heads_pdf = stack.enter_context(pikepdf.open(heads_path))
        if stamped:
            stamps = layout.write(layout.render("stamp", pages=[(first_number + index, page_cells)
                                                                for index, page_cells in stamped]),
                                  f"stamp-{target.stem}")
            stamp_pdf = stack.enter_context(pikepdf.open(stamps.path))
        others = [pikepdf.open(piece.path) for piece in pieces[1:]]
        try:
            for other in others:
                pdf.pages.extend(other.pages)
            volume_id = hashlib.md5(f"{layout.content.packet_id}/{target.name}".encode(),
                                    usedforsecurity=False).digest()
            pdf.trailer.ID = pikepdf.Array([pikepdf.String(volume_id), pikepdf.String(volume_id)])
            heads = pdf.copy_foreign(heads_pdf.pages[0].as_form_xobject())
            for page in pdf.pages:
                _own_resources(page)
            drawings: dict[int, list[bytes]] = {}
            offset = 0
            for piece in pieces:
                for page_index, rect, plate in piece.plates:
                    drawn = drawings.setdefault(offset + page_index, [])
                    drawn.append(_draw_plate(pdf, pdf.pages[offset + page_index], rect, plate, f"FPPlate{len(drawn)}"))
                offset += piece.pages
            for index, page in enumerate(pdf.pages):
                # The heads and the stamp are A4 pages like this one, drawn over it under fixed names
                # (add_overlay names them at random: the same packet would not give the same bytes).
                xobjects = page.obj.Resources.XObject
                xobjects.FPHeads = heads
                drawn = b"q /FPHeads Do Q"
                if index in stamp_of:
                    xobjects.FPStamp = pdf.copy_foreign(stamp_pdf.pages[stamp_of[index]].as_form_xobject())
                    drawn += b" q /FPStamp Do Q"
                page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
                page.contents_add(pikepdf.Stream(pdf, b"\nQ\n" + b"".join(drawings.get(index, [])) + drawn + b"\n"))
            settle_fonts(pdf)
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
            moment = layout.content.generated_at.strftime("D:%Y%m%d%H%M%SZ")
            plain, deflated = manifest
            spec = pikepdf.AttachedFileSpec(
                pdf, plain, filename="manifest.json", mime_type="application/json",
                description="Packet manifest (RFC 8785 JSON): file hashes, custody leaves and inclusion proofs",
                creation_date=moment, mod_date=moment, relationship=pikepdf.Name.Data)
            # /Params keeps the plain file's size and MD5, as PDF 32000 asks; the stream is deflated
            # once for all volumes.
            spec.obj.EF.F.write(deflated, filter=pikepdf.Name.FlateDecode)
            pdf.attachments["manifest.json"] = spec
            pdf.Root.AF = pikepdf.Array([spec.obj])
            pdf.save(target, object_stream_mode=pikepdf.ObjectStreamMode.generate, static_id=True)
        finally:
            for other in others:
                other.close()
    digest = digest_file(target)
    return digest.size, digest.sha256_hex, pieces[0].pages


def volume_file_name(content: PacketContent, number: int) -> str:
    """The bundle path of a volume: ``pdf/<prefix>_vol01.pdf``."""
    return f"pdf/{content.bates_prefix}_vol{number:02d}.pdf"


def render_packet(content: PacketContent, out_dir: Path | str, *, max_volume_bytes: int = DEFAULT_MAX_VOLUME_BYTES,
                  start_number: int = 1, work_dir: Path | str | None = None, workers: int = 0) -> RenderedPacket:
    """Render ``content`` into PDF/A-3b volumes under ``out_dir``; Bates numbers start at ``start_number``;
    ``workers`` processes lay out pages (the render_workers setting; 0: min(2, CPUs))."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Pango, HarfBuzz and WeasyPrint's shared font state are not safe across threads: two
    # builds in one process (a job thread and a test, two runtimes) crashed it. One at a time.
    with _RENDER_LOCK, tempfile.TemporaryDirectory(dir=work_dir, prefix="packet-") as scratch:
        return _render(content, out_dir, Path(scratch), max_volume_bytes, start_number, workers)


_RENDER_LOCK = threading.Lock()
RENDER_LOCK = _RENDER_LOCK   # written notices (legal_docs.notices) render under the same lock


def _workers(exhibits: int, configured: int) -> int:
    if exhibits < PARALLEL_MIN_EXHIBITS:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, RENDER_WORKERS or configured or min(2, cpus))


def _render(content: PacketContent, out_dir: Path, scratch: Path, limit: int, start: int,
            workers: int) -> RenderedPacket:
    warnings = list(content.warnings)
    printed = [_print_copy(exhibit, scratch) for exhibit in content.exhibits]
    warnings += [f"exhibit {item.exhibit.number} could not be shown in the PDF; "
                 f"its original is in the bundle as {item.bundle_name}" for item in printed if item.unrendered]
    overhead = _FONT_ESTIMATE[content.language]
    runner = _Runner(_workers(len(printed), workers), (content, printed, scratch))
    try:
        for _attempt in range(PLAN_ATTEMPTS):
            plan = plan_volumes([item.estimate for item in printed], int(limit * 0.97), volume_overhead=overhead,
                                first_overhead=100_000 + 1_000 * (len(printed) + len(content.chronology)),
                                last_overhead=60_000 + 1_000 * len(printed))
            rendered = _lay_out(content, printed, plan, runner, out_dir, start, warnings)
            # Fonts cost more than estimated (a CJK subset per piece): plan again on what was measured.
            excess = max((v.size - int(limit * 0.97) for v in rendered.volumes if len(plan[v.number - 1]) > 1),
                         default=0)
            if excess <= 0:
                break
            overhead += excess
    finally:
        runner.close()
    over = [f"volume {v.number} is {v.size} bytes, over the {limit}-byte limit"
            for v in rendered.volumes if v.size > limit]
    return RenderedPacket(rendered.volumes, rendered.pagination, rendered.embedded_manifest,
                          rendered.warnings + tuple(over), rendered.bates_prefix)


def _predicted_pages(item: PrintedExhibit) -> int:
    """How many pages an exhibit will take, from its structure, before it is laid out: a guess that
    only decides which chunks are laid out once (a chunk whose first number was guessed wrong is laid
    out again on the true one). Sizes in mm, after packet.css: 264 mm of page, lines of 4.3 mm (9 pt
    text) and 3.05 mm (custody), a photo's box 168 mm, a PDF's pages one each."""
    exhibit, page = item.exhibit, 264.0
    lines = 12 + sum(len(text) // 90 for text in (exhibit.title, exhibit.description, exhibit.purpose))
    height = 14 + 4.3 * lines + 3.05 * len(exhibit.custody)
    if item.note_text is not None:
        height += 8 + 4.3 * sum(1 + len(line) // 90 for line in item.note_text.split("\n"))
    pages = 1 + int(height // page)
    if item.plates and not item.source_pages:
        pages += 1 if height % page + 168 > page else 0
    return pages + (len(item.plates) if item.source_pages else 0)


def _predicted_spans(items: Sequence[PrintedExhibit]) -> dict[int, tuple[int, int]]:
    """Each exhibit's first and last page in its chunk, as predicted (`_predicted_pages`)."""
    spans, page = {}, 0
    for item in items:
        pages = _predicted_pages(item)
        spans[item.exhibit.number] = (page, page + pages - 1)
        page += pages
    return spans


def _numbering(start: int, covers: Sequence[int], front_pages: int, chunk_volumes: Sequence[int],
               chunk_pages: Sequence[int]) -> tuple[list[int], list[int], int]:
    """The first number of each volume and of each chunk, and of the back matter."""
    number, firsts, chunk_firsts = start, [], [0] * len(chunk_pages)
    for v, cover_pages in enumerate(covers):
        firsts.append(number)
        number += cover_pages + (front_pages if v == 0 else 0)
        for k, chunk_volume in enumerate(chunk_volumes):
            if chunk_volume == v:
                chunk_firsts[k] = number
                number += chunk_pages[k]
    return firsts, chunk_firsts, number


def _ready_volumes(chunks: Sequence[tuple[int, Sequence[int]]], laid: Sequence[_Piece | None], volumes: int,
                   started: dict[int, Future]) -> list[int]:
    """The volumes not yet started whose chunks are all laid out; the first and last first (they lay out
    the stamps of the front and back matter)."""
    ready = [v for v in range(volumes) if v not in started
             and all(laid[k] is not None for k, (cv, _i) in enumerate(chunks) if cv == v)]
    return sorted(ready, key=lambda v: v not in (0, volumes - 1))


def _lay_out(content: PacketContent, printed: Sequence[PrintedExhibit], plan: Sequence[range], runner: _Runner,
             out_dir: Path, start: int, warnings: list[str]) -> RenderedPacket:
    volume_of = {printed[i].exhibit.number: v + 1 for v, group in enumerate(plan) for i in group}
    numbers = [(printed[group[0]].exhibit.number, printed[group[-1]].exhibit.number) if group else (0, 0)
               for group in plan]
    chunks = [(v, indices) for v, group in enumerate(plan) for indices in _chunks(list(group), CHUNK_EXHIBITS)]
    targets = [out_dir / Path(volume_file_name(content, v + 1)).name for v in range(len(plan))]

    # Phase 1: what prints no page number of its own, laid out once each: the running heads, the front
    # matter (the index in a piece of its own, so both workers start at once) and the back matter.
    known = {"volume_of": volume_of, "volumes": len(plan)}
    pending = [runner.submit(job) for job in [("index", "index", known), ("front", "front", known),
                                              ("back", "back", known), ("heads", "heads", {})]]
    front = [pending[1].result(), pending[0].result()]
    front_pages = sum(piece.pages for piece in front)

    # Phase 2: the exhibits, each chunk laid out with its Bates numbers from a first number reckoned on
    # each cover's guessed pages (COVER_PAGES_GUESS) and each earlier exhibit's predicted pages. The
    # packet is numbered on those predictions and each volume assembled (with its cover and the stamp
    # of its front or back matter) as soon as its chunks are laid out. Only when every exhibit took the
    # pages predicted and every cover the pages guessed are those volumes kept; otherwise the packet is
    # numbered again on what was laid out, the chunks whose first number changed are laid out again (a
    # chunk's pages do not depend on its numbers, so once is enough) and the volumes assembled again.
    covers = [COVER_PAGES_GUESS] * len(plan)
    spans_in = [_predicted_spans([printed[i] for i in indices]) for _v, indices in chunks]
    chunk_pages = [max((b + 1 for _a, b in spans.values()), default=0) for spans in spans_in]
    laid: list[_Piece | None] = [None] * len(chunks)
    back: _Piece | None = None
    for _attempt in range(2 * PLAN_ATTEMPTS):
        firsts, chunk_firsts, back_first = _numbering(start, covers, front_pages, [v for v, _i in chunks],
                                                      chunk_pages)
        # The chunks of the first and last volumes first (their assemblies lay out the stamps of the front
        # and back matter, the longest), then the longest: the workers finish together.
        wrong = sorted((k for k, piece in enumerate(laid) if piece is None or piece.numbered != chunk_firsts[k]),
                       key=lambda k: (chunks[k][0] not in (0, len(plan) - 1), -chunk_pages[k]))
        chunk_jobs = {runner.submit(("exhibits", f"ex{k:04d}", tuple(chunks[k][1]), k == 0, chunk_firsts[k])): k
                      for k in wrong}
        for k in wrong:
            laid[k] = None
        back = back or pending[2].result()
        pending[3].result()   # the running heads, which every assembly draws
        last = back_first + back.pages - 1
        spans = {n: (chunk_firsts[k] + a, chunk_firsts[k] + b)
                 for k, chunk_spans in enumerate(spans_in) for n, (a, b) in chunk_spans.items()}
        volume_spans = [(first, (firsts[v + 1] - 1) if v + 1 < len(plan) else last, numbers[v])
                        for v, first in enumerate(firsts)]
        pagination = Pagination(
            exhibits=tuple(ExhibitPlacement(n, volume_of[n], *spans[n]) for n in sorted(spans)),
            volumes=tuple(VolumePlacement(v + 1, volume_file_name(content, v + 1), b - a + 1, a, b)
                          for v, (a, b, _n) in enumerate(volume_spans)))
        manifest = build_manifest(content, [BundleFile(exhibit_file_name(e), e.sha256, e.size, "exhibit")
                                            for e in content.exhibits], pagination)
        both = (manifest, zlib.compress(manifest))
        covers_context = [("cover", {"start": start, "total_last": last, "volume_spans": volume_spans, **known})]
        covers_context += [("volume", {"volume": v + 1, "first": firsts[v], "volume_exhibits": numbers[v], **known})
                           for v in range(1, len(plan))]

        assemblies: dict[int, Future] = {}
        predicted, completed = True, as_completed(chunk_jobs)
        while True:
            if predicted:   # assemble each volume whose chunks are laid out (on the predicted numbering)
                for v in _ready_volumes(chunks, laid, len(plan), assemblies):
                    pieces = [*(front if v == 0 else []), *(laid[k] for k, (cv, _i) in enumerate(chunks) if cv == v),
                              *([back] if v == len(plan) - 1 else [])]
                    assemblies[v] = runner.submit(("assemble", pieces, covers_context[v], covers[v], targets[v],
                                                   both, firsts[v], spans))
            future = next(completed, None)
            if future is None:
                break
            k = chunk_jobs[future]
            laid[k], chunk_spans = future.result()
            if chunk_spans != spans_in[k]:
                predicted, spans_in[k], chunk_pages[k] = False, chunk_spans, laid[k].pages
        written = {v: future.result() for v, future in assemblies.items()}   # every write ends before a retry
        counted = [written[v][2] if v in written else covers[v] for v in range(len(plan))]
        if predicted and counted == covers:
            break
        covers = counted
    else:  # pragma: no cover - page counts do not depend on the numbers printed; a cover is one page
        raise RuntimeError("page numbers did not settle")
    volumes = tuple(Volume(v + 1, targets[v], b - a + 1, a, b, written[v][0], written[v][1],
                           bates_number(content.bates_prefix, a), bates_number(content.bates_prefix, b))
                    for v, (a, b, _n) in enumerate(volume_spans))
    return RenderedPacket(volumes, pagination, manifest, tuple(warnings), content.bates_prefix)
