"""Streaming digests: every hash of stored, uploaded or bundled bytes goes through ``digest_stream``.

``hashlib.file_digest`` does the reading (one reused buffer, the GIL released while hashing); the
object it updates also counts the bytes, takes Content-MD5 in the same pass when S3 needs it, copies
what it saw when the caller keeps the bytes, and stops a stream that runs past what it declared.
"""
from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO


class StreamTooLong(ValueError):
    """The stream held more bytes than the caller allowed (a lying archive entry, a swapped blob)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"stream longer than {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class StreamDigest:
    sha256_hex: str
    size: int
    md5_b64: str | None = None


class _Digests:
    """What ``file_digest`` updates: SHA-256, the count, and optionally MD5 and a copy."""

    def __init__(self, md5: bool, copy_to: BinaryIO | None, max_bytes: int | None) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.copy_to = copy_to
        self.max_bytes = max_bytes
        self.size = 0

    def update(self, data) -> None:
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise StreamTooLong(self.max_bytes)
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        if self.copy_to is not None:
            self.copy_to.write(data)


class _Reader(io.RawIOBase):
    """Gives a stream that only has ``read`` (a botocore body) the ``readinto`` file_digest needs."""

    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def digest_stream(stream, *, md5: bool = False, copy_to: BinaryIO | None = None,
                  max_bytes: int | None = None) -> StreamDigest:
    """SHA-256 (and Content-MD5) of everything left in ``stream``, read once in bounded memory."""
    if not (hasattr(stream, "readinto") and hasattr(stream, "readable") and stream.readable()):
        stream = _Reader(stream)
    digests = hashlib.file_digest(stream, lambda: _Digests(md5, copy_to, max_bytes))
    return StreamDigest(
        sha256_hex=digests.sha256.hexdigest(),
        size=digests.size,
        md5_b64=base64.b64encode(digests.md5.digest()).decode("ascii") if digests.md5 is not None else None,
    )


def digest_file(path, *, md5: bool = False) -> StreamDigest:
    """``digest_stream`` over a file on disk."""
    with open(path, "rb") as reader:
        return digest_stream(reader, md5=md5)
