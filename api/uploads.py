"""Multipart evidence uploads read straight from `request.stream`, in constant memory.

Werkzeug's own form parsing spools every file part to a temporary file before the view runs,
so the bytes would be copied twice (socket → temp file → our hashing spool). Here the body is
parsed by a small multipart/form-data reader of our own and the `file` part's bytes go to the
evidence spool as they arrive: one copy, hashed on the way. Small fields (the `metadata` JSON)
are kept in memory up to the JSON body limit.

Why not werkzeug's streaming `MultipartDecoder`: profiled on a 1 GB upload it was the largest
single cost (~1.5 s/GB: it copies every byte into its own buffer and scans with a regex, so it
is only fast on small reads). Here the body is read in 1 MiB blocks into fresh buffers, the
delimiter is found with `bytes.find` (a C scan that skips ahead by the delimiter's length), and
the part's bytes are handed on as views of those buffers — no copy in Python at all. A block is
never reused once handed on, which lets the spool hash it on another thread; memory stays
bounded by the spool's queue.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from werkzeug.http import parse_options_header

from api.requests import MalformedBody
from core.errors import ValidationFailed
from evidence.spool import SpooledFile

READ_SIZE = 1 << 20
MAX_PARTS = 8
MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024


@dataclass
class MultipartUpload:
    """The fields of a multipart body and its one spooled file (removed on leaving `with`)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    file_names: list[str] = field(default_factory=list)
    file_name: str | None = None  # the file part's own filename, as the client sent it
    spooled: SpooledFile | None = None

    def __enter__(self) -> MultipartUpload:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        if self.spooled is not None:
            self.spooled.discard()

    def field(self, name: str) -> str:
        values = self.fields.get(name) or []
        if len(values) != 1:
            raise ValidationFailed(f"send exactly one {name!r} part", {name: ["exactly one part is required"]})
        return values[0]


def read_multipart(stream: BinaryIO, content_type: str, *, file_part: str,
                   spool: Callable[[Iterator[bytes]], SpooledFile], max_field_bytes: int) -> MultipartUpload:
    """Parse a multipart body; the part named `file_part` goes through `spool`, other files are refused."""
    _, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 200:  # RFC 2046 says 70; werkzeug's own client makes longer ones
        raise MalformedBody("multipart/form-data needs a boundary parameter of 1-200 characters")
    reader = _BodyReader(stream, b"--" + boundary.encode("latin-1", "replace"))
    upload = MultipartUpload()
    try:
        reader.skip_preamble()
        parts = 0
        while reader.next_part():
            parts += 1
            if parts > MAX_PARTS:
                raise MalformedBody(f"malformed multipart body: more than {MAX_PARTS} parts")
            name, filename = reader.part_headers()
            if filename is not None:
                if name != file_part or upload.spooled is not None:
                    raise ValidationFailed(f"only one file part, named {file_part!r}, is accepted",
                                           {name or "_schema": ["unexpected file part"]})
                upload.file_names.append(name)
                upload.file_name = filename
                data = reader.part_data()
                upload.spooled = spool(data)
                for _ in data:  # a spool that stopped early still leaves the reader after the part
                    pass
            else:
                upload.fields.setdefault(name, []).append(_field_text(name, reader.part_data(), max_field_bytes))
    except BaseException:
        upload.discard()
        raise
    if upload.spooled is None:
        raise ValidationFailed(f"a {file_part!r} part is required", {file_part: ["missing"]})
    return upload


class _BodyReader:
    """A multipart body over a stream: `data[pos:end]` is what has been read and not yet parsed."""

    def __init__(self, stream: BinaryIO, dash_boundary: bytes):
        self.stream = stream
        self.dash_boundary = dash_boundary
        self.delimiter = b"\r\n" + dash_boundary
        self.data = bytearray()
        self.pos = self.end = 0
        self.eof = False
        self._readinto = getattr(stream, "readinto", None)

    def fill(self) -> bool:
        """Read another block into a fresh buffer (the old one may still be referenced); False at EOF."""
        if self.eof:
            return False
        left = self.end - self.pos
        block = bytearray(left + READ_SIZE)
        block[:left] = memoryview(self.data)[self.pos:self.end]
        filled = left
        view = memoryview(block)
        while filled < len(block):
            if self._readinto is not None:
                count = self._readinto(view[filled:])
            else:
                chunk = self.stream.read(len(block) - filled)
                count = len(chunk)
                view[filled:filled + count] = chunk
            if not count:
                self.eof = True
                break
            filled += count
        view.release()
        self.data, self.pos, self.end = block, 0, filled
        return filled > left

    def _ensure(self, count: int) -> bool:
        while self.end - self.pos < count:
            if not self.fill():
                return False
        return True

    def _find(self, needle: bytes, limit: int, what: str) -> int:
        """Index of `needle` at or after `pos`, reading more as needed (at most `limit` bytes ahead)."""
        searched = self.pos
        while True:
            index = self.data.find(needle, searched, self.end)
            if index >= 0:
                return index
            if self.end - self.pos > limit:
                raise MalformedBody(f"malformed multipart body: {what} is too long")
            searched = max(self.pos, self.end - len(needle) + 1)
            offset = self.pos
            if not self.fill():
                raise MalformedBody("the multipart body ended before its closing boundary")
            searched -= offset

    def skip_preamble(self) -> None:
        """Move past the first `--boundary` (at the very start, or after a preamble line)."""
        if self._ensure(len(self.dash_boundary)) and self.data.startswith(self.dash_boundary, self.pos):
            self.pos += len(self.dash_boundary)
            return
        self.pos = self._find(self.delimiter, MAX_PREAMBLE_BYTES, "the preamble") + len(self.delimiter)

    def next_part(self) -> bool:
        """After a delimiter: False for the closing `--` (the epilogue is ignored), else True."""
        if not self._ensure(2):
            raise MalformedBody("the multipart body ended before its closing boundary")
        if self.data.startswith(b"--", self.pos):
            return False
        while True:  # transport padding (spaces, tabs), then CRLF
            if not self._ensure(2):
                raise MalformedBody("the multipart body ended before its closing boundary")
            if self.data.startswith(b"\r\n", self.pos):
                self.pos += 2
                return True
            if self.data[self.pos] not in b" \t":
                raise MalformedBody("malformed multipart body: garbage after a boundary")
            self.pos += 1

    def part_headers(self) -> tuple[str, str | None]:
        """The part's form field name and, for a file part, its file name ('' when empty)."""
        if self._ensure(2) and self.data.startswith(b"\r\n", self.pos):
            raw, self.pos = b"", self.pos + 2
        else:
            end = self._find(b"\r\n\r\n", MAX_HEADER_BYTES, "a part's header block")
            raw, self.pos = bytes(self.data[self.pos:end]), end + 4
        disposition = ""
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                raise MalformedBody("malformed multipart body: a part header has no colon")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        _, options = parse_options_header(disposition)
        return options.get("name", ""), options.get("filename")

    def part_data(self) -> Iterator[memoryview]:
        """The current part's bytes as views of read blocks, ending at (and consuming) its delimiter."""
        delimiter = self.delimiter
        if self._ensure(len(self.dash_boundary)) and self.data.startswith(self.dash_boundary, self.pos):
            # An empty part whose delimiter shares the header block's closing CRLF, as some
            # encoders (werkzeug's own test client among them) write it.
            self.pos += len(self.dash_boundary)
            return
        keep = len(delimiter) - 1
        while True:
            index = self.data.find(delimiter, self.pos, self.end)
            if index >= 0:
                if index > self.pos:
                    yield memoryview(self.data)[self.pos:index]
                self.pos = index + len(delimiter)
                return
            safe = self.end - keep
            if safe > self.pos:
                chunk = memoryview(self.data)[self.pos:safe]
                self.pos = safe
                yield chunk
            if not self.fill():
                raise MalformedBody("the multipart body ended inside a part")


def _field_text(name: str, chunks: Iterator[memoryview], limit: int) -> str:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise ValidationFailed(f"part {name!r} is larger than {limit} bytes", {name: ["too large"]})
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody(f"part {name!r} is not valid UTF-8") from None
