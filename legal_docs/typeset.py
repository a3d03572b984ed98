"""Setting text straight into PDF content streams, with glyphs from fonts WeasyPrint embedded.

WeasyPrint costs about 20 ms of CPU per page, most of it in its box model, which regular pages
(an exhibit's caption above its photo, the rows of the exhibit index, the hash appendix) do not
need. Those pages are set here instead:

* Glyphs come from a *glyph sheet*: WeasyPrint lays out, once per build, one paragraph per font
  role (regular, bold, mono, mono bold) holding every character that role has to set. The fonts it
  embeds for the sheet are PDF/A-ready subsets (font program, ``/W`` widths, ``ToUnicode``) that
  hold exactly those glyphs, in the faces fontconfig chose (Chinese in Noto Sans CJK SC, since the
  sheet is laid out with the packet's ``lang``). The sheet is read back per character: which font
  resource, which 2-byte code, what advance. Each role's paragraph has its own font size
  (``SHEET_SIZE``), which is how its runs are told apart.
* Lines are broken here: at spaces, and between CJK characters except before closing or after
  opening punctuation; a word wider than the line is broken anywhere, so no text leaves the page.
* Only text that needs no shaping is set: Latin, Greek, Cyrillic, CJK and common punctuation and
  symbols, without combining marks, every character with a real glyph (never ``.notdef``).
  ``settable`` says whether a text qualifies; callers send anything else through WeasyPrint.

Pure functions and plain data, so that pages can be set in any process from the sheet file.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import pikepdf

__all__ = ["ROLES", "SHEET_SIZE", "Flow", "GlyphSheet", "settable", "simple_script", "to_unicode", "widths"]

ROLES = ("regular", "bold", "mono", "monobold")
SHEET_SIZE = {role: 20 + n for n, role in enumerate(ROLES)}    # px; tells the roles' runs apart
PAGE_WIDTH, PAGE_HEIGHT = 595.2756, 841.8898                    # A4 in pt
MM = 72 / 25.4
TOP, BOTTOM, LEFT = PAGE_HEIGHT - 16 * MM, 17 * MM, 15 * MM      # packet.css @page margins
WIDTH = PAGE_WIDTH - 30 * MM
_PX = 0.75
_NO_START = set("、。，．：；？！）」』】〕〉》”’…‥・ー々〜％,.:;?!)]}")
_NO_END = set("（「『【〔〈《“‘([{")
_SIMPLE_RANGES = ((0x20, 0x7E), (0xA0, 0x2AF), (0x370, 0x3FF), (0x400, 0x52F), (0x1E00, 0x1FFF),
                  (0x2010, 0x2027), (0x2030, 0x205E), (0x2070, 0x2BFF), (0x3000, 0x30FF), (0x3400, 0x4DBF),
                  (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF01, 0xFFEF))


def _character_class(ranges, keep) -> str:
    """A regex character class of the code points in ``ranges`` for which ``keep(char)`` holds."""
    runs: list[list[int]] = []
    for low, high in ranges:
        for code in range(low, high + 1):
            if keep(chr(code)):
                if runs and runs[-1][1] == code - 1:
                    runs[-1][1] = code
                else:
                    runs.append([code, code])
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in runs)


_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))   # all letters: no need to scan
_SIMPLE = re.compile("[\n" + _character_class(
    [r for r in _SIMPLE_RANGES if r not in _IDEOGRAPHS],
    lambda c: unicodedata.category(c) not in ("Mn", "Mc", "Me", "Cf", "Cc", "Co", "Cn"))
    + "".join(f"{chr(a)}-{chr(b)}" for a, b in _IDEOGRAPHS) + "]*")
# East Asian Wide and Fullwidth (UAX 11), the blocks that matter for line breaking
_WIDE = re.compile("[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF"
                   "\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\U00020000-\U0003FFFD]")
_LATIN_TOKEN = re.compile(r"[^ ]* +|[^ ]+")


def _wide(char: str) -> bool:
    return _WIDE.match(char) is not None


def simple_script(text: str) -> bool:
    """Whether ``text`` can be set glyph by glyph: no shaping, no combining marks, no controls."""
    return _SIMPLE.fullmatch(text) is not None


def to_unicode(font) -> dict[bytes, str]:
    """code (2 bytes) -> text, from a WeasyPrint font's ToUnicode CMap (bfchar/bfrange)."""
    data = font.ToUnicode.read_bytes().decode("latin-1")
    codes: dict[bytes, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", data, re.S):
        for code, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            codes[bytes.fromhex(code)] = bytes.fromhex(text).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", data, re.S):
        for low, high, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            first = int(text, 16)
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                codes[code.to_bytes(len(low) // 2, "big")] = chr(first + offset)
    return codes


def widths(font) -> dict[bytes, float]:
    """code -> advance in text space units (1/1000 em), from a CID font's /W array; b"" is the default."""
    descendant = font.DescendantFonts[0]
    default = float(descendant.get("/DW", 1000))
    result: dict[bytes, float] = {}
    items = list(descendant.get("/W", []))
    i = 0
    while i < len(items):
        first = int(items[i])
        if isinstance(items[i + 1], pikepdf.Array):
            for offset, width in enumerate(items[i + 1]):
                result[(first + offset).to_bytes(2, "big")] = float(width)
            i += 2
        else:
            for code in range(first, int(items[i + 1]) + 1):
                result[code.to_bytes(2, "big")] = float(items[i + 2])
            i += 3
    result[b""] = default
    return result


@dataclass(frozen=True)
class Glyph:
    font: str          # resource name in the sheet document's /Font, e.g. "/BAWKYD"
    code: bytes
    advance: float     # in em


@dataclass
class GlyphSheet:
    """Per role, the glyph of every character the sheet laid out; per font, its ascent and descent (em)."""

    glyphs: dict[str, dict[str, Glyph]]
    metrics: dict[str, tuple[float, float]]
    advances: dict[str, dict[str, float]] = field(default_factory=dict)
    hexes: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.advances = {role: {c: g.advance for c, g in table.items()} for role, table in self.glyphs.items()}
        self.hexes = {role: {c: (g.font, g.code.hex()) for c, g in table.items()} for role, table in self.glyphs.items()}
        self._codes = {role: {c: g.code.hex() for c, g in table.items()} for role, table in self.glyphs.items()}
        self._one_font = {role: next(iter(fonts)) if len(fonts := {g.font for g in table.values()}) == 1 else None
                          for role, table in self.glyphs.items()}

    @classmethod
    def load(cls, path: Path | str, first_page: int = 1) -> GlyphSheet:
        """Read the sheet pages (``first_page`` on) of a WeasyPrint document."""
        glyphs: dict[str, dict[str, Glyph]] = {role: {} for role in ROLES}
        metrics: dict[str, tuple[float, float]] = {}
        role_of = {float(size): role for role, size in SHEET_SIZE.items()}
        with pikepdf.open(path) as pdf:
            fonts = pdf.pages[first_page].Resources.get("/Font", {})
            maps = {str(name): to_unicode(font) for name, font in fonts.items()}
            advances = {str(name): widths(font) for name, font in fonts.items()}
            for name, font in fonts.items():
                descriptor = font.DescendantFonts[0].FontDescriptor
                metrics[str(name)] = (float(descriptor.Ascent) / 1000, -float(descriptor.Descent) / 1000)
            for page in pdf.pages[first_page:]:
                font, role = None, None
                for operands, operator in pikepdf.parse_content_stream(page):
                    name = str(operator)
                    if name == "Tf":
                        font, role = str(operands[0]), role_of.get(round(float(operands[1]), 3))
                    elif name in ("TJ", "Tj") and role is not None:
                        parts = operands[0] if name == "TJ" else [operands[0]]
                        raw = b"".join(bytes(p) for p in parts if isinstance(p, pikepdf.String))
                        for i in range(0, len(raw) - 1, 2):
                            code = raw[i:i + 2]
                            char = maps[font].get(code)
                            if char is None or len(char) != 1 or code == b"\x00\x00":
                                continue   # no glyph (.notdef) or a ligature: leave the character out
                            width = advances[font].get(code, advances[font][b""]) / 1000
                            glyphs[role].setdefault(char, Glyph(font, code, width))
        return cls(glyphs, metrics)

    def has(self, role: str, text: str) -> bool:
        table = self.glyphs[role]
        return all(char in table for char in text if char != "\n")

    def width(self, role: str, text: str, size: float) -> float:
        return sum(map(self.advances[role].__getitem__, text)) * size

    def baseline(self, role: str, size: float, line_height: float) -> float:
        """Distance from a line box's top to its baseline (CSS half-leading, the role's primary font)."""
        glyph = self.glyphs[role].get("0") or next(iter(self.glyphs[role].values()))
        ascent, descent = self.metrics[glyph.font]
        return (line_height - (ascent + descent) * size) / 2 + ascent * size

    def show(self, role: str, text: str, size: float, x: float, y: float) -> bytes:
        """The operators drawing ``text`` on one line with its baseline at (x, y): one run per font."""
        font = self._one_font[role]
        if font is not None:     # the role's glyphs are all in one font: one run
            return (f"1 0 0 1 {x:.2f} {y:.2f} Tm {font} {size:g} Tf <"
                    f"{''.join(map(self._codes[role].__getitem__, text))}> Tj\n").encode("ascii")
        out = [f"1 0 0 1 {x:.2f} {y:.2f} Tm"]
        for font, run in groupby(map(self.hexes[role].__getitem__, text), key=itemgetter(0)):
            out.append(f"{font} {size:g} Tf <{''.join([code for _font, code in run])}> Tj")
        return (" ".join(out) + "\n").encode("ascii")


def clean(text: str) -> str:
    """Tabs as spaces, other control characters dropped, line ends as ``\\n``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROLS.sub("", text)


_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")   # category Cc but \n


def settable(sheet: GlyphSheet, role: str, *texts: str) -> bool:
    """Whether every text can be set here in ``role``: simple script, a real glyph for every character."""
    return all(simple_script(text) and sheet.has(role, text) for text in texts)


def _tokens(text: str) -> list[str]:
    """Pieces between break opportunities: after spaces, around CJK characters (not before closing
    or after opening punctuation)."""
    if not _WIDE.search(text):
        return _LATIN_TOKEN.findall(text)
    tokens: list[str] = []
    current = ""
    for char in text:
        if current:
            prev = current[-1]
            if char in _NO_START or prev in _NO_END:
                breaks = False
            elif prev == " ":
                breaks = char != " "
            else:
                breaks = _wide(prev) or _wide(char)
            if breaks:
                tokens.append(current)
                current = ""
        current += char
    if current:
        tokens.append(current)
    return tokens


def wrap(sheet: GlyphSheet, role: str, text: str, size: float, width: float) -> list[str]:
    """Break one paragraph (no ``\\n``) into lines no wider than ``width`` (trailing spaces hang)."""
    lines: list[str] = []
    line, used = "", 0.0
    for token in _tokens(text):
        token_width = sheet.width(role, token, size)
        if line and used + sheet.width(role, token.rstrip(" "), size) > width:
            lines.append(line.rstrip(" "))
            line, used = "", 0.0
        if not line and sheet.width(role, token.rstrip(" "), size) > width:
            for char in token:      # wider than a line: break anywhere
                char_width = sheet.width(role, char, size)
                if line and char != " " and used + char_width > width:
                    lines.append(line.rstrip(" "))
                    line, used = "", 0.0
                line += char
                used += char_width
            continue
        line += token
        used += token_width
    lines.append(line.rstrip(" "))
    return lines


@dataclass
class Flow:
    """Pages filled top to bottom: each page a list of content-stream pieces, plus the boxes that
    the assembly fills (photos, Bates ranges) and bookmarks, positions in CSS px from the top left."""

    sheet: GlyphSheet
    pages: list[list[bytes]] = field(default_factory=list)
    y: float = 0.0

    def page(self) -> None:
        self.pages.append([])
        self.y = TOP

    @property
    def index(self) -> int:
        return len(self.pages) - 1

    def need(self, height: float) -> bool:
        """Start a page unless ``height`` fits below; True when a page was started."""
        if not self.pages or self.y - height < BOTTOM - 0.01:
            self.page()
            return True
        return False

    def draw(self, data: bytes) -> None:
        self.pages[-1].append(data)

    def lines(self, text: str, role: str, size: float, line_height: float, *, x: float = LEFT,
              width: float = WIDTH) -> None:
        """Set ``text`` (``\\n`` separates paragraphs), wrapped to ``width``, continuing on new pages."""
        drop = self.sheet.baseline(role, size, line_height)
        for paragraph in text.split("\n"):
            for line in wrap(self.sheet, role, paragraph, size, width):
                self.need(line_height)
                if line:
                    self.draw(b"BT 0 g " + self.sheet.show(role, line, size, x, self.y - drop) + b"ET\n")
                self.y -= line_height

    def px_rect(self, x0: float, top: float, x1: float, bottom: float) -> tuple[float, float, float, float]:
        """PDF points (y up) to the CSS px box (y down) that WeasyPrint anchors use."""
        return (x0 / _PX, (PAGE_HEIGHT - top) / _PX, x1 / _PX, (PAGE_HEIGHT - bottom) / _PX)
