"""Custody-event leaves: the exact bytes that enter the ledger.

A leaf is the RFC 8785 (JCS) canonical JSON of a custody event, so anyone can
rebuild the bytes from the event's fields with any JCS implementation and get
the same leaf hash. Each leaf names the leaf hash of the one before it
(``prev_leaf_hash``, 64 zeros for leaf 0), which chains events even for a
reader who holds only a run of consecutive leaves and no proofs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

from core.canonical import canonical_json
from custody.ledger.merkle import VerificationError, leaf_hash

__all__ = [
    "REQUIRED_FIELDS",
    "ZERO_HASH_HEX",
    "LeafChainError",
    "LeafFormatError",
    "canonical_leaf",
    "leaf_hash_hex",
    "parse_leaf",
    "verify_leaf_chain",
]

ZERO_HASH_HEX = "0" * 64
REQUIRED_FIELDS = ("index", "type", "evidence_id", "actor_id", "at", "sha256", "prev_leaf_hash")


class LeafFormatError(VerificationError, ValueError):
    """The leaf is not a well-formed, canonical custody event."""

    code = "leaf_malformed"


class LeafChainError(VerificationError):
    """A leaf does not follow the one before it (index gap or wrong prev_leaf_hash)."""

    code = "leaf_chain_broken"

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


_HEX_HASH = re.compile("[0-9a-f]{64}")


def _is_hex_hash(value: Any) -> bool:
    return isinstance(value, str) and _HEX_HASH.fullmatch(value) is not None


_REQUIRED = frozenset(REQUIRED_FIELDS)


def _check_event(event: Mapping[str, Any]) -> None:
    if not _REQUIRED <= event.keys():
        missing = [name for name in REQUIRED_FIELDS if name not in event]
        raise LeafFormatError(f"custody event lacks {', '.join(missing)}")
    index = event["index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise LeafFormatError(f"index must be a non-negative integer, got {index!r}")
    for name in ("type", "at"):
        if not isinstance(event[name], str) or not event[name]:
            raise LeafFormatError(f"{name} must be a non-empty string")
    if not _is_hex_hash(event["prev_leaf_hash"]):
        raise LeafFormatError("prev_leaf_hash must be 64 lowercase hex digits")
    if index == 0 and event["prev_leaf_hash"] != ZERO_HASH_HEX:
        raise LeafFormatError("leaf 0 must have prev_leaf_hash of 64 zeros")
    # sha256 is null only for events not about an evidence item.
    if event["sha256"] is not None and not _is_hex_hash(event["sha256"]):
        raise LeafFormatError("sha256 must be 64 lowercase hex digits or null")


def canonical_leaf(event: Mapping[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON bytes of a custody event, after checking its fields."""
    _check_event(event)
    try:
        return canonical_json(dict(event))
    except rfc8785.CanonicalizationError as exc:
        raise LeafFormatError(f"custody event cannot be canonicalized: {exc}") from exc


def parse_leaf(leaf: bytes) -> dict[str, Any]:
    """Read leaf bytes back into an event, refusing any that are not canonical.

    Refusing non-canonical bytes means one event has exactly one leaf hash.
    """
    try:
        event = json.loads(bytes(leaf).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LeafFormatError(f"leaf is not UTF-8 JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise LeafFormatError("leaf is not a JSON object")
    if canonical_leaf(event) != bytes(leaf):
        raise LeafFormatError("leaf is not in RFC 8785 canonical form")
    return event


def leaf_hash_hex(leaf: bytes) -> str:
    """The leaf hash as it travels in the API and in the next leaf's prev_leaf_hash."""
    return leaf_hash(leaf).hex()


def verify_leaf_chain(leaves: Sequence[bytes], first_prev_hex: str = ZERO_HASH_HEX) -> str:
    """Check a run of consecutive leaves links up; return the last leaf's hash (hex).

    ``first_prev_hex`` is the leaf hash just before the run (64 zeros when the
    run starts at leaf 0). Indices must rise by one from the first leaf's. The
    returned hash continues the check on the next run.
    """
    if not _is_hex_hash(first_prev_hex):
        raise LeafFormatError("first_prev_hex must be 64 lowercase hex digits")
    expected_prev = first_prev_hex
    expected_index = None
    for position, leaf in enumerate(leaves):
        event = parse_leaf(leaf)
        if expected_index is not None and event["index"] != expected_index:
            raise LeafChainError(
                f"leaf at position {position} has index {event['index']}, expected {expected_index}",
                position=position,
            )
        if event["prev_leaf_hash"] != expected_prev:
            raise LeafChainError(
                f"leaf {event['index']} names previous leaf hash {event['prev_leaf_hash']}, "
                f"expected {expected_prev}",
                position=position,
            )
        expected_prev = leaf_hash_hex(leaf)
        expected_index = event["index"] + 1
    return expected_prev
