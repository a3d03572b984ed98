"""The one streaming digest helper: same answers as hashlib on whole bytes, whatever the reader."""
import base64
import hashlib
import io

import pytest

from core.hashing import StreamTooLong, digest_file, digest_stream

DATA = bytes(range(256)) * 5000  # 1.28 MB: several of file_digest's reads


class _ReadOnly:
    """A body with nothing but read(n), like a botocore stream."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)


@pytest.mark.parametrize("make", [io.BytesIO, lambda d: io.BufferedReader(io.BytesIO(d)), _ReadOnly])
def test_sha256_md5_and_size_match_hashlib(make):
    result = digest_stream(make(DATA), md5=True)
    assert result.sha256_hex == hashlib.sha256(DATA).hexdigest()
    assert result.md5_b64 == base64.b64encode(hashlib.md5(DATA).digest()).decode()
    assert result.size == len(DATA)


def test_md5_only_when_asked():
    assert digest_stream(_ReadOnly(b"abc")).md5_b64 is None


def test_copy_receives_exactly_the_hashed_bytes():
    out = io.BytesIO()
    result = digest_stream(_ReadOnly(DATA), copy_to=out)
    assert out.getvalue() == DATA and result.size == len(DATA)


def test_a_stream_longer_than_allowed_stops():
    with pytest.raises(StreamTooLong):
        digest_stream(_ReadOnly(DATA), max_bytes=len(DATA) - 1)
    assert digest_stream(_ReadOnly(DATA), max_bytes=len(DATA)).size == len(DATA)


def test_empty_stream_and_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert digest_file(path).sha256_hex == hashlib.sha256(b"").hexdigest()
    assert digest_stream(_ReadOnly(b"")).size == 0
