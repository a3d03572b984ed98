"""Render a PacketContent into PDF/A-3b volumes with continuous Bates numbers.

How the work is split, and why (WeasyPrint costs ~20 ms of CPU a page, mostly in its box model):

* Regular pages are *set directly* (``set_pages`` over ``typeset``): each exhibit's pages
  (heading, caption, custody lines, box, plates), the exhibit index, the hash appendix and the
  covers of volumes 2 on are written as content streams with our own line breaking, in glyphs of fonts WeasyPrint embedded
  for a *glyph sheet* (every character each font role needs, laid out once per build beside the
  stamp), so the text stays real (ToUnicode), the fonts embedded and PDF/A-ready, and Chinese is
  in Noto Sans CJK SC. Words that need shaping or a glyph no font has fall back to WeasyPrint
  (that exhibit, the whole index, that volume's cover), laid out from the same words. WeasyPrint
  lays out only the packet's cover, summary, chronology, declaration and how-to-verify pages. A
  volume whose first piece is set directly starts from the stamp document emptied of its pages
  (a WeasyPrint PDF/A-3b file of the build: XMP, output intent, language), with its own file ID.
* ``load_weasyprint`` also stops cffi from parsing a C type for every font WeasyPrint subsets
  (``_fixed_size_arrays_once``): that parsing was about a third of WeasyPrint's time here.
* Photos are *plates*: a box whose position the setter (or WeasyPrint, through ``Page.anchors``)
  reports; pikepdf draws the JPEG there as a DCTDecode image, copying its bytes without
  re-encoding when it is already print-sized (``PRINT_MAX_EDGE``), else after one downscale.
* Running heads and Bates numbers are a *stamp*: WeasyPrint lays out one page
  whose margin boxes hold the heads and a placeholder number (plus every digit,
  so the embedded subset of the number's font has them all); pikepdf keeps that
  page's content stream, swaps the placeholder's glyphs for each page's number
  and draws it on every page as a form XObject. The number is real, searchable
  text in a font WeasyPrint embedded for PDF/A, and no piece carries page
  numbers in its layout, which is what lets the pieces be laid out once each,
  in any order, in parallel.
* The packet is made in pieces (cover, front matter, index, each volume's cover, exhibit
  chunks of at most ``SET_CHUNK_EXHIBITS`` set or ``CHUNK_EXHIBITS`` laid out, declaration,
  hash appendix, how to verify), each its own small document, so memory stays bounded whatever
  the packet's size. With enough exhibits (``PARALLEL_MIN_EXHIBITS``) the pieces are made by
  worker processes (``RENDER_WORKERS``, default min(2, CPUs); each imports WeasyPrint only
  through ``load_weasyprint``), which also assemble the volumes. Phase 1 makes everything that
  prints no page number (the index and appendix leave their Bates cells blank, filled in at
  assembly with the stamp's font); phase 2 lays out the packet's cover and sets the volume covers
  (in this process) with the real numbers while volumes 2 on are already assembled on a count of
  one page per cover, all of it repeated only if a cover's page count differs.
* Cost now (300 photos, 1600x1200): setting an exhibit page is ~0.5 ms of CPU, a volume cover
  ~1 ms; what is left is WeasyPrint's fixed cost for the stamp, cover, front matter, declaration
  and how-to-verify pages, and the assembly, which is bound by copying, writing and hashing the JPEG bytes (a volume is hashed
  from the page cache after qpdf writes it: hashing in qpdf's many small writes cost more). The
  manifest (1 MB+) is deflated once for all volumes and new content streams as they are made, so
  qpdf saves without its compression pass.
  Templates compile once per process, the stylesheet is parsed once per build (``packet.css``); margin boxes
  declared empty so WeasyPrint does not build 16 margin-box styles per page.
* Volumes are planned before layout from byte estimates (plate bytes + text
  overhead), exhibits never split; pikepdf joins each volume's pieces, draws
  the plates and stamps, writes one outline (a bookmark per section and
  exhibit) and attaches ``manifest.json`` as a PDF/A-3 associated file (``/AF``).
* PDF exhibits are rasterised with ``pdftoppm`` (first ``MAX_RASTER_PAGES``
  pages) so the court sees them in the packet; the original PDF stays in the
  bundle. If it cannot be rasterised a page says so and where the original is.
"""
from __future__ import annotations

import functools
import hashlib
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pikepdf
from markupsafe import Markup
from PIL import Image, ImageOps

from legal_docs.bates import DIGITS, bates_number, bates_range, plan_volumes
from legal_docs.content import Exhibit, PacketContent
from legal_docs.set_pages import (
    TEMPLATES_DIR,
    exhibit_settable,
    exhibit_texts,
    hash_lines,
    index_rows,
    index_settable,
    labels,
    set_exhibits,
    set_hashes,
    set_index,
    set_volume_cover,
    sheet_characters,
    volume_cover_settable,
    volume_cover_words,
)
from legal_docs.typeset import SHEET_SIZE, GlyphSheet, settable, to_unicode, widths
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
CHUNK_EXHIBITS = 25          # exhibits laid out by WeasyPrint per piece
SET_CHUNK_EXHIBITS = 100     # exhibits set directly per piece
RENDER_WORKERS = 0            # 0: FIELDPROOF_RENDER_WORKERS, else min(2, CPUs)
PARALLEL_MIN_EXHIBITS = 24    # below this, worker start-up costs more than it saves
COVER_PAGES_GUESS = 1         # pages per cover before the covers are laid out
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
    """A run of pages: a laid-out WeasyPrint document written as a text-only PDF/A piece (``path``),
    or pages set directly (``drawn``: each page's content stream, in the stamp document's fonts)."""

    path: Path | None
    pages: int
    bookmarks: list
    plates: list[tuple[int, tuple[float, float, float, float], Plate]] = field(default_factory=list)
    cells: list[tuple[int, tuple[float, float, float, float], int, str]] = field(default_factory=list)
    continues: bool = False
    drawn: list[bytes] | None = None


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


@functools.cache
def _environment() -> jinja2.Environment:
    """The HTML templates' environment, one per process: templates compile once, not per build."""
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
    _fixed_size_arrays_once()
    return weasyprint


_ARRAY_DECL = re.compile(r"([A-Za-z_][A-Za-z0-9_ ]*)\[([0-9]+)\]")


def _fixed_size_arrays_once() -> None:
    """Stop cffi from running its C parser on every font WeasyPrint subsets.

    WeasyPrint's font subsetting asks for arrays as ``ffi.new(f"hb_codepoint_t[{n}]", values)``;
    cffi caches parsed types by their string, so each new ``n`` (one or two per font per
    document) runs pycparser over all of WeasyPrint's typedefs, 5-10 ms of CPU each: about a
    third of the time WeasyPrint spent on a packet's small pages. ``T[n]`` with ``n`` values (or
    none) is the same array as ``T[]`` given those values (or ``n``), whose type is parsed once.
    """
    from weasyprint.text.ffi import ffi

    if getattr(ffi, "_fieldproof_arrays", False):
        return
    parsed_new = ffi.new

    def new(cdecl, init=None):
        match = _ARRAY_DECL.fullmatch(cdecl) if isinstance(cdecl, str) else None
        if match is not None:
            length = int(match.group(2))
            if init is None:
                return parsed_new(match.group(1).rstrip() + "[]", length)
            if isinstance(init, (list, tuple)) and len(init) == length:
                return parsed_new(match.group(1).rstrip() + "[]", init)
        return parsed_new(cdecl, init)

    ffi.new = new
    ffi._fieldproof_arrays = True


class _Layout:
    """Lays out the pieces of one packet with one Jinja environment, one font configuration and
    the packet's stylesheet parsed once."""

    def __init__(self, content: PacketContent, work_dir: Path) -> None:
        weasyprint = load_weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        self.content = content
        self.work_dir = work_dir
        env = _environment()
        self.template = env.get_template("packet.html")
        self.fonts = FontConfiguration()
        self.lang = content.language
        self.family = content.jurisdiction_family
        style = env.get_template("packet.css").render(content=content, lang=self.lang)
        self.stylesheets = [weasyprint.CSS(string=style, font_config=self.fonts)]

    def render(self, piece: str, **context):
        from weasyprint import HTML

        html = self.template.render(content=self.content, piece=piece, lang=self.lang, family=self.family,
                                    bates=lambda n: bates_number(self.content.bates_prefix, n),
                                    bates_range=lambda a, b: bates_range(self.content.bates_prefix, a, b),
                                    **context)
        return HTML(string=html, base_url=str(TEMPLATES_DIR)).render(
            stylesheets=self.stylesheets, font_config=self.fonts, presentational_hints=False)

    def write(self, document, tag: str, **extra) -> _Piece:
        path = self.work_dir / f"{tag}.pdf"
        document.write_pdf(path, pdf_variant="pdf/a-3b")
        return _Piece(path=path, pages=len(document.pages), bookmarks=document.make_bookmark_tree(), **extra)


def _page_of(document, anchor: str) -> int:
    for index, page in enumerate(document.pages):
        if anchor in page.anchors:
            return index
    raise LookupError(f"anchor {anchor} was not laid out")


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- work that runs in this process or in a worker ---------------------------------------

_STATE: dict = {}


def _init_worker(content: PacketContent, prepared: Sequence[_Prepared], scratch: Path,
                 volume_of: dict[int, int], volumes: int, texts: Sequence = ()) -> None:
    """Per process: WeasyPrint through `load_weasyprint` only, one layout, the packet's inputs."""
    _STATE.clear()
    _STATE.update(layout=_Layout(content, scratch), prepared=prepared, volume_of=volume_of, volumes=volumes,
                  texts=texts, stamp_path=scratch / "stamp.pdf")


def _sheet() -> GlyphSheet:
    """The glyph sheet of this build, read once per process from the stamp document."""
    if "sheet" not in _STATE:
        _STATE["sheet"] = GlyphSheet.load(_STATE["stamp_path"])
    return _STATE["sheet"]


def _set_piece(piece, **extra) -> _Piece:
    return _Piece(path=None, pages=len(piece.pages), bookmarks=piece.bookmarks, plates=piece.plates,
                  cells=piece.cells, drawn=piece.pages, **extra)


def _task(job: tuple):
    """One unit of work. Exhibit chunks carry no page numbers, so they are laid out once, in any order."""
    kind = job[0]
    if kind == "assemble":
        return _assemble(*job[1:])
    layout: _Layout = _STATE["layout"]
    prepared: Sequence[_Prepared] = _STATE["prepared"]
    common = {"volume_of": _STATE["volume_of"], "volumes": _STATE["volumes"]}
    if kind == "set":
        _kind, tag, indices, heading = job
        words = labels(layout.content)
        piece, spans = set_exhibits(_sheet(), [prepared[i] for i in indices], [_STATE["texts"][i] for i in indices],
                                    str(words.exhibits_heading) if heading else None)
        return _set_piece(piece, continues=not heading), spans
    if kind == "index":
        columns, rows = index_rows(layout.content, _STATE["volume_of"], _STATE["volumes"])
        piece = set_index(_sheet(), str(labels(layout.content).index_title), columns, rows,
                          [item.exhibit.number for item in prepared])
        return _set_piece(piece)
    if kind == "hashes":
        head, rows, title, checkpoint = hash_lines(layout.content, prepared)
        piece = set_hashes(_sheet(), str(labels(layout.content).hash_appendix), head, rows,
                           [item.exhibit.number for item in prepared], str(title), checkpoint,
                           layout.content.ledger.key_id)
        return _set_piece(piece)
    if kind == "exhibits":
        _kind, tag, indices, heading = job
        chunk = [prepared[i] for i in indices]
        document = layout.render("exhibits", items=chunk, exhibits_heading=heading, texts=_STATE["texts"], **common)
        starts = [_page_of(document, f"exhibit-{item.exhibit.number}") for item in chunk]
        ends = [s - 1 for s in starts[1:]] + [len(document.pages) - 1]
        spans = {item.exhibit.number: (s, e) for item, s, e in zip(chunk, starts, ends)}
        plates = []
        for item in chunk:
            for position, plate in enumerate(item.plates):
                anchor = f"plate-{item.exhibit.number}-{position}"
                page = _page_of(document, anchor)
                plates.append((page, document.pages[page].anchors[anchor], plate))
        return layout.write(document, tag, plates=plates, continues=not heading), spans
    if kind in ("declaration", "verify"):
        return layout.write(layout.render(kind, items=prepared, **common), kind)
    if kind == "front":
        document = layout.render(kind, items=prepared, with_index=job[2], **common)
        cells = []
        for page_index, page in enumerate(document.pages):
            for anchor, rect in page.anchors.items():
                style, _, number = anchor.partition("-")
                if style in ("bates", "hash") and number.isdigit():
                    cells.append((page_index, rect, int(number), style))
        return layout.write(document, job[1], cells=cells)
    if kind == "cover":
        _kind, tag, context = job
        return layout.write(layout.render(kind, items=prepared, **common, **context), tag)
    if kind == "volume":
        _kind, tag, context = job
        return layout.write(layout.render("volume", **common, **context), tag)
    if kind == "stamp":
        prefix = layout.content.bates_prefix
        words = labels(layout.content)
        families = {"regular": (words.font, "normal"), "bold": (words.font, "bold"),
                    "mono": ('"DejaVu Sans Mono"', "normal"), "monobold": ('"DejaVu Sans Mono"', "bold")}
        sheet = [(SHEET_SIZE[role], *families[role], " ".join(chars)) for role, chars in job[2].items()]
        document = layout.render("stamp", placeholder=_placeholder(prefix), cells_sample=_cells_sample(prefix),
                                 sheet=sheet)
        document.write_pdf(job[1], pdf_variant="pdf/a-3b")
        return job[1]
    raise ValueError(kind)


class _Runner:
    """Runs jobs in worker processes or here.

    When this process has no other thread, workers are forked *after* the layout is set up here and
    warmed by the first jobs (``warm``), so they inherit loaded fonts and caches instead of each
    building their own; otherwise they start from a fork server and set up their own layout.
    """

    def __init__(self, workers: int, initargs: tuple, warm: Sequence[tuple] = ()) -> None:
        self.pool, self.warmed = None, []
        methods = mp.get_all_start_methods()
        forking = workers > 1 and threading.active_count() == 1 and "fork" in methods
        if workers <= 1 or forking:
            _init_worker(*initargs)
            self.warmed = [_task(job) for job in warm]
        if forking:
            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
        elif workers > 1:
            method = "forkserver" if "forkserver" in methods else "spawn"
            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(method),
                                            initializer=_init_worker, initargs=initargs)
            self.warmed = [self.pool.submit(_task, job).result() for job in warm]

    @property
    def parallel(self) -> bool:
        """Whether submitted jobs start at once (workers), rather than when their results are asked for."""
        return self.pool is not None

    def submit(self, jobs: Sequence[tuple]):
        """Start ``jobs``; the returned callable waits for their results, in order."""
        if self.pool is None:
            return lambda: [_task(job) for job in jobs]
        futures = [self.pool.submit(_task, job) for job in jobs]
        return lambda: [future.result() for future in futures]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if "stamp" in _STATE:
            _STATE["stamp"][1].pdf.close()
        _STATE.clear()


# --- Bates stamps -------------------------------------------------------------------------


def _placeholder(prefix: str) -> str:
    return prefix + "0" * DIGITS


def _cells_sample(prefix: str) -> str:
    return "0123456789–" + prefix


@dataclass
class _Stamp:
    """The running heads and the Bates number of a page, laid out once by WeasyPrint.

    The stamp page's content stream is kept as it is, except that its text other than the heads
    is dropped and the placeholder number's glyphs are swapped for each page's number, in the
    same embedded font (its subset holds every digit), so the number stays real PDF/A text.
    """

    pdf: pikepdf.Pdf
    head: bytes
    tail: bytes
    glyphs: dict[str, bytes]
    bbox: list
    cell_font: str
    cell_glyphs: dict[str, bytes]
    cell_advance: float

    @classmethod
    def load(cls, path: Path, prefix: str) -> _Stamp:
        pdf = pikepdf.open(path)
        page = pdf.pages[0]
        fonts = page.Resources.get("/Font", {})
        maps = {str(name): to_unicode(font) for name, font in fonts.items()}
        placeholder = _placeholder(prefix)
        ops = pikepdf.parse_content_stream(page)
        current, kept, split, glyphs = None, [], None, {}
        cells_sample, cell_font, cell_glyphs, cell_advance = _cells_sample(prefix), None, {}, 0.0
        for operands, operator in ops:
            name = str(operator)
            if name == "Tf":
                current = str(operands[0])
            if name in ("TJ", "Tj"):
                parts = operands[0] if name == "TJ" else [operands[0]]
                raw = b"".join(bytes(p) for p in parts if isinstance(p, pikepdf.String))
                codes = maps.get(current, {})
                text = "".join(codes.get(raw[i:i + 2], "?") for i in range(0, len(raw), 2))
                if text == placeholder:
                    split = len(kept)
                    glyphs = {char: code for code, char in codes.items() if char in "0123456789" + prefix}
                    continue
                if text == cells_sample:
                    cell_font = current
                    cell_glyphs = {char: code for code, char in codes.items() if char in cells_sample}
                    advances = widths(fonts[current])
                    cell_advance = max(advances.get(code, advances[b""]) for code in cell_glyphs.values()) / 1000
                    continue
                if text == "0123456789":
                    continue
            kept.append((operands, operator))
        if split is None or not all(c in glyphs for c in "0123456789" + prefix) \
                or cell_font is None or not all(c in cell_glyphs for c in cells_sample):
            raise RuntimeError("the Bates stamp page did not lay out its number")
        head = pikepdf.unparse_content_stream(kept[:split])
        tail = pikepdf.unparse_content_stream(kept[split:])
        return cls(pdf, head, tail, glyphs, [float(v) for v in page.mediabox], cell_font, cell_glyphs,
                   cell_advance)

    def cell(self, rect: tuple[float, float, float, float], first: str, last: str, style: str) -> bytes:
        """Drawing, in PDF coordinates, of a Bates range in a box laid out for it: an index cell
        (two lines, 7 pt, smaller only when a long prefix would not fit) or the blank column of a
        hash-appendix row (one line, in the listing's 6.6 pt monospace, after its 6 characters)."""
        x0, y0, x1, _y1 = (value * _PX_TO_PT for value in rect)
        top = self.bbox[3] - y0
        if style == "hash":
            size = 6.6
            lines = [(first if first == last else f"{first}–{last}", x0 + 6 * size * self.cell_advance, top - 6.57)]
        else:
            texts = [first] if first == last else [first, "–" + last]
            size = min(7.0, (x1 - x0 - 6.5) / max(1e-6, max(map(len, texts)) * self.cell_advance))
            lines = [(text, x0 + 3.4, top - 9.0 - n * 7.5 * 1.35) for n, text in enumerate(texts)]
        out = [f"BT {self.cell_font} {size:.2f} Tf 0 g".encode("ascii")]
        for text, x, y in lines:
            glyphs = b"".join(self.cell_glyphs[c] for c in text).hex().encode("ascii")
            out.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm <".encode("ascii") + glyphs + b"> Tj")
        out.append(b"ET")
        return b"\n".join(out) + b"\n"

    def stream(self, target: pikepdf.Pdf, resources, text: str, extra: bytes = b"") -> pikepdf.Stream:
        glyphs = b"".join(self.glyphs[c] for c in text).hex().encode("ascii")
        form = _content_stream(target, b"q\n" + self.head + b"\n[<" + glyphs + b">] TJ\n" + self.tail
                               + b"\nQ\n" + extra)
        form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
        form.BBox = pikepdf.Array(self.bbox)
        form.Resources = resources
        return form


# --- assembling volumes ------------------------------------------------------------------


DEFLATE_MIN_BYTES = 256


def _content_stream(pdf: pikepdf.Pdf, data: bytes) -> pikepdf.Stream:
    """A content stream, deflated here when it is worth it: volumes are saved without qpdf's
    compression pass, which cost more for the same bytes."""
    if len(data) < DEFLATE_MIN_BYTES:
        return pikepdf.Stream(pdf, data)
    stream = pikepdf.Stream(pdf, b"")
    stream.write(zlib.compress(data), filter=pikepdf.Name.FlateDecode)
    return stream


def _own_resources(page: pikepdf.Page) -> pikepdf.Dictionary:
    """WeasyPrint shares one /Resources among a piece's pages: give this page its own, so each
    page lists only the images and stamp it draws."""
    resources = pikepdf.Dictionary({key: value for key, value in page.Resources.items()})
    resources.XObject = pikepdf.Dictionary({key: value for key, value in resources.get("/XObject", {}).items()})
    page.obj.Resources = resources
    return resources


def _draw_plate(pdf: pikepdf.Pdf, page: pikepdf.Page, rect: tuple[float, float, float, float],
                plate: Plate, name: str) -> bytes:
    """Add the JPEG to the page; return the drawing, aspect kept, centred at the top of the laid-out box."""
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
    page.obj.Resources.XObject[f"/{name}"] = image
    return f"q {width:.3f} 0 0 {height:.3f} {left:.3f} {bottom:.3f} cm /{name} Do Q\n".encode("ascii")


def _outline_items(tree, offset: int) -> list[pikepdf.OutlineItem]:
    items = []
    for label, (page, _x, _y), children, _state in tree:
        item = pikepdf.OutlineItem(label, offset + page)
        item.children.extend(_outline_items(children, offset))
        items.append(item)
    return items


def _assemble(pieces: Sequence[_Piece], target: Path, manifest: bytes, manifest_deflated: bytes,
              content: PacketContent, stamp_path: Path, first_number: int,
              spans: dict[int, tuple[int, int]]) -> tuple[int, str]:
    """Join a volume's pieces, draw the plates, stamp every page, fill in the Bates ranges of
    the index and the hash appendix,
    write outline and manifest. Returns the file's size and SHA-256."""
    stamp = _stamp(stamp_path, content.bates_prefix)
    # The volume starts from its first piece's file, or, when that piece was set directly (a
    # volume's cover), from the stamp document emptied of its pages: either way a WeasyPrint
    # PDF/A-3b document of this build, with its XMP metadata, output intent and language.
    drawn_first = pieces[0].path is None
    with pikepdf.open(stamp_path if drawn_first else pieces[0].path) as pdf:
        others = []
        try:
            if drawn_first:
                del pdf.pages[:]
                volume_id = hashlib.md5(f"{content.packet_id}/{target.name}".encode(), usedforsecurity=False).digest()
                pdf.trailer.ID = pikepdf.Array([pikepdf.String(volume_id), pikepdf.String(volume_id)])
            stamp_resources = pdf.copy_foreign(stamp.pdf.pages[0].Resources)
            set_fonts = None
            for piece in pieces[0 if drawn_first else 1:]:
                if piece.path is not None:
                    others.append(pikepdf.open(piece.path))
                    pdf.pages.extend(others[-1].pages)
                    continue
                if set_fonts is None:   # the glyph sheet's fonts, once per volume
                    set_fonts = pdf.copy_foreign(stamp.pdf.pages[-1].Resources.Font)
                for drawn in piece.drawn:
                    pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
                        Type=pikepdf.Name.Page, MediaBox=pikepdf.Array(stamp.bbox),
                        Resources=pikepdf.Dictionary(Font=set_fonts, XObject=pikepdf.Dictionary()),
                        Contents=_content_stream(pdf, drawn))))
            drawings: dict[int, list[bytes]] = {}
            cells: dict[int, list[bytes]] = {}
            offset, serial = 0, 0
            for piece in pieces:
                for page_index, rect, number, style in piece.cells:
                    first, last = (bates_number(content.bates_prefix, n) for n in spans[number])
                    cells.setdefault(offset + page_index, []).append(stamp.cell(rect, first, last, style))
                for page_index, rect, plate in piece.plates:
                    serial += 1
                    page = pdf.pages[offset + page_index]
                    if page.index not in drawings:
                        _own_resources(page)
                        drawings[page.index] = []
                    drawings[page.index].append(_draw_plate(pdf, page, rect, plate, f"FPPlate{serial}"))
                offset += piece.pages
            for index, page in enumerate(pdf.pages):
                resources = page.obj.Resources if index in drawings else _own_resources(page)
                number = bates_number(content.bates_prefix, first_number + index)
                resources.XObject["/FPStamp"] = stamp.stream(pdf, stamp_resources, number,
                                                             b"".join(cells.get(index, [])))
                drawing = b"".join(drawings.get(index, [])) + b"q /FPStamp Do Q\n"
                page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
                page.contents_add(_content_stream(pdf, b"\nQ\n" + drawing), prepend=False)
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
            # Compressed once for all volumes (qpdf would deflate the 1 MB+ manifest in each);
            # /Params keeps the plain file's size and MD5, as PDF 32000 asks.
            spec.obj.EF.F.write(manifest_deflated, filter=pikepdf.Name.FlateDecode)
            pdf.attachments["manifest.json"] = spec
            pdf.Root.AF = pikepdf.Array([spec.obj])
            pdf.save(target, compress_streams=False)  # new streams are deflated as they are made
        finally:
            for other in others:
                other.close()
    return target.stat().st_size, _sha256_file(target)


def _stamp(path: Path, prefix: str) -> _Stamp:
    """The build's stamp, read once per process (every volume of a build uses the same)."""
    key = (str(path), path.stat().st_mtime_ns, prefix)
    cached = _STATE.get("stamp")
    if cached is None or cached[0] != key:
        if cached is not None:
            cached[1].pdf.close()
        _STATE["stamp"] = cached = (key, _Stamp.load(path, prefix))
    return cached[1]


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
    # Pango, HarfBuzz and WeasyPrint's shared font state are not safe across threads: two
    # builds in one process (a job thread and a test, two runtimes) crashed it. One at a time.
    with _RENDER_LOCK, tempfile.TemporaryDirectory(dir=work_dir, prefix="packet-") as scratch:
        scratch_dir = Path(scratch)
        return _render(content, out_dir, scratch_dir, max_volume_bytes, start_number)


_RENDER_LOCK = threading.Lock()


def _workers(exhibits: int) -> int:
    if exhibits < PARALLEL_MIN_EXHIBITS:
        return 1
    configured = RENDER_WORKERS or int(os.environ.get("FIELDPROOF_RENDER_WORKERS", "0") or 0)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, configured or min(2, cpus))


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
    volume_of = {item.exhibit.number: v + 1 for v, group in enumerate(plan) for item in
                 (prepared[i] for i in group)}
    stamp_path = scratch / "stamp.pdf"
    texts = exhibit_texts(content, prepared)
    characters = sheet_characters(content, texts, prepared, volume_of, len(plan))
    runner = _Runner(_workers(len(prepared)), (content, prepared, scratch, volume_of, len(plan), texts),
                     warm=[("stamp", stamp_path, characters)])
    try:
        return _lay_out_and_assemble(content, out_dir, scratch, limit, start, prepared, plan, volume_of,
                                     runner, warnings, stamp_path, texts)
    finally:
        runner.close()


def _exhibit_jobs(plan: Sequence[range], direct: Sequence[bool]) -> list[tuple[int, tuple]]:
    """Per volume, runs of exhibits set directly (``set``) or laid out by WeasyPrint (``exhibits``),
    in exhibit order, cut into chunks; the first chunk carries the Exhibits heading."""
    jobs: list[tuple[int, tuple]] = []
    for v, group in enumerate(plan):
        runs: list[list[int]] = []
        for i in group:
            if runs and direct[runs[-1][-1]] == direct[i]:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            kind, size = ("set", SET_CHUNK_EXHIBITS) if direct[run[0]] else ("exhibits", CHUNK_EXHIBITS)
            for indices in _chunks(run, size):
                jobs.append((v, (kind, f"ex{v + 1:02d}-{len(jobs):04d}", tuple(indices), not jobs)))
    return jobs


def _lay_out_and_assemble(content, out_dir, scratch, limit, start, prepared, plan, volume_of, runner,
                          warnings, stamp_path, texts) -> RenderedPacket:
    # Phase 1: everything whose layout holds no page number, once each and in parallel: the front
    # matter (summary, chronology; exhibit index), the exhibit chunks, the back matter (declaration;
    # hash appendix; how to verify); the stamp page and glyph sheet were laid out first, warming up
    # the layout. The index and the appendix leave their Bates ranges blank, filled in at assembly.
    # Exhibits, index and appendix are set directly unless their words need WeasyPrint.
    sheet = GlyphSheet.load(stamp_path)
    direct = [exhibit_settable(sheet, text) for text in texts]
    columns, rows = index_rows(content, volume_of, len(plan))
    index_direct = index_settable(sheet, columns, rows)
    head, lines, title, checkpoint = hash_lines(content, prepared)
    if not (settable(sheet, "monobold", head) and settable(sheet, "mono", *lines, checkpoint, content.ledger.key_id)
            and settable(sheet, "bold", title, "key id")):
        raise RuntimeError("the hash appendix has characters the glyph sheet could not set")
    chunk_jobs = _exhibit_jobs(plan, direct)
    front_jobs = [("front", "front", not index_direct)] + ([("index",)] if index_direct else [])
    back_jobs = [("declaration",), ("hashes",), ("verify",)]
    results = runner.submit([*front_jobs, *back_jobs, *(job for _v, job in chunk_jobs)])()
    front = results[:len(front_jobs)]
    back = results[len(front_jobs):len(front_jobs) + len(back_jobs)]
    chunk_results = results[len(front_jobs) + len(back_jobs):]

    # Phase 2: the covers, which print page numbers, and the assembly. Pages are counted with one
    # page per cover. While the packet's cover is laid out, volumes 2 on are already assembled on
    # that count (they do not hold the cover); volume 1 follows once the cover is known. In the
    # rare case a cover takes more pages, the phase is repeated on the new count.
    targets = [out_dir / Path(volume_file_name(content, v + 1)).name for v in range(len(plan))]
    exhibit_files = [BundleFile(exhibit_file_name(e), e.sha256, e.size, "exhibit") for e in content.exhibits]
    cover_pages = {v: COVER_PAGES_GUESS for v in range(len(plan))}
    for _attempt in range(4):
        volume_pieces: list[list] = [[] for _ in plan]
        spans: dict[int, tuple[int, int]] = {}
        number = start + cover_pages[0] + sum(piece.pages for piece in front)
        volume_firsts = [start]
        for v in range(len(plan)):
            if v > 0:
                volume_firsts.append(number)
                number += cover_pages[v]
            for (cv, _job), (piece, chunk_spans) in zip(chunk_jobs, chunk_results):
                if cv == v:
                    spans.update({n: (number + a, number + b) for n, (a, b) in chunk_spans.items()})
                    volume_pieces[v].append(piece)
                    number += piece.pages
        last = number + sum(piece.pages for piece in back) - 1
        volume_spans = [(first, (volume_firsts[v + 1] - 1) if v + 1 < len(plan) else last)
                        for v, first in enumerate(volume_firsts)]
        # Volume covers are set here (about a millisecond each) unless their words need WeasyPrint.
        cover_jobs, covers = [("cover", "cover", {"start": start, "spans": spans, "volume_spans": volume_spans,
                                                  "total_last": last})], {}
        for v in range(1, len(plan)):
            numbers = (prepared[plan[v][0]].exhibit.number, prepared[plan[v][-1]].exhibit.number)
            heading, rows = volume_cover_words(content, v + 1, len(plan), numbers,
                                               bates_number(content.bates_prefix, volume_firsts[v]))
            if volume_cover_settable(sheet, heading, rows):
                covers[v] = _set_piece(set_volume_cover(sheet, heading, rows))
            else:
                cover_jobs.append(("volume", f"vol{v + 1:02d}", {"volume": v + 1, "first": volume_firsts[v],
                                                                  "volume_exhibits": numbers}))
        laying_out = runner.submit(cover_jobs)
        pagination = Pagination(
            exhibits=tuple(ExhibitPlacement(n, volume_of[n], *spans[n]) for n in sorted(spans)),
            volumes=tuple(VolumePlacement(v + 1, volume_file_name(content, v + 1), b - a + 1, a, b)
                          for v, (a, b) in enumerate(volume_spans)),
        )
        manifest = build_manifest(content, exhibit_files, pagination)
        manifest_deflated = zlib.compress(manifest)

        def assembly(v: int, pieces: list) -> tuple:
            return ("assemble", pieces, targets[v], manifest, manifest_deflated, content, stamp_path,
                    volume_spans[v][0], spans)

        early = None
        if runner.parallel and len(plan) > 1 and len(covers) == len(plan) - 1 and \
                all(piece.pages == cover_pages[v] for v, piece in covers.items()):
            volume_pieces[-1].extend(back)
            early = runner.submit([assembly(v, [covers[v], *volume_pieces[v]]) for v in range(1, len(plan))])
        cover, *laid_out = laying_out()
        covers.update(zip((job[2]["volume"] - 1 for job in cover_jobs[1:]), laid_out))
        counted = {0: cover.pages, **{v: piece.pages for v, piece in covers.items()}}
        if counted == cover_pages:
            break
        if early is not None:
            early()  # on the old count: wait for them, then write them again
        cover_pages = counted
    else:  # pragma: no cover - a cover is one page unless there are hundreds of volumes
        raise RuntimeError("cover page counts did not settle")
    if early is not None:
        written = runner.submit([assembly(0, [cover, *front, *volume_pieces[0]])])() + early()
    else:
        volume_pieces[0][:0] = [cover, *front]
        for v in range(1, len(plan)):
            volume_pieces[v].insert(0, covers[v])
        volume_pieces[-1].extend(back)
        written = runner.submit([assembly(v, pieces) for v, pieces in enumerate(volume_pieces)])()
    volumes = []
    for v, (size, digest) in enumerate(written):
        a, b = volume_spans[v]
        if size > limit and len(plan[v]) > 1:
            warnings.append(f"volume {v + 1} is {size} bytes, over the {limit}-byte limit")
        volumes.append(Volume(v + 1, targets[v], b - a + 1, a, b, size, digest,
                              bates_number(content.bates_prefix, a), bates_number(content.bates_prefix, b)))
    return RenderedPacket(tuple(volumes), pagination, manifest, tuple(warnings), content.bates_prefix)
