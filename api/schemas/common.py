"""Field types shared by every schema."""
from __future__ import annotations

import re
from datetime import UTC, timedelta

import marshmallow as ma
from marshmallow import fields, validate

MIN_OFFSET = timedelta(hours=-12)
MAX_OFFSET = timedelta(hours=14)


class Timestamp(fields.AwareDateTime):
    """RFC 3339 with an offset; offsets outside −12:00…+14:00 do not exist on Earth."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or "T" not in value:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        moment = super()._deserialize(value, attr, data, **kwargs)
        offset = moment.utcoffset()
        if offset is None or not (MIN_OFFSET <= offset <= MAX_OFFSET):
            raise ma.ValidationError("time offset must lie between -12:00 and +14:00")
        try:
            moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+14:00, 9999-12-31T23:59-12:00: no UTC moment exists
            raise ma.ValidationError("the moment lies outside the calendar once converted to UTC") from None
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Latitude(fields.Float):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(-90, 90), allow_nan=False, **kwargs)


class Longitude(fields.Float):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(-180, 180), allow_nan=False, **kwargs)


MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


class Money(fields.Decimal):
    """A non-negative decimal string with at most two places (e.g. "1234.50"); never a float."""

    def __init__(self, **kwargs):
        # a string in the document too (apispec would say "number" for a Decimal field)
        metadata = {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "example": "1234.50",
                    **kwargs.pop("metadata", {})}
        super().__init__(places=2, as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.match(MONEY_PATTERN, value):
            raise ma.ValidationError("a decimal string with at most two places, e.g. \"1234.50\"")
        return super()._deserialize(value, attr, data, **kwargs)


def Currency(**kwargs) -> fields.String:  # noqa: N802 - reads as a field type
    return fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="ISO 4217 code, e.g. CNY"), **kwargs)


def Id(**kwargs) -> fields.String:  # noqa: N802 - reads as a field type
    return fields.String(validate=validate.Length(min=1, max=64), **kwargs)


class SyncArgsSchema(ma.Schema):
    updated_since = Timestamp(metadata={"description": "Only items changed at or after this moment (mobile sync)"})
