"""The response fields of `api/schemas/common.py` (`AsIs` String, Float, Boolean; Timestamp; Nested)
read a value once and write it themselves when marshmallow's general path would give it back as it
is: whatever the value, they answer what that general path answers (`Field.serialize`: the value
through `get_value`, `missing` and the dump default, then the field's `_serialize`)."""
from __future__ import annotations

import math
from collections import namedtuple
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import marshmallow as ma
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.schemas.common import Boolean, Float, Nested, String, Timestamp
from api.schemas.visits import CheckOutSchema, VisitSchema

FIELDS = {
    "string": String(), "float": Float(), "boolean": Boolean(), "timestamp": Timestamp(),
    "nested": Nested(CheckOutSchema, allow_none=True), "renamed": String(attribute="other"),
    "defaulted": Float(dump_default=1.5),
}
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-5)), ZoneInfo("Asia/Shanghai"), None])
VALUES = (st.none() | st.text() | st.floats() | st.integers() | st.booleans() | st.decimals(allow_nan=False)
          | st.datetimes(timezones=ZONES) | st.just(ma.missing)
          | st.fixed_dictionaries({"at": st.datetimes(timezones=st.just(UTC)), "lat": st.floats(),
                                   "outcome": st.text(), "summary": st.none() | st.text()}))
Holder = namedtuple("Holder", "value other")


def _outcome(serialize, *args, **kwargs):
    try:
        return "value", serialize(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the same failure, or none, on both paths
        return "error", type(error)


def _both_nan(ours, general) -> bool:
    """A float field given "NaN" answers nan on both paths, and nan is unequal to itself."""
    return all(kind == "value" and isinstance(value, float) and math.isnan(value) for kind, value in (ours, general))


def _both(field, value):
    """(ours, marshmallow's) for `value` held in a dict (read by `dict.get`) and in an object (`getattr`)."""
    for obj, accessor in (({"value": value, "other": value} if value is not ma.missing else {}, dict.get),
                          (Holder(value, value), getattr)):
        yield (_outcome(field.serialize, "value", obj, accessor=accessor),
               _outcome(ma.fields.Field.serialize, field, "value", obj, accessor=accessor))


@pytest.mark.parametrize("name", FIELDS)
@settings(max_examples=300)
@given(value=VALUES)
@example(value="NaN")  # a float field makes nan of it on both paths
def test_a_response_field_answers_what_marshmallows_general_path_answers(name, value):
    for ours, general in _both(FIELDS[name], value):
        assert ours == general or _both_nan(ours, general), (ours, general)


def test_awkward_values_take_the_general_path():
    text = type("Text", (str,), {})("x")
    assert FIELDS["string"].serialize("value", {"value": text}, accessor=dict.get) == "x"
    assert FIELDS["float"].serialize("value", {"value": Decimal("1.5")}, accessor=dict.get) == 1.5
    assert FIELDS["float"].serialize("value", {"value": 2}, accessor=dict.get) == 2.0
    assert "value" not in ma.Schema.from_dict({"value": String()})().dump({})  # missing: left out, as before


def test_the_visit_schema_uses_them():
    """The sync's page is what they are for: every field of a visit but `local_date` and `flags`."""
    kinds = {type(field) for name, field in VisitSchema().fields.items() if name not in ("local_date", "flags")}
    assert kinds <= {String, Timestamp, Nested}
