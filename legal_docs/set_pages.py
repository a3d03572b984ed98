"""What the regular pages of a packet say, and how they are set without WeasyPrint.

The words of an exhibit's caption, of the exhibit index and of the hash appendix are made here
once (labels from ``templates/legal/<lang>/labels.html``), for both ways of putting them on paper:
set directly (``typeset``) when every character can be, else laid out by WeasyPrint from the same
words (``packet.html``). Sizes and spacing follow ``packet.css``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from legal_docs.bates import bates_range
from legal_docs.content import PacketContent
from legal_docs.bates import DIGITS
from legal_docs.typeset import BOTTOM, LEFT, MM, TOP, WIDTH, Flow, GlyphSheet, clean, settable, simple_script, wrap

__all__ = ["ExhibitText", "TEMPLATES_DIR", "exhibit_texts", "hash_lines", "index_rows", "labels",
           "set_exhibits", "set_hashes", "set_index", "set_volume_cover", "sheet_characters",
           "volume_cover_settable", "volume_cover_words"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "legal"
_LH = 1.35                                    # packet.css line-height
PLATE_HEIGHT, FULL_PLATE_HEIGHT = 165 * MM, 235 * MM


def labels(content: PacketContent):
    """The packet language's words (labels.html as a module; plain text, not HTML-escaped)."""
    global _TEXT_ENV
    if _TEXT_ENV is None:   # templates compile once per process
        _TEXT_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=False,
                                       undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _TEXT_ENV.get_template(f"{content.language}/labels.html").make_module({"content": content})


_TEXT_ENV: jinja2.Environment | None = None


def _utc(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %z")


def _metres(value) -> str:
    return "—" if value is None else f"{value:,.0f} m"


@dataclass(frozen=True)
class ExhibitText:
    """Everything an exhibit's pages say, by the role it is set in."""

    heading: str                 # bold
    caption: str                 # regular, one line per fact
    custody: str                 # mono, one line per event
    box: str | None = None       # regular, boxed: why the item is not shown on paper
    raster_note: str | None = None
    note_text: str | None = None

    def by_role(self) -> dict[str, list[str]]:
        regular = [self.caption] + [t for t in (self.box, self.raster_note, self.note_text) if t is not None]
        return {"bold": [self.heading], "regular": regular, "mono": [self.custody]}


def exhibit_texts(content: PacketContent, prepared: Sequence) -> tuple[ExhibitText, ...]:
    """The words on each exhibit's pages (``prepared``: the render's _Prepared items)."""
    L = labels(content)
    texts = []
    for item in prepared:
        e = item.exhibit
        place = "%.6f, %.6f" % (e.lat, e.lon) if e.lat is not None else "—"
        if e.distance_m is not None:
            place += f" · {L.distance_to(_metres(e.distance_m), e.address_label)}"
        source = f"{e.source} · {e.media_type} · {e.size:,} {L.bytes}"
        if e.derived_from:
            source += f" · {L.derived_from} {e.derived_from}"
        caption = [
            e.description,
            f"{L.captured}{L.colon}{_utc(e.captured_at)} · {_local(e.captured_local)} ({e.zone})",
            f"{L.place}{L.colon}{place}",
            f"{L.collector}{L.colon}{e.collector} · {L.device}{L.colon}{e.device}",
            f"{L.consent}{L.colon}{L.consent_text(e.consent)}",
            f"{L.source}{L.colon}{source}",
            f"{L.purpose}{L.colon}{e.purpose}",
            f"SHA-256{L.colon}{e.sha256}",
            f"{L.bundle_file}{L.colon}{item.bundle_name}",
            f"{L.custody}{L.colon}",
        ]
        custody = [f"#{ev.index} {ev.type:<10} {ev.at} {ev.actor} {ev.leaf_hash}" for ev in e.custody]
        shown = e.kind == "audio" or (not item.plates and item.note_text is None)
        texts.append(ExhibitText(
            heading=clean(f"{L.exhibit_label(e.number)}: {e.title}").replace("\n", " "),
            caption=clean("\n".join(caption)), custody=clean("\n".join(custody)),
            box=clean(str(L.not_shown(e, item))) if shown else None,
            raster_note=str(L.raster_note(len(item.plates), item.source_pages))
            if item.source_pages and item.plates else None,
            note_text=clean(item.note_text) if item.note_text is not None else None))
    return tuple(texts)


def index_rows(content: PacketContent, volume_of: dict[int, int], volumes: int) -> tuple[list, list[list[str]]]:
    """The exhibit index: columns (header, width %, field) and, per exhibit, its cells' text
    (the Bates cell empty: it is filled in at assembly)."""
    L = labels(content)
    columns = list(L.index_columns)
    rows = []
    for e in content.exhibits:
        title = e.title + (str(L.volume_suffix(volume_of[e.number])) if volumes > 1 else "")
        values = {"number": str(e.number), "title": title, "source": e.source, "purpose": e.purpose,
                  "sha256": e.sha256, "bates": ""}
        rows.append([clean(values[name]).replace("\n", " ") for _header, _width, name in columns])
    return columns, rows


def _cell_role(name: str) -> str:
    return "mono" if name == "sha256" else "regular"


def hash_lines(content: PacketContent, prepared: Sequence) -> tuple[str, list[str], str, str]:
    """The hash appendix's words: header, two lines per exhibit (the Bates column blank), the
    checkpoint title and text."""
    L = labels(content)
    width = len(bates_range(content.bates_prefix, 1, 2))
    head = f"{L.exhibit_short:>4}  {L.bates_range:<{width}}  SHA-256\n      {L.bundle_file} · {L.bytes}"
    rows = [f"{item.exhibit.number:4d}  {' ' * width}  {item.exhibit.sha256}\n"
            f"      {item.bundle_name} · {item.exhibit.size:,}" for item in prepared]
    return head, rows, L.checkpoint_title, content.ledger.checkpoint.decode("utf-8").replace("\n", " ¶ ")


def volume_cover_words(content: PacketContent, volume: int, volumes: int, numbers: tuple[int, int],
                       first: str) -> tuple[str, list[tuple[str, str]]]:
    """The words on the cover of volume ``volume`` (2 on): its heading, and (label, value) rows,
    the last one the Bates number of its first page (``first``)."""
    L = labels(content)
    heading = clean(str(L.volume_heading(volume, volumes, numbers))).replace("\n", " ")
    return heading, [(str(L.case_reference), clean(content.case.reference).replace("\n", " ")),
                     (str(L.first_page), first)]


def _volume_ranges(volume_of: dict[int, int]) -> dict[int, tuple[int, int]]:
    ranges: dict[int, tuple[int, int]] = {}
    for number, volume in volume_of.items():
        low, high = ranges.get(volume, (number, number))
        ranges[volume] = (min(low, number), max(high, number))
    return ranges


def sheet_characters(content: PacketContent, texts: Sequence[ExhibitText], prepared: Sequence,
                     volume_of: dict[int, int], volumes: int) -> dict[str, str]:
    """Every character each role has to set (texts that need WeasyPrint anyway left out), and digits."""
    L = labels(content)
    chars: dict[str, set[str]] = {"regular": set(), "bold": set(), "mono": set(), "monobold": set()}

    def add(role: str, *values: str) -> None:
        for value in values:
            if simple_script(value):
                chars[role].update(value)
    for text in texts:
        for role, values in text.by_role().items():
            add(role, *values)
    columns, rows = index_rows(content, volume_of, volumes)
    add("bold", str(L.index_title), str(L.exhibits_heading), *(header for header, _w, _n in columns))
    for row in rows:
        for (_header, _width, name), value in zip(columns, row):
            add(_cell_role(name), value)
    head, lines, title, checkpoint = hash_lines(content, prepared)
    add("monobold", head)
    add("mono", *lines, checkpoint, content.ledger.key_id)
    add("bold", str(L.hash_appendix), title, "key id")
    for volume, numbers in sorted(_volume_ranges(volume_of).items()):
        if volume > 1:
            heading, rows = volume_cover_words(content, volume, volumes, numbers, content.bates_prefix + "0" * DIGITS)
            add("bold", heading, *(label for label, _value in rows))
            add("regular", *(value for _label, value in rows))
    for role in chars:
        chars[role].update("0123456789 ")
        chars[role].discard("\n")
    return {role: "".join(sorted(found)) for role, found in chars.items()}


# --- setting -----------------------------------------------------------------------------


def _heading(flow: Flow, text: str, size: float, after: float) -> tuple[int, float]:
    """A bold heading; returns where its bookmark points (page, y in px)."""
    flow.need(size * _LH)
    mark = (flow.index, flow.px_rect(0, flow.y, 0, flow.y)[1])
    flow.lines(text, "bold", size, size * _LH)
    flow.y -= after
    return mark


def _box(flow: Flow, text: str, *, margin: float, border: float, padding: float, gray: float) -> None:
    """Boxed text (``.box``, ``.note-text``), the border drawn on each page the text reaches."""
    flow.y -= margin
    inset = border + padding
    size, line_height = 9.0, 9.0 * _LH
    flow.need(2 * inset + line_height)
    top, page = flow.y, flow.index
    flow.y -= inset

    def frame(at_top: float, at_bottom: float) -> bytes:
        half = border / 2
        return (f"q {gray:.3f} G {border:.2f} w {LEFT + half:.2f} {at_bottom + half:.2f} {WIDTH - border:.2f} "
                f"{at_top - at_bottom - border:.2f} re S Q\n").encode("ascii")
    flow.lines(text, "regular", size, line_height, x=LEFT + inset, width=WIDTH - 2 * inset)
    flow.y -= inset
    for index in range(page, len(flow.pages)):
        at_top = top if index == page else TOP
        at_bottom = flow.y if index == len(flow.pages) - 1 else BOTTOM
        flow.pages[index].insert(0, frame(at_top, at_bottom))
    flow.y -= margin



@dataclass
class SetPiece:
    """Pages set here: content per page, bookmarks (WeasyPrint's tree shape), plates and Bates cells."""

    pages: list[bytes]
    bookmarks: list
    plates: list
    cells: list


def _piece(flow: Flow, bookmarks: list, plates: list, cells: list) -> SetPiece:
    return SetPiece([b"".join(parts) for parts in flow.pages], bookmarks, plates, cells)


def set_exhibits(sheet: GlyphSheet, items: Sequence, texts: Sequence[ExhibitText], heading: str | None) -> tuple[SetPiece, dict[int, tuple[int, int]]]:
    """Exhibits, each from a new page: heading, caption, custody lines, box, then its plates."""
    flow = Flow(sheet)
    marks, spans, plates = [], {}, []
    top_mark = None
    for item, text in zip(items, texts):
        flow.page()
        first = flow.index
        if heading and top_mark is None:
            top_mark = _heading(flow, heading, 14.0, 4 * MM)
        page, y = _heading(flow, text.heading, 11.0, 2 * MM)
        marks.append((text.heading, (page, 0, y), [], "open"))
        flow.lines(text.caption, "regular", 9.0, 9.0 * _LH)
        flow.y -= 1 * MM
        flow.lines(text.custody, "mono", 6.4, 6.4 * _LH)
        if text.box is not None:
            _box(flow, text.box, margin=3 * MM, border=0.6, padding=3 * MM, gray=0.267)
        if text.note_text is not None:
            _box(flow, text.note_text, margin=0, border=0.4, padding=2 * MM, gray=0.533)
        if text.raster_note is not None:
            flow.y -= 7.5
            flow.lines(text.raster_note, "regular", 7.5, 7.5 * _LH)
            flow.y -= 7.5
        full = bool(item.source_pages)
        for plate in item.plates:
            if full:
                flow.page()
                height = FULL_PLATE_HEIGHT
            else:
                height = PLATE_HEIGHT
                if not flow.need(3 * MM + height):
                    flow.y -= 3 * MM
            item_rect = flow.px_rect(LEFT, flow.y, LEFT + WIDTH, flow.y - height)
            plates.append((flow.index, item_rect, plate))
            flow.y -= height
        spans[item.exhibit.number] = (first, flow.index)
    bookmarks = [(heading, (top_mark[0], 0, top_mark[1]), marks, "open")] if top_mark else marks
    return _piece(flow, bookmarks, plates, []), spans


_GRAY_LINE, _HEADER_FILL = 0.533, 0.933


def set_index(sheet: GlyphSheet, title: str, columns: list, rows: list[list[str]], numbers: Sequence[int]) -> SetPiece:
    """The exhibit index as a ruled table (``table.small.fixed``), its header repeated on each page;
    each Bates cell is left blank, two lines high, and recorded for the assembly to fill."""
    flow = Flow(sheet)
    flow.page()
    mark = _heading(flow, title, 14.0, 4 * MM)
    size, pad_x, pad_y, rule = 7.5, 3.0, 1.0, 0.4
    lefts, x = [], LEFT
    for _header, percent, _name in columns:
        lefts.append((x, x + WIDTH * percent / 100))
        x += WIDTH * percent / 100
    cells = []

    def cell_lines(value: str, role: str, left: float, right: float, cell_size: float) -> list[str]:
        return wrap(sheet, role, value, cell_size, right - left - 2 * (pad_x + rule))

    def row(values: list[str], header: bool, number: int | None) -> None:
        laid = []
        height = 0.0
        for (_h, _p, name), (left, right), value in zip(columns, lefts, values):
            role = "bold" if header else _cell_role(name)
            cell_size = 6.4 if role == "mono" else size
            lines = cell_lines(value, role, left, right, cell_size)
            content = max(len(lines) * cell_size * _LH, 20.25 if name == "bates" and not header else 0)
            laid.append((role, cell_size, lines, left, right, name))
            height = max(height, content)
        height += 2 * (pad_y + rule)
        if flow.need(height) and not header:
            row([h for h, _p, _n in columns], True, None)
        top, bottom = flow.y, flow.y - height
        out = []
        if header:
            out.append(f"q {_HEADER_FILL} g {LEFT:.2f} {bottom:.2f} {WIDTH:.2f} {height:.2f} re f Q\n".encode())
        out.append(f"q {_GRAY_LINE} G {rule} w".encode())
        for _role, _s, _lines, left, right, _name in laid:
            out.append(f" {left:.2f} {bottom:.2f} {right - left:.2f} {height:.2f} re S".encode())
        out.append(b" Q\nBT 0 g\n")
        for role, cell_size, lines, left, right, name in laid:
            drop = sheet.baseline(role, cell_size, cell_size * _LH)
            for n, line in enumerate(lines):
                if line:
                    y = top - rule - pad_y - n * cell_size * _LH - drop
                    out.append(sheet.show(role, line, cell_size, left + rule + pad_x, y))
            if name == "bates" and not header:
                cells.append((flow.index, flow.px_rect(left, top, right, bottom), number, "bates"))
        out.append(b"ET\n")
        flow.draw(b"".join(out))
        flow.y = bottom

    row([h for h, _p, _n in columns], True, None)
    for values, number in zip(rows, numbers):
        row(values, False, number)
    return _piece(flow, [(title, (mark[0], 0, mark[1]), [], "open")], [], cells)


def set_hashes(sheet: GlyphSheet, title: str, head: str, rows: list[str], numbers: Sequence[int],
               checkpoint_title: str, checkpoint: str, key_id: str) -> SetPiece:
    """The hash appendix: a monospaced listing, two lines an exhibit, its Bates column left blank
    (recorded for the assembly), then the checkpoint the custody proofs are checked against."""
    flow = Flow(sheet)
    flow.page()
    mark = _heading(flow, title, 14.0, 4 * MM)
    size, line_height = 6.6, 6.6 * 1.3
    flow.need(2 * line_height)
    flow.lines(head, "monobold", size, line_height)
    flow.draw(f"q 0.533 G 0.4 w {LEFT:.2f} {flow.y - 0.2:.2f} m {LEFT + WIDTH:.2f} {flow.y - 0.2:.2f} l S Q\n".encode())
    flow.y -= 0.4 + 2
    cells = []
    for text, number in zip(rows, numbers):
        flow.need(2 * line_height)
        cells.append((flow.index, flow.px_rect(LEFT, flow.y, LEFT + WIDTH, flow.y - 2 * line_height), number, "hash"))
        flow.lines(text, "mono", size, line_height)
        flow.y -= 1.2
    flow.y -= 3 * MM
    _heading(flow, checkpoint_title, 9.5, 1 * MM)
    flow.y -= 6.4
    flow.lines(checkpoint, "mono", 6.4, 6.4 * _LH)
    flow.y -= 6.4 + 9
    flow.need(9 * _LH)
    drop = sheet.baseline("bold", 9, 9 * _LH)
    label = "key id "
    flow.draw(b"BT 0 g " + sheet.show("bold", label, 9, LEFT, flow.y - drop)
              + sheet.show("mono", key_id, 6.4, LEFT + sheet.width("bold", label, 9), flow.y - drop) + b"ET\n")
    flow.y -= 9 * _LH
    return _piece(flow, [(title, (mark[0], 0, mark[1]), [], "open")], [], cells)


_COVER_SIZE, _COVER_TOP, _COVER_TABLE_WIDTH = 20.0, 35 * MM, 0.8


def set_volume_cover(sheet: GlyphSheet, heading: str, rows: list[tuple[str, str]]) -> SetPiece:
    """A volume's cover as ``packet.html`` lays it out (``.cover``): the heading centred 35 mm down,
    then a two-column table, 80% wide and centred, headers bold on grey; one bookmark."""
    flow = Flow(sheet)
    flow.page()
    flow.y -= _COVER_TOP
    mark = (flow.index, flow.px_rect(0, flow.y, 0, flow.y)[1])
    line_height = _COVER_SIZE * _LH
    drop = sheet.baseline("bold", _COVER_SIZE, line_height)
    out = [b"BT 0 g\n"]
    for line in wrap(sheet, "bold", heading, _COVER_SIZE, WIDTH):
        flow.need(line_height)
        if line:
            x = LEFT + (WIDTH - sheet.width("bold", line, _COVER_SIZE)) / 2
            out.append(sheet.show("bold", line, _COVER_SIZE, x, flow.y - drop))
        flow.y -= line_height
    out.append(b"ET\n")
    flow.draw(b"".join(out))
    flow.y -= 4 * MM + 10 * MM
    size, pad_x, pad_y, rule = 9.0, 3.0, 1.0, 0.4
    table_width = WIDTH * _COVER_TABLE_WIDTH
    left = LEFT + (WIDTH - table_width) / 2
    inset = 2 * (pad_x + rule)
    # as CSS auto table layout shares out the width: in proportion to each column's widest content
    label_width = max(sheet.width("bold", label, size) for label, _v in rows) + inset
    value_width = max(sheet.width("regular", value, size) for _l, value in rows) + inset
    split = left + table_width * min(0.5, label_width / (label_width + value_width))
    columns = (("bold", left, split), ("regular", split, left + table_width))
    for row in rows:
        laid = [(role, x0, x1, wrap(sheet, role, text, size, x1 - x0 - inset))
                for (role, x0, x1), text in zip(columns, row)]
        height = max(len(lines) for *_rest, lines in laid) * size * _LH + 2 * (pad_y + rule)
        flow.need(height)
        top, bottom = flow.y, flow.y - height
        cells = [f"q {_HEADER_FILL} g {left:.2f} {bottom:.2f} {split - left:.2f} {height:.2f} re f Q\n".encode(),
                 f"q {_GRAY_LINE} G {rule} w".encode()]
        for _role, x0, x1, _lines in laid:
            cells.append(f" {x0:.2f} {bottom:.2f} {x1 - x0:.2f} {height:.2f} re S".encode())
        cells.append(b" Q\nBT 0 g\n")
        for role, x0, _x1, lines in laid:
            drop = sheet.baseline(role, size, size * _LH)
            for n, line in enumerate(lines):
                if line:
                    cells.append(sheet.show(role, line, size, x0 + rule + pad_x, top - rule - pad_y - n * size * _LH - drop))
        cells.append(b"ET\n")
        flow.draw(b"".join(cells))
        flow.y = bottom
    return _piece(flow, [(heading, (mark[0], 0, mark[1]), [], "open")], [], [])


def volume_cover_settable(sheet: GlyphSheet, heading: str, rows: list[tuple[str, str]]) -> bool:
    return (settable(sheet, "bold", heading, *(label for label, _v in rows))
            and settable(sheet, "regular", *(value for _l, value in rows)))


def exhibit_settable(sheet: GlyphSheet, text: ExhibitText) -> bool:
    return all(settable(sheet, role, *values) for role, values in text.by_role().items())


def index_settable(sheet: GlyphSheet, columns: list, rows: list[list[str]]) -> bool:
    if not settable(sheet, "bold", *(header for header, _w, _n in columns)):
        return False
    return all(settable(sheet, _cell_role(name), value)
               for row in rows for (_h, _w, name), value in zip(columns, row))
