"""The API's JSON bytes: Flask's (sorted keys, compact, `\\uXXXX` escapes past ASCII), written by
orjson whenever that gives the very same bytes.

Every response body goes through here, the sync's page included, where the standard library's
encoder was a tenth of the request. orjson writes JSON's own types as the standard library does
except in three places: characters past ASCII and DEL are written as themselves (escaped here
afterwards, as `json.dumps(ensure_ascii=True)` escapes them); floats that Python spells with an
exponent may be spelled otherwise (0.00001 for 1e-05, 1e-7 for 1e-07); NaN and infinities become
null. So every float must lie where Python writes no exponent (1e-4 ≤ |x| < 1e16, or zero). Any
other type (dates, decimals, tuples, enums, subclasses) and anything orjson refuses (lone
surrogates, integers past 64 bits, keys that are not strings) take Flask's own `dumps`.
"""
from __future__ import annotations

import codecs
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

COMPACT = {"separators": (",", ":")}
ESCAPE = "fieldproof.json_escape"
_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:
    """True when every value is a dict, list, str, int, bool, None or a float written without an exponent."""
    pending = [(value,)]
    pop, push = pending.pop, pending.append
    while pending:  # containers only: the values of each are looked at in one loop
        for item in (container.values() if type(container := pop()) is dict else container):
            kind = type(item)
            if kind in _JSON_SCALARS:
                continue
            if kind is dict or kind is list:
                push(item)
            elif kind is not float or not (1e-4 <= abs(item) < 1e16 or item == 0):  # NaN and infinities fail too
                return False
    return True


def _escape(error: UnicodeEncodeError) -> tuple[str, int]:
    """A run of characters past ASCII as `json.dumps` escapes them (its own C escaper)."""
    return encode_basestring_ascii(error.object[error.start:error.end])[1:-1], error.end


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, its compact output (responses) from orjson when byte-equal."""

    def __init__(self, app):
        super().__init__(app)
        codecs.register_error(ESCAPE, _escape)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == COMPACT and self.ensure_ascii and self.sort_keys:
            try:
                out = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:
                out = None
            if out is not None and _plain(obj):
                if out.isascii():
                    text = out.decode("ascii")
                else:  # only strings hold characters past ASCII: escape them there
                    text = out.decode("utf-8").encode("ascii", ESCAPE).decode("ascii")
                return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
        return super().dumps(obj, **kwargs)
