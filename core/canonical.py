"""RFC 8785 (JCS) canonical JSON, through orjson's encoder when that is exact.

rfc8785's encoder walks the value in Python; for large documents of plain data (a packet's
manifest: thousands of strings and integers) that walk is most of the cost, and for plain data
orjson with sorted keys writes the very same bytes, as `json.dumps(sort_keys=True)` with compact
separators would, in a tenth of the standard library's time on a leaf-sized object (every custody
event is one). Anything else takes rfc8785 itself.
"""
from __future__ import annotations

from typing import Any

import orjson
import rfc8785

SAFE_INT = 2**53 - 1


def plain_json(value: Any) -> bool:
    """True when orjson (sorted keys) writes `value` exactly as RFC 8785 does.

    That holds for strings (the same escapes: quote, backslash, the C0 controls with the same
    short forms and lowercase \\u00xx; everything else as UTF-8), integers in JSON's safe range,
    true/false/null, and lists and objects of those whose keys are ASCII (code-point order is then
    UTF-16 order). Floats, big integers, non-ASCII keys and every other type take rfc8785 itself.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -SAFE_INT <= value <= SAFE_INT
    # strings and nulls, most of a leaf's values, are judged here without a call each
    if kind is dict:
        for key, item in value.items():
            if not (type(key) is str and key.isascii() and (type(item) is str or item is None or plain_json(item))):
                return False
        return True
    if kind is list:
        for item in value:
            if not (type(item) is str or item is None or plain_json(item)):
                return False
        return True
    return False


def canonical_json(value: Any) -> bytes:
    """`rfc8785.dumps(value)`, byte for byte."""
    if plain_json(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, or nesting past orjson's depth: rfc8785 answers (or refuses) itself
    return rfc8785.dumps(value)
