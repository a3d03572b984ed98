"""core.canonical: the fast path must write exactly what rfc8785 writes, for every JSON value."""
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from core.canonical import canonical_json, plain_json

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                      max_leaves=30)


@settings(max_examples=3000)
@given(values)
def test_equal_to_rfc8785_byte_for_byte(value):
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return  # lone surrogates, integers past 2**53: refused alike, not our concern here
    assert canonical_json(value) == expected


def test_the_fast_path_is_taken_only_for_plain_data():
    assert plain_json({"a": ["x\u0000\n\u2028", 1, None, True, {"b": "é"}]})
    assert not plain_json({"é": 1})          # non-ASCII key: UTF-16 order is rfc8785's business
    assert not plain_json({"a": 1.5})        # floats: ECMAScript number formatting
    assert not plain_json({"a": 2**53})      # outside JSON's safe integers


def test_keys_sort_by_utf16_code_units_when_it_matters():
    value = {"\U0001f600": 1, "\uff61": 2}  # astral sorts before U+FF61 in UTF-16, after it by code point
    assert canonical_json(value) == rfc8785.dumps(value)


def test_what_the_fast_encoder_refuses_goes_to_rfc8785():
    with pytest.raises(rfc8785.CanonicalizationError):  # a lone surrogate: refused as rfc8785 refuses it
        canonical_json({"a": "\ud800"})
    deep: list = []
    for _ in range(300):  # past orjson's nesting limit, still plain
        deep = [deep]
    assert plain_json(deep) and canonical_json(deep) == rfc8785.dumps(deep)
