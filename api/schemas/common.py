"""Field types shared by every schema."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import marshmallow as ma
from marshmallow import fields, validate

MIN_OFFSET = timedelta(hours=-12)
MAX_OFFSET = timedelta(hours=14)


OFFSET = r"(Z|\+(0[0-9]|1[0-3]):[0-5][0-9]|\+14:00|-(0[0-9]|1[01]):[0-5][0-9]|-12:00)"
MONTH_DAY = r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE_TIME = MONTH_DAY + r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?" + OFFSET + "$"
TIMESTAMP_PATTERN = r"^[1-8][0-9]{3}" + DATE_TIME
"""What `Timestamp` accepts, for the document: an offset on Earth, a year whose moment exists in UTC."""
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


class Timestamp(fields.AwareDateTime):
    """RFC 3339 with an offset; offsets outside −12:00…+14:00 do not exist on Earth."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "iso")
        kwargs["metadata"] = {"pattern": TIMESTAMP_PATTERN, **kwargs.get("metadata", {})}
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
        if not _TIMESTAMP.match(value):  # the document's pattern, so that the two never disagree
            raise ma.ValidationError("an RFC 3339 date-time with seconds and an offset, years 1000-8999, "
                                     "e.g. 2026-12-06T10:00:00+08:00")
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def serialize(self, attr, obj, accessor=None, **kwargs):
        """A datetime (or None) read by the schema's accessor is written here at once (see `AsIs`)."""
        if accessor is not None and self.attribute is None:
            value = accessor(obj, attr, ma.missing)
            if type(value) is datetime:
                return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if value is None:
                return None
        return super().serialize(attr, obj, accessor, **kwargs)


class AsIs:
    """For the fields of a response schema: a value of one of `AS_IS` types, or None, is its own JSON
    form (what the field's own serialisation would return), so it is returned as the schema's accessor
    reads it. marshmallow's general path (the value fetched through `get_value`, checked for
    `missing`, then formatted by the field) cost the sync's page a microsecond per field, a hundred
    and more fields per page. Any other value (or a field with `attribute`) takes that general path."""

    AS_IS: tuple[type, ...] = ()

    def serialize(self, attr, obj, accessor=None, **kwargs):
        if accessor is not None and self.attribute is None:
            value = accessor(obj, attr, ma.missing)
            if value is None or type(value) in self.AS_IS:
                return value
        return super().serialize(attr, obj, accessor, **kwargs)


class String(AsIs, fields.String):
    AS_IS = (str,)


class Float(AsIs, fields.Float):
    AS_IS = (float,)


class Boolean(AsIs, fields.Boolean):
    AS_IS = (bool,)


class Nested(fields.Nested):
    """A nested object read once by the schema's accessor: None as itself, anything else dumped by the
    nested schema (marshmallow's general path would read the attribute, then dump)."""

    def serialize(self, attr, obj, accessor=None, **kwargs):
        if accessor is not None and self.attribute is None and not self.many:
            value = accessor(obj, attr, ma.missing)
            if value is not ma.missing:
                return None if value is None else self.schema.dump(value)
        return super().serialize(attr, obj, accessor, **kwargs)


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


def given(name: str, schema: dict) -> dict:
    """JSON Schema: `name` is present and matches `schema` (null counts as not given)."""
    return {"required": [name], "properties": {name: schema}}


def both_or_neither(first: str, second: str) -> dict:
    """JSON Schema for "give both, or neither", for `OPENAPI_RULES`. Said with `not` alone: a
    top-level `anyOf` would read to client generators as a union and hide the model."""
    number = {"type": "number"}
    return {"not": {"anyOf": [{**given(first, number), "not": given(second, number)},
                              {**given(second, number), "not": given(first, number)}]}}


class SyncArgsSchema(ma.Schema):
    updated_since = Timestamp(metadata={"description": "Only items changed at or after this moment (mobile sync)"})
