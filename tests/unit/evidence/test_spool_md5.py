"""`spool_stream(md5=False)`: the filesystem store checks no Content-MD5, so none is computed."""
import hashlib

from evidence.spool import spool_stream


def test_md5_can_be_skipped(tmp_path):
    data = b"field note" * 1000
    with spool_stream([data], tmp_path, max_bytes=len(data), md5=False) as spooled:
        assert spooled.md5_b64 is None
        assert spooled.sha256_hex == hashlib.sha256(data).hexdigest() and spooled.size == len(data)
        assert spooled.path.read_bytes() == data
    with spool_stream([data], tmp_path, max_bytes=len(data)) as spooled:
        assert spooled.md5_b64 is not None
