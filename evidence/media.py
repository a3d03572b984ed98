"""Decide what a spooled upload really is, from its bytes, before anything is stored.

The file name and the client's Content-Type are never consulted. Six formats are allowed and
each is recognised by hand-written checks rather than a general magic database: the checks
we need go beyond a signature (the MP4 family is told apart by its tracks, RIFF and ISO-BMFF
files must tile exactly to their end, ZIP archives hidden behind any format are found from
the tail) and a library such as `filetype` or `puremagic` would still leave all of that to us
while adding hundreds of formats we refuse anyway.

Kinds and the MP4 decision: API.md keeps the kinds `photo | audio | document`. An ISO-BMFF
file is classified by its tracks, not its brand: only sound tracks → `audio/mp4` (M4A, also
the audio-only MP4 that Android recorders write with brand `mp42`); any video track →
`video/mp4`. A declared kind must be true of the bytes, and a video with a sound track *is* a
recording of what was said, so `audio` accepts `video/mp4`; a video is never a `photo`.
A silent video declared as `audio` is refused. When API.md grows a `video` kind, `video/mp4`
moves there and out of `audio`.

Each scan reads the file in fixed chunks or seeks over it, so memory does not grow with size.
"""
from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from enum import StrEnum
from typing import BinaryIO

from evidence.errors import CorruptMedia, MaliciousContent, MediaMismatch, UnsupportedMediaType

SCAN_CHUNK = 1 << 20
PDF_INFLATE_BUDGET = 256 << 20
"""Most inflated PDF stream bytes scanned per file; past it only the raw bytes are scanned."""
_MAX_BOXES = 100_000
_ZIP_EOCD = b"PK\x05\x06"
_ZIP_TAIL = 22 + 0xFFFF


class MediaType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    PDF = "application/pdf"
    WAV = "audio/wav"
    M4A = "audio/mp4"
    MP4 = "video/mp4"


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    AUDIO = "audio"
    DOCUMENT = "document"


KIND_MEDIA_TYPES: dict[EvidenceKind, frozenset[MediaType]] = {
    EvidenceKind.PHOTO: frozenset({MediaType.JPEG, MediaType.PNG}),
    EvidenceKind.AUDIO: frozenset({MediaType.M4A, MediaType.WAV, MediaType.MP4}),
    EvidenceKind.DOCUMENT: frozenset({MediaType.PDF}),
}

_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
     b"M4A ", b"M4V ", b"MSNV", b"dash"}
)
_NOT_MP4_MAJOR = frozenset({b"qt  ", b"heic", b"heix", b"mif1", b"msf1", b"avif", b"crx "})


def screen_media(path: str | os.PathLike[str], declared_kind: str) -> MediaType:
    """Every media check for one spooled upload, cheapest first; returns the sniffed type."""
    media_type = sniff_media_type(path)
    check_declared_kind(declared_kind, media_type, has_sound=_has_sound(path, media_type))
    refuse_hidden_content(path, media_type)
    return media_type


def sniff_media_type(path: str | os.PathLike[str]) -> MediaType:
    """The allowed type the bytes actually are, or `UnsupportedMediaType` / `CorruptMedia`."""
    with open(path, "rb") as f:
        head = f.read(64)
        size = os.fstat(f.fileno()).st_size
        if not head:
            raise UnsupportedMediaType("empty file")
        if head.startswith(b"\xff\xd8\xff"):
            return MediaType.JPEG
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if head[12:16] != b"IHDR":
                raise CorruptMedia("PNG without IHDR first")
            return MediaType.PNG
        if head.startswith(b"%PDF-"):
            return MediaType.PDF
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            _check_wav(f, size)
            return MediaType.WAV
        if head[4:8] == b"ftyp" and _is_mp4_family(head, f):
            handlers = _iso_track_handlers(f, size)
            if b"vide" in handlers:
                return MediaType.MP4
            if b"soun" in handlers:
                return MediaType.M4A
            raise CorruptMedia("MP4 container without an audio or video track")
    raise UnsupportedMediaType("not JPEG, PNG, PDF, WAV, M4A or MP4", head=head[:8].hex())


def check_declared_kind(
    kind: str, media_type: MediaType | str, *, has_sound: bool = True
) -> None:
    """Refuse bytes whose real type is not one the declared kind allows.

    `has_sound` only matters for `video/mp4` under `audio`: a silent video is not audio.
    """
    try:
        declared = EvidenceKind(kind)
    except ValueError:
        raise MediaMismatch(f"unknown evidence kind {kind!r}", kind=kind) from None
    media = MediaType(media_type)
    if media not in KIND_MEDIA_TYPES[declared] or (
        declared is EvidenceKind.AUDIO and media is MediaType.MP4 and not has_sound
    ):
        raise MediaMismatch(
            f"{media.value} is not acceptable as {declared.value}",
            kind=declared.value,
            media_type=media.value,
        )


def refuse_hidden_content(path: str | os.PathLike[str], media_type: MediaType | str) -> None:
    """Refuse plainly detectable second payloads: a ZIP behind any format, active PDF content."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if _has_zip_directory_at_end(f, size):
            raise MaliciousContent("a ZIP archive is appended to the file (polyglot)")
        if MediaType(media_type) is MediaType.PDF:
            found = scan_pdf_actions(f)
            if found:
                raise MaliciousContent(f"PDF contains {found}", pdf_name=found)


# --- PDF active content -------------------------------------------------------------------

_PDF_ACTIVE_NAMES = ("JavaScript", "JS", "Launch", "EmbeddedFile", "EmbeddedFiles", "RichMedia")
_PDF_DELIMITER = rb"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%])"
_PDF_OVERLAP = 64
_STREAM_KEYWORD_SPAN = len(b"endstream\r\n")


def _name_pattern(name: str) -> bytes:
    """A PDF name, each character optionally written as `#xx` (PDF 1.2+ escapes)."""
    parts = []
    for ch in name:
        hex_code = f"{ord(ch):02x}".encode()
        hex_alt = b"".join(b"[" + bytes([c]) + bytes([c]).upper() + b"]" for c in hex_code)
        parts.append(b"(?:" + re.escape(ch.encode()) + b"|#" + hex_alt + b")")
    return b"/" + b"".join(parts)


_PDF_ACTIVE = re.compile(
    b"(?:" + b"|".join(_name_pattern(n) for n in _PDF_ACTIVE_NAMES) + b")" + _PDF_DELIMITER
)


def _stream_data_start(buf: bytes, start: int) -> int:
    """Offset just past the next `stream` keyword and its EOL (not `endstream`), or -1.

    A plain `find` loop: a regex with a look-behind is thirty times slower on binary data.
    """
    at = buf.find(b"stream", start)
    while at >= 0:
        after = at + 6
        if buf[max(0, at - 3):at] != b"end":
            if buf[after:after + 1] == b"\n":
                return after + 1
            if buf[after:after + 2] == b"\r\n":
                return after + 2
        at = buf.find(b"stream", at + 1)
    return -1


def scan_pdf_actions(f: BinaryIO) -> str | None:
    """Name of the first active-content key found (raw or in a Flate stream), else None.

    Names may hide in compressed object streams, so each `stream` is also inflated, within
    `PDF_INFLATE_BUDGET` in total (past it, only raw bytes are scanned); every layer keeps a
    small overlap between chunks so a name or keyword split across a boundary is still seen.
    """
    f.seek(0)
    raw = _NameScanner()
    inflated = _NameScanner()
    budget = PDF_INFLATE_BUDGET
    inflater: zlib._Decompress | None = None
    pending = b""
    while True:
        chunk = f.read(SCAN_CHUNK)
        found = raw.feed(chunk, final=not chunk)
        if found or not chunk:
            return found or inflated.feed(b"", final=True)
        if budget <= 0:
            continue
        buf = pending + chunk
        pending = b""
        i = 0
        while i < len(buf) and budget > 0:
            if inflater is None:
                data_start = _stream_data_start(buf, i)
                if data_start < 0:
                    pending = buf[max(i, len(buf) - _STREAM_KEYWORD_SPAN):]
                    break
                inflater = zlib.decompressobj()
                i = data_start
                continue
            try:
                data = buf[i:]
                while data and budget > 0 and not inflater.eof:
                    out = inflater.decompress(data, min(SCAN_CHUNK, budget))
                    budget -= len(out)
                    found = inflated.feed(out, final=False)
                    if found:
                        return found
                    data = inflater.unconsumed_tail
            except zlib.error:
                inflater = None
                inflated.reset()
                continue
            if inflater.eof:
                i = len(buf) - len(inflater.unused_data)
                inflater = None
                found = inflated.feed(b"", final=True)
                if found:
                    return found
            else:
                i = len(buf)


class _NameScanner:
    """Regex search over a byte stream fed in pieces, keeping an overlap between pieces."""

    def __init__(self) -> None:
        self._tail = b""

    def reset(self) -> None:
        self._tail = b""

    def feed(self, data: bytes, *, final: bool) -> str | None:
        window = self._tail + data + (b" " if final else b"")
        match = _PDF_ACTIVE.search(window)
        if match:
            return _decode_name(match.group(0))
        self._tail = b"" if final else window[-_PDF_OVERLAP:]
        return None


def _decode_name(raw: bytes) -> str:
    return "/" + re.sub(rb"#([0-9a-fA-F]{2})", lambda m: bytes.fromhex(m.group(1).decode()),
                        raw[1:]).decode("latin-1")


# --- ZIP behind another format ------------------------------------------------------------

def _has_zip_directory_at_end(f: BinaryIO, size: int) -> bool:
    """True when the tail holds a well-formed ZIP end-of-central-directory record.

    ZIP readers locate an archive from its end, so an archive appended to a JPEG or PDF is
    usable as such. Requiring the record's comment length to reach exactly the end of file and
    its directory to lie before it keeps chance matches in compressed data out.
    """
    start = max(0, size - _ZIP_TAIL)
    f.seek(start)
    tail = f.read()
    pos = tail.rfind(_ZIP_EOCD)
    while pos >= 0:
        record = tail[pos:pos + 22]
        if len(record) == 22:
            cd_size, cd_offset, comment_len = struct.unpack("<IIH", record[12:22])
            record_at = start + pos
            if record_at + 22 + comment_len == size and cd_offset + cd_size <= record_at:
                return True
        pos = tail.rfind(_ZIP_EOCD, 0, pos)
    return False


# --- RIFF / WAVE --------------------------------------------------------------------------

def _check_wav(f: BinaryIO, size: int) -> None:
    """The RIFF size must match the file and the chunks must include `fmt ` and `data`."""
    f.seek(4)
    (riff_size,) = struct.unpack("<I", f.read(4))
    if riff_size + 8 not in (size, size - 1):
        raise CorruptMedia("RIFF size does not match the file size", riff=riff_size, size=size)
    seen = set()
    offset = 12
    end = riff_size + 8
    count = 0
    while offset + 8 <= end:
        f.seek(offset)
        header = f.read(8)
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        seen.add(chunk_id)
        offset += 8 + chunk_size + (chunk_size & 1)
        count += 1
        if offset > end + 1 or count > _MAX_BOXES:
            raise CorruptMedia("RIFF chunk runs past the end of the file")
    if not {b"fmt ", b"data"} <= seen:
        raise CorruptMedia("WAVE without fmt and data chunks")


# --- ISO base media (MP4, M4A) -------------------------------------------------------------

def _is_mp4_family(head: bytes, f: BinaryIO) -> bool:
    (box_size,) = struct.unpack(">I", head[:4])
    if box_size < 16 or box_size > 4096 or box_size % 4:
        raise CorruptMedia("malformed ftyp box")
    f.seek(0)
    ftyp = f.read(box_size)
    major = ftyp[8:12]
    brands = {major} | {ftyp[i:i + 4] for i in range(16, len(ftyp) - 3, 4)}
    return major not in _NOT_MP4_MAJOR and bool(brands & _MP4_BRANDS)


def _iso_boxes(
    f: BinaryIO, start: int, end: int, counter: list[int]
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for boxes that must tile `start..end` exactly."""
    offset = start
    while offset < end:
        counter[0] += 1
        if counter[0] > _MAX_BOXES:
            raise CorruptMedia("too many boxes")
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            raise CorruptMedia("box header past the end of the file")
        size, box_type = struct.unpack(">I4s", header[:8])
        payload = offset + 8
        if size == 1:
            if len(header) < 16:
                raise CorruptMedia("truncated 64-bit box size")
            (size,) = struct.unpack(">Q", header[8:16])
            payload = offset + 16
        elif size == 0:
            size = end - offset
        if size < payload - offset or offset + size > end:
            raise CorruptMedia("box size does not fit its container", box=box_type.hex())
        yield box_type, payload, offset + size
        offset += size


def _iso_track_handlers(f: BinaryIO, size: int) -> set[bytes]:
    """Handler types (`soun`, `vide`, ...) of every track; boxes must tile the whole file."""
    counter = [0]
    handlers: set[bytes] = set()
    has_moov = False
    for box_type, payload, box_end in _iso_boxes(f, 0, size, counter):
        if box_type != b"moov":
            continue
        has_moov = True
        for trak, trak_payload, trak_end in _iso_boxes(f, payload, box_end, counter):
            if trak != b"trak":
                continue
            for mdia, mdia_payload, mdia_end in _iso_boxes(f, trak_payload, trak_end, counter):
                if mdia != b"mdia":
                    continue
                for hdlr, hdlr_payload, hdlr_end in _iso_boxes(f, mdia_payload, mdia_end, counter):
                    if hdlr == b"hdlr" and hdlr_end - hdlr_payload >= 12:
                        f.seek(hdlr_payload + 8)
                        handlers.add(f.read(4))
    if not has_moov:
        raise CorruptMedia("MP4 without a moov box")
    return handlers


def _has_sound(path: str | os.PathLike[str], media_type: MediaType) -> bool:
    if media_type is not MediaType.MP4:
        return media_type in (MediaType.M4A, MediaType.WAV)
    with open(path, "rb") as f:
        return b"soun" in _iso_track_handlers(f, os.fstat(f.fileno()).st_size)
