"""RFC 8785 (JCS) canonical JSON, through the standard library's C encoder when that is exact.

rfc8785's encoder walks the value in Python; for large documents of plain data (a packet's
manifest: thousands of strings and integers) that walk is most of the cost, and for plain data
`json.dumps(sort_keys=True)` writes the very same bytes. Anything else takes rfc8785 itself.
"""
from __future__ import annotations

import json
from typing import Any

import rfc8785

SAFE_INT = 2**53 - 1


def plain_json(value: Any) -> bool:
    """True when `json.dumps(sort_keys=True)` writes `value` exactly as RFC 8785 does.

    That holds for strings (the same escapes: quote, backslash, the C0 controls with the same
    short forms and lowercase \\u00xx), integers in JSON's safe range, true/false/null, and
    lists and objects of those whose keys are ASCII (code-point order is then UTF-16 order).
    Floats, big integers, non-ASCII keys and every other type take rfc8785 itself.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -SAFE_INT <= value <= SAFE_INT
    if kind is dict:
        return all(type(key) is str and key.isascii() and plain_json(item) for key, item in value.items())
    if kind is list:
        return all(plain_json(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """`rfc8785.dumps(value)`, byte for byte."""
    if plain_json(value):
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it with its own error
    return rfc8785.dumps(value)
