"""api.json_provider: every response body byte for byte as Flask's own provider writes it."""
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given, settings
from hypothesis import strategies as st

from api.json_provider import COMPACT, JSONProvider, _plain

APP = Flask("json-provider-test")
OURS, FLASKS = JSONProvider(APP), DefaultJSONProvider(APP)

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | st.text() | st.sampled_from(["\x7f", "雨 🎉", "\ud800", "\u2028", "\x00\x1f\"\\/"])
           | st.datetimes(timezones=st.just(UTC)) | st.dates() | st.decimals(allow_nan=False)
           | st.uuids())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30)


def _written(provider, value):
    try:
        return provider.dumps(value, **COMPACT)
    except (TypeError, ValueError, UnicodeError) as error:
        return type(error)


@settings(max_examples=3000)
@given(values)
def test_byte_equal_to_flasks_provider(value):
    assert _written(OURS, value) == _written(FLASKS, value)


@pytest.mark.parametrize("value", [
    1e-05, 1e16, -1.5e-300, float("nan"), float("inf"),  # floats Python spells with an exponent, or not JSON
    2**64, {1: "a"}, ["\ud800"],                           # refused by orjson
    "DEL \x7f", {"雨": "🎉 astral", "k": "e\u0301"},        # escaped after orjson
    datetime(2026, 12, 7, 10, 0, tzinfo=UTC), date(2026, 12, 7), Decimal("1.10"),
    UUID(int=7), ("a", 1), Enum("Colour", "RED").RED,
])
def test_the_awkward_ones(value):
    assert _written(OURS, value) == _written(FLASKS, value)


def test_only_plain_data_takes_the_fast_path(monkeypatch):
    page = [{"id": "v1", "lat": 31.2354, "flags": {"n": [1, 2.5, None, True]}, "check_in": None,
             "summary": "见到债务人", "at": "2026-12-07T02:00:00Z"}]
    assert _plain(page)
    assert not _plain([1e-7]) and not _plain({"a": float("nan")}) and not _plain((1, 2))
    assert not _plain({"at": datetime(2026, 12, 7, tzinfo=UTC)})
    monkeypatch.setattr(DefaultJSONProvider, "dumps", lambda *a, **k: pytest.fail("took Flask's encoder"))
    assert OURS.dumps(page, **COMPACT) == ('[{"at":"2026-12-07T02:00:00Z","check_in":null,"flags":{"n":[1,2.5,null,true]},'
                                          '"id":"v1","lat":31.2354,"summary":"\\u89c1\\u5230\\u503a\\u52a1\\u4eba"}]')


def test_the_app_writes_its_bodies_with_it(app):
    assert isinstance(app.json, JSONProvider)
    with app.test_request_context():
        assert app.json.response({"b": 1, "a": "é"}).get_data() == b'{"a":"\\u00e9","b":1}\n'
