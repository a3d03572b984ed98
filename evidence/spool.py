"""Spool an upload to local disk while hashing it, in constant memory.

The server never trusts a hash it did not compute: bytes are hashed as they arrive, on their
way to a private spool file, and only that spool file is later stored. MD5 is computed only
because S3-compatible servers verify `Content-MD5` and ignore the newer checksum headers; it
is never used to identify evidence.
"""
from __future__ import annotations

import base64
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from evidence.errors import HashMismatch, TooLarge

CHUNK_SIZE = 1 << 20
"""Read size: large enough for hashlib to run at full speed, small enough to be irrelevant."""

HASH_THREAD_AFTER = 4 << 20
"""Chunk iterables longer than this are hashed on a helper thread while the caller's thread keeps
receiving and writing (hashlib releases the GIL on large buffers); shorter ones inline."""
HASH_QUEUE_CHUNKS = 8
"""Chunks in flight to the hashing thread: bounds memory to this many of the caller's chunks."""

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class SpooledFile:
    """A spool file and the digests of exactly its bytes; leaving the `with` block removes it."""

    path: Path
    sha256_hex: str
    md5_b64: str | None
    size: int

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the spool file; safe to call twice."""
        self.path.unlink(missing_ok=True)

    def check_sha256(self, claimed_hex: str) -> None:
        """Refuse when the device's claimed SHA-256 is not the one computed here."""
        check_claimed_sha256(claimed_hex, self.sha256_hex)


def check_claimed_sha256(claimed_hex: str, actual_hex: str) -> None:
    """Compare a claimed SHA-256 (hex, any case) with the computed one; malformed claims fail."""
    claimed = claimed_hex.strip().lower() if isinstance(claimed_hex, str) else ""
    if len(claimed) != 64 or not _HEX.issuperset(claimed):
        raise HashMismatch(
            "claimed sha256 is not 64 hex digits", expected=claimed_hex, actual=actual_hex
        )
    if claimed != actual_hex:
        raise HashMismatch(
            "bytes do not hash to the claimed sha256", expected=claimed, actual=actual_hex
        )


def spool_stream(
    source: Iterable[bytes] | BinaryIO,
    directory: str | os.PathLike[str],
    *,
    max_bytes: int,
    chunk_size: int = CHUNK_SIZE,
    md5: bool = True,
) -> SpooledFile:
    """Copy `source` into a new file in `directory`, hashing SHA-256 and MD5 on the way.

    `source` is a readable binary file-like (read in `chunk_size` pieces into one reused
    buffer) or an iterable of bytes-like chunks (written as given, so the caller's chunk size
    bounds memory). An iterable's chunks must not be changed by its producer once yielded:
    past `HASH_THREAD_AFTER` bytes they are hashed on a helper thread while the next ones are
    received and written (at most `HASH_QUEUE_CHUNKS` chunks in flight). Raises `TooLarge` as
    soon as more than `max_bytes` have arrived; on that
    or any other failure, including the source raising, the partial spool file is removed.
    `md5=False` skips the MD5 (`md5_b64` is None) where no store will check a Content-MD5: it is
    the slowest step when SHA-256 runs on SHA-NI.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    if chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")
    hasher = _Hasher(md5)
    size = 0
    fd, name = tempfile.mkstemp(prefix="spool-", suffix=".part", dir=os.fspath(directory))
    path = Path(name)
    threaded = not hasattr(source, "read")  # chunks we are handed are never reused by their producer
    try:
        try:
            for chunk in _chunks(source, chunk_size):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"upload exceeds {max_bytes} bytes", max_bytes=max_bytes, received=size
                    )
                _write_fd(fd, chunk)
                if threaded and size > HASH_THREAD_AFTER:
                    hasher.start()
                hasher.update(chunk)
        finally:
            os.close(fd)
            hasher.finish()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    sha256, md5_hash = hasher.sha256, hasher.md5
    return SpooledFile(
        path=path,
        sha256_hex=sha256.hexdigest(),
        md5_b64=base64.b64encode(md5_hash.digest()).decode("ascii") if md5_hash is not None else None,
        size=size,
    )


def _chunks(source: Iterable[bytes] | BinaryIO, chunk_size: int) -> Iterator[memoryview]:
    """Uniform view over file-likes and chunk iterables, without per-chunk allocations."""
    if hasattr(source, "readinto"):
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        while True:
            count = source.readinto(view)  # type: ignore[union-attr]
            if not count:
                return
            yield view[:count]
    elif hasattr(source, "read"):
        while True:
            data = source.read(chunk_size)  # type: ignore[union-attr]
            if not data:
                return
            yield memoryview(data)
    else:
        for data in source:
            if isinstance(data, str):
                raise TypeError("spool sources yield bytes, not str")
            if data:
                yield memoryview(data)


def _write_fd(fd: int, chunk: memoryview) -> None:
    """Writes may be short; loop until the whole chunk is written."""
    written = os.write(fd, chunk)
    while written < len(chunk):
        written += os.write(fd, chunk[written:])


class _Hasher:
    """SHA-256 (and MD5) of a sequence of chunks, inline or, once started, on a helper thread.

    Chunks handed over after `start()` must not be modified afterwards (the producer's chunks
    are fresh buffers); at most `HASH_QUEUE_CHUNKS` wait, so memory stays bounded.
    """

    def __init__(self, md5: bool):
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=HASH_QUEUE_CHUNKS)
            self._thread = threading.Thread(target=self._run, name="spool-hash", daemon=True)
            self._thread.start()

    def update(self, chunk: memoryview) -> None:
        if self._queue is None:
            self._hash(chunk)
        else:
            if self._error is not None:
                raise self._error
            self._queue.put(chunk)

    def finish(self) -> None:
        """Wait for every queued chunk (also on failure, so no thread outlives the spool)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise self._error

    def _hash(self, chunk: memoryview) -> None:
        self.sha256.update(chunk)
        if self.md5 is not None:
            self.md5.update(chunk)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._hash(chunk)
                except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                    self._error = exc
