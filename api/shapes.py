"""A resource's JSON shape, written once and rendered two ways: by Python from a row (every back
end, every response), and by PostgreSQL as `json_build_object` for the list pages the mobile sync
reads many times a minute. There the database returns the whole page as one JSON text that goes
out as it is: no row objects, no value conversions and no encoding in Python, which were most of
the list's cost. Both renderings give equal JSON (tests/api/test_visit_json.py, on both back ends).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from itertools import chain

from sqlalchemy import Float, Select, String, Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _sql_literal(text: str) -> ColumnElement:
    """A constant written into the statement (not a parameter: json_build_object takes "any",
    and an untyped parameter there has no type PostgreSQL can settle on)."""
    return literal_column("'" + text.replace("'", "''") + "'")


_UTC = _sql_literal("UTC")
_ISO_MICROSECONDS = _sql_literal('YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
_NO_MICROSECONDS = (_sql_literal(".000000Z"), _sql_literal("Z"))


def _moment_sql(column: ColumnElement) -> ColumnElement:
    """`datetime.isoformat()` in UTC with `Z`, as PostgreSQL writes it: microseconds only when
    there are any."""
    return func.replace(func.to_char(func.timezone(_UTC, column), _ISO_MICROSECONDS), *_NO_MICROSECONDS)


def _as(sql_type):
    """The column as it is when it already has the type (a shorter statement), else cast."""
    return lambda column: column if isinstance(column.type, sql_type) else cast(column, sql_type)


@dataclass(frozen=True)
class Kind:
    """How one kind of value is written: `python(value)` for a value that is not None, `sql(column)`
    for PostgreSQL (NULL stays null in both)."""

    python: Callable
    sql: Callable[[ColumnElement], ColumnElement]


TEXT = Kind(str, _as(String))
MOMENT = Kind(lambda value: value.astimezone(UTC).isoformat().replace("+00:00", "Z"), _moment_sql)
NUMBER = Kind(float, _as(Float))  # PostgreSQL writes the shortest exact digits, as repr does
BOOLEAN = Kind(bool, lambda column: column)
DAY = Kind(lambda value: value.isoformat(), lambda column: column)  # JSON output of a date is ISO 8601
JSON = Kind(lambda value: value, lambda column: column)


@dataclass(frozen=True)
class Value:
    """`name` in the JSON: the row's `column` (by default the same name), written as `kind`."""

    name: str
    kind: Kind
    column: str | None = None

    def __post_init__(self):
        if self.column is None:
            object.__setattr__(self, "column", self.name)

    def render(self, row):
        value = getattr(row, self.column)
        return None if value is None else self.kind.python(value)

    def sql(self, columns) -> ColumnElement:
        return self.kind.sql(columns[self.column])


class Group:
    """A nested object, null while the row's `present_when` column is NULL."""

    def __init__(self, name: str, present_when: str, *members: Value | Group):
        self.name, self.present_when, self.members = name, present_when, members
        _check_names(members)

    def render(self, row):
        if getattr(row, self.present_when) is None:
            return None
        return {member.name: member.render(row) for member in self.members}

    def sql(self, columns) -> ColumnElement:
        return case((columns[self.present_when].is_not(None), _object_sql(self.members, columns)))


class Shape:
    """The JSON object of one row."""

    def __init__(self, *members: Value | Group):
        self.members = members
        _check_names(members)

    def render(self, row) -> dict:
        return {member.name: member.render(row) for member in self.members}

    def sql(self, columns) -> ColumnElement:
        return _object_sql(self.members, columns)

    def page_sql(self, page: Select, order_by) -> Select:
        """One row for a page statement (its rows and `_total`, the window count): the page as a
        JSON array in `order_by` order (text, sent as it is), and the total."""
        rows = page.add_columns(func.row_number().over(order_by=order_by).label("_position")).subquery("page")
        array = func.json_agg(aggregate_order_by(self.sql(rows.c), rows.c._position))
        return select(cast(func.coalesce(array, _sql_literal("[]")), Text).label("body"),
                      func.max(rows.c._total).label("total"))


def _object_sql(members, columns) -> ColumnElement:
    return func.json_build_object(*chain.from_iterable((_sql_literal(m.name), m.sql(columns)) for m in members))


def _check_names(members) -> None:
    names = [member.name for member in members]
    if len(set(names)) != len(names) or not all(_NAME.fullmatch(name) for name in names):
        raise ValueError(f"JSON names must be distinct lower-case identifiers: {names}")
    if len(names) > 50:
        raise ValueError("json_build_object takes at most 100 arguments: nest the shape")
