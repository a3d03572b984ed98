"""The patterns the OpenAPI document states hold what the server accepts: a value that matches
(and is a real date) is never refused, so a generated client's valid request is not a 422."""
import re
from datetime import datetime

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas.accounts import BASE64_32_BYTES
from api.schemas.common import TIMESTAMP_PATTERN, Timestamp
from api.schemas.ledger import NOTE_PATTERN


def _real_moment(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.from_regex(TIMESTAMP_PATTERN, fullmatch=True).filter(_real_moment))
def test_every_documented_timestamp_is_accepted(text):
    assert Timestamp().deserialize(text).tzinfo is not None


@pytest.mark.parametrize("text", ["2026-12-06T10:00:00+14:30", "2026-12-06T10:00:00-12:30", "2026-12-06 10:00:00Z",
                                  "2026-12-06T10:00Z", "2026-12-06T10:00:00.1234567Z",
                                  "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-12:00", "2026-12-06T10:00:00"])
def test_what_the_server_refuses_the_pattern_excludes(text):
    assert not re.match(TIMESTAMP_PATTERN, text)
    with pytest.raises(ma.ValidationError):
        Timestamp().deserialize(text)


def test_device_key_pattern_is_exactly_32_bytes_of_base64():
    import base64

    assert re.match(BASE64_32_BYTES, base64.b64encode(bytes(range(32))).decode())
    assert not re.match(BASE64_32_BYTES, base64.b64encode(bytes(33)).decode())
    assert not re.match(BASE64_32_BYTES, base64.b64encode(bytes(31)).decode())


def test_a_signed_checkpoint_note_matches_the_note_pattern():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custody.ledger import checkpoint as c2sp

    key = Ed25519PrivateKey.generate()
    signed = c2sp.sign_checkpoint(key, c2sp.Checkpoint("fieldproof.local/custody", 7, bytes(range(32))))
    note = c2sp.signed_note(signed, key.public_key()).decode()
    assert re.match(NOTE_PATTERN, note)
    assert not re.match(NOTE_PATTERN, note.replace("\n\n", "\n"))  # no blank line before the signatures
