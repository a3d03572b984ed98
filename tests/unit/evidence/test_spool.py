"""Spooling: exact digests, the size limit, clean-up on every failure, constant memory."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from evidence.errors import EvidenceRejected, HashMismatch, TooLarge
from evidence.spool import SpooledFile, check_claimed_sha256, spool_stream

MiB = 1 << 20


def _pattern_chunks(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """Deterministic non-repeating-looking bytes, generated lazily."""
    block = hashlib.sha256(b"fieldproof").digest() * (chunk // 32)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def _expected(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.mark.parametrize(
    "source_kind", ["iterator", "bytesio", "read_only"],
)
@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 17])
def test_spool_digests_match_hashlib(tmp_path, source_kind, size):
    data = b"".join(_pattern_chunks(size, chunk=4096))

    class ReadOnly:
        def __init__(self, raw: bytes):
            self._raw = io.BytesIO(raw)

        def read(self, n: int) -> bytes:
            return self._raw.read(n)

    source = {
        "iterator": lambda: _pattern_chunks(size, chunk=4096),
        "bytesio": lambda: io.BytesIO(data),
        "read_only": lambda: ReadOnly(data),
    }[source_kind]()
    spooled = spool_stream(source, tmp_path, max_bytes=10 * MiB)
    sha, md5 = _expected(data)
    assert (spooled.sha256_hex, spooled.md5_b64, spooled.size) == (sha, md5, size)
    assert spooled.path.parent == tmp_path
    assert spooled.path.read_bytes() == data


def test_spooled_file_context_removes_file(tmp_path):
    with spool_stream([b"abc"], tmp_path, max_bytes=10) as spooled:
        assert isinstance(spooled, SpooledFile)
        assert spooled.path.exists()
    assert not spooled.path.exists()
    spooled.discard()


def test_exactly_max_bytes_is_accepted(tmp_path):
    with spool_stream([b"x" * 10], tmp_path, max_bytes=10) as spooled:
        assert spooled.size == 10


@pytest.mark.parametrize("source", [
    lambda: iter([b"x" * 6, b"y" * 6]),
    lambda: io.BytesIO(b"z" * 11),
    lambda: _pattern_chunks(5 * MiB),
])
def test_past_max_bytes_raises_and_leaves_no_file(tmp_path, source):
    with pytest.raises(TooLarge) as caught:
        spool_stream(source(), tmp_path, max_bytes=10)
    assert caught.value.code == "too_large"
    assert isinstance(caught.value, EvidenceRejected)
    assert caught.value.context["max_bytes"] == 10
    assert list(tmp_path.iterdir()) == []


def test_too_large_stops_reading_at_the_limit(tmp_path):
    pulled = []

    def endless():
        while True:
            pulled.append(1)
            yield b"a" * MiB

    with pytest.raises(TooLarge):
        spool_stream(endless(), tmp_path, max_bytes=3 * MiB)
    assert len(pulled) == 4


def test_source_failure_removes_partial_spool(tmp_path):
    def dropped_connection():
        yield b"a" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        spool_stream(dropped_connection(), tmp_path, max_bytes=MiB)
    assert list(tmp_path.iterdir()) == []


def test_text_chunks_are_refused(tmp_path):
    with pytest.raises(TypeError):
        spool_stream(["not bytes"], tmp_path, max_bytes=MiB)
    assert list(tmp_path.iterdir()) == []


def test_spool_memory_stays_bounded_on_50_mb(tmp_path):
    total = 50 * MiB
    tracemalloc.start()
    try:
        with spool_stream(_pattern_chunks(total), tmp_path, max_bytes=total) as spooled:
            _, peak = tracemalloc.get_traced_memory()
            assert spooled.size == total
        tracemalloc.reset_peak()

        class Endless(io.RawIOBase):
            def __init__(self):
                self.left = total

            def readable(self):
                return True

            def readinto(self, buffer):
                n = min(len(buffer), self.left)
                buffer[:n] = b"q" * n
                self.left -= n
                return n

        with spool_stream(Endless(), tmp_path, max_bytes=total) as spooled:
            _, peak_file = tracemalloc.get_traced_memory()
            assert spooled.size == total
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB
    assert peak_file < 8 * MiB


def test_claimed_sha256_must_match(tmp_path):
    with spool_stream([b"evidence"], tmp_path, max_bytes=100) as spooled:
        spooled.check_sha256(spooled.sha256_hex.upper())
        with pytest.raises(HashMismatch) as caught:
            spooled.check_sha256(hashlib.sha256(b"other").hexdigest())
        assert caught.value.context["actual"] == spooled.sha256_hex


@pytest.mark.parametrize("claimed", ["", "abc", "g" * 64, "a" * 63, "a" * 65, None])
def test_malformed_claims_are_hash_mismatches(claimed):
    with pytest.raises(HashMismatch):
        check_claimed_sha256(claimed, "a" * 64)


def test_long_chunk_iterables_are_hashed_on_a_helper_thread_exactly(tmp_path, monkeypatch):
    import evidence.spool as spool_module

    monkeypatch.setattr(spool_module, "HASH_THREAD_AFTER", 10)
    chunks = [os.urandom(n) for n in (3, 7, 64 * 1024, 1, 300_000)]
    data = b"".join(chunks)
    with spool_module.spool_stream(iter(chunks), tmp_path, max_bytes=len(data), md5=True) as spooled:
        assert spooled.sha256_hex == hashlib.sha256(data).hexdigest() and spooled.size == len(data)
        assert spooled.path.read_bytes() == data
    with pytest.raises(TooLarge):
        spool_module.spool_stream(iter(chunks), tmp_path, max_bytes=len(data) - 1)
    assert list(tmp_path.iterdir()) == []
