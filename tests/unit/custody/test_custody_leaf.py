"""The append's leaf is byte for byte RFC 8785's (rfc8785 itself), through `core.canonical`."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785

from custody.append import _event_row, format_at, leaf_event
from custody.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, canonical_leaf, leaf_hash_hex
from custody.models import EVENT_TYPES

ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\x00', '\x1f', '\x7f', 'é', '中',
            '\u2028', '\U0001f600', '<', '&', "'"]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def details(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 2 else 4)
    if kind == 0:
        return text(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), rng.randrange(-10**9, 10**9)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice(["", "x"])
    if kind in (4, 5):
        return {rng.choice(["a", "b", "A", "_", "a_b", "1", "z" * 3]) + text(rng).encode("ascii", "ignore").decode():
                details(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    return [details(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


def test_appended_leaves_equal_rfc8785_over_generated_events():
    rng = random.Random(20261129)
    for n in range(3000):
        index = rng.choice([0, 1, rng.randrange(2, 10**7), 2**53 - 1])
        prev = ZERO_HASH_HEX if index == 0 else f"{rng.getrandbits(256):064x}"
        at = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=rng.randrange(-12, 15)))) + \
            timedelta(microseconds=rng.randrange(10**15))
        fields = dict(type=rng.choice(sorted(EVENT_TYPES)), evidence_id=rng.choice([None, text(rng), "item-1"]),
                      actor_id=text(rng), sha256=rng.choice([None, f"{rng.getrandbits(256):064x}"]),
                      case_id=rng.choice([None, text(rng)]),
                      details=rng.choice([None, {}, details(rng, 1) if rng.random() < 0.5 else {"k": details(rng)}]))
        row = _event_row(index, prev, at=at, **fields)
        expected = rfc8785.dumps(leaf_event(index=index, prev_leaf_hash=prev, at=at.astimezone(UTC), **fields))
        assert row["leaf"].encode("utf-8") == expected, (n, fields)
        assert row["leaf_hash"] == leaf_hash_hex(expected)


@pytest.mark.parametrize("fields", [
    {"details": {"x": 1.5}},          # floats: rfc8785's number form
    {"details": {"é": 1}},            # non-ASCII keys: UTF-16 order
    {"details": {"big": 2**60}},      # beyond JSON's safe integers
    {"evidence_id": 7},               # not a string
    {"details": ["a", "list"]},       # details that are not an object
])
def test_what_the_c_encoder_does_not_write_exactly_is_still_rfc8785(fields):
    base = dict(index=5, type="viewed", evidence_id="e", actor_id="a", at=datetime.now(UTC), sha256=None,
                prev_leaf_hash="ab" * 32, case_id=None, details=None)
    base.update(fields)
    event = leaf_event(**base)
    try:
        expected = rfc8785.dumps(event)
    except rfc8785.CanonicalizationError:  # refused alike
        with pytest.raises(LeafFormatError):
            canonical_leaf(event)
    else:
        assert canonical_leaf(event) == expected


def test_a_subject_that_is_not_an_evidence_item_fills_the_leafs_evidence_id():
    """A packet's events name it in the leaf's one field, as every leaf written before did."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    packet = _event_row(3, "ab" * 32, type="packet_built", subject_id="packet-1", actor_id="a", at=at)
    assert (packet["evidence_id"], packet["subject_id"]) == (None, "packet-1")
    assert packet["leaf"].encode() == canonical_leaf(leaf_event(
        index=3, type="packet_built", evidence_id="packet-1", actor_id="a", at=at, sha256=None,
        prev_leaf_hash="ab" * 32))
    with pytest.raises(TypeError):
        _event_row(3, "ab" * 32, type="viewed", evidence_id="item-1", subject_id="packet-1", actor_id="a")


def test_format_at_writes_utc_with_microseconds():
    moment = datetime(2026, 3, 1, 16, 30, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    assert format_at(moment) == "2026-03-01T08:30:15.000000Z"
    with pytest.raises(ValueError):
        format_at(datetime(2026, 3, 1))
