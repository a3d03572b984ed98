"""Event ids are written as text by hand (custody.append.new_event_id): each is a UUID of version 7,
RFC 9562's variant, the clock's milliseconds first, and unique."""
from __future__ import annotations

import time
import uuid

from custody.append import new_event_id


def test_an_event_id_is_a_time_ordered_uuid_version_7():
    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lowercase, hyphenated: what the receipts route gives back
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after
    assert {text[19] for text in ids} == set("89ab")  # the variant's two bits, then random ones
    assert len({text[15] for text in ids}) == 16  # rand_a starts right after the version digit
