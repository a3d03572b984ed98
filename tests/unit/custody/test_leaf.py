"""Custody-event leaves: canonical bytes pinned by hand, and the prev_leaf_hash chain."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.ledger.leaf import (
    ZERO_HASH_HEX,
    LeafChainError,
    LeafFormatError,
    canonical_leaf,
    leaf_hash_hex,
    parse_leaf,
    verify_leaf_chain,
)
from custody.ledger.merkle import VerificationError, leaf_hash

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "vectors" / "leaf.json").read_text(encoding="utf-8"))
ERRORS = {"leaf_chain_broken": LeafChainError, "leaf_malformed": LeafFormatError}


def test_zero_hash_is_64_zeros():
    assert ZERO_HASH_HEX == "0" * 64


@pytest.mark.parametrize("case", VECTORS["canonical"], ids=lambda c: c["event"]["type"])
def test_canonical_leaf_known_answers(case):
    leaf = canonical_leaf(case["event"])
    assert leaf == case["leaf"].encode("utf-8")
    assert leaf_hash_hex(leaf) == case["leaf_hash"] == leaf_hash(leaf).hex()
    assert parse_leaf(leaf) == case["event"]


def test_canonical_leaf_ignores_key_order():
    event = VECTORS["canonical"][1]["event"]
    assert canonical_leaf(dict(reversed(list(event.items())))) == canonical_leaf(event)


def test_chain_verifies_and_returns_last_hash():
    chain = VECTORS["chain"]
    leaves = [leaf.encode("utf-8") for leaf in chain["leaves"]]
    assert verify_leaf_chain(leaves, chain["first_prev"]) == chain["last_leaf_hash"]
    assert verify_leaf_chain(leaves) == chain["last_leaf_hash"]


def test_chain_can_be_checked_in_runs():
    leaves = [leaf.encode("utf-8") for leaf in VECTORS["chain"]["leaves"]]
    middle = verify_leaf_chain(leaves[:2])
    assert verify_leaf_chain(leaves[2:], middle) == VECTORS["chain"]["last_leaf_hash"]


def test_empty_run_returns_its_starting_hash():
    assert verify_leaf_chain([], ZERO_HASH_HEX) == ZERO_HASH_HEX


@pytest.mark.parametrize("case", VECTORS["broken_chains"], ids=lambda c: c["desc"])
def test_broken_chains_fail(case):
    leaves = [leaf.encode("utf-8") for leaf in case["leaves"]]
    with pytest.raises(ERRORS[case["expect"]]) as caught:
        verify_leaf_chain(leaves, case.get("first_prev", ZERO_HASH_HEX))
    assert caught.value.code == case["expect"]
    assert isinstance(caught.value, VerificationError)


@pytest.mark.parametrize("case", VECTORS["invalid_events"], ids=lambda c: c["desc"])
def test_invalid_events_are_refused(case):
    with pytest.raises(LeafFormatError):
        canonical_leaf(case["event"])


@pytest.mark.parametrize("raw", [b"\xff", b"[]", b"not json", b'{"index": 0}', b""])
def test_parse_leaf_refuses_garbage(raw):
    with pytest.raises(LeafFormatError):
        parse_leaf(raw)


def test_event_not_about_evidence_may_have_null_sha256():
    event = dict(VECTORS["canonical"][0]["event"], sha256=None, evidence_id="case_0003")
    assert b'"sha256":null' in canonical_leaf(event)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6), st.integers(0, 3))
def test_any_chain_built_honestly_verifies_and_any_edit_breaks_it(notes, victim):
    leaves, previous = [], ZERO_HASH_HEX
    for index, note in enumerate(notes):
        leaf = canonical_leaf({
            "index": index, "type": "viewed", "evidence_id": "ev_1", "actor_id": "usr_1",
            "at": "2026-03-14T10:00:00Z", "sha256": "ab" * 32, "prev_leaf_hash": previous, "note": note,
        })
        leaves.append(leaf)
        previous = leaf_hash_hex(leaf)
    assert verify_leaf_chain(leaves) == previous
    victim %= len(leaves)
    if victim + 1 < len(leaves):
        event = parse_leaf(leaves[victim])
        leaves[victim] = canonical_leaf(dict(event, note=event["note"] + "!"))
        with pytest.raises(LeafChainError):
            verify_leaf_chain(leaves)
