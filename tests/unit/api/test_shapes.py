"""A JSON shape rendered by Python (no app, no database); the PostgreSQL rendering is checked
against it in tests/api/test_visit_json.py."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql

from api.shapes import BOOLEAN, DAY, JSON, MOMENT, NUMBER, TEXT, Group, Shape, Value

SHAPE = Shape(Value("id", TEXT), Value("at", MOMENT, "seen_at"), Value("day", DAY), Value("score", NUMBER),
              Group("check", "checked_at", Value("at", MOMENT, "checked_at"), Value("ok", BOOLEAN)),
              Value("flags", JSON))


def row(**values):
    base = dict(id="v1", seen_at=None, day=None, score=None, checked_at=None, ok=None, flags=None)
    return SimpleNamespace(**{**base, **values})


def test_values_are_written_as_their_kind_and_none_stays_null():
    shanghai = timezone(timedelta(hours=8))
    rendered = SHAPE.render(row(id=7, seen_at=datetime(2026, 11, 29, 13, 5, tzinfo=shanghai), day=date(2026, 11, 29),
                                score=8, flags={"skew": True}))
    assert rendered == {"id": "7", "at": "2026-11-29T05:05:00Z", "day": "2026-11-29", "score": 8.0, "check": None,
                        "flags": {"skew": True}}
    assert isinstance(rendered["score"], float) and list(rendered) == ["id", "at", "day", "score", "check", "flags"]
    assert SHAPE.render(row()) == {"id": "v1", "at": None, "day": None, "score": None, "check": None, "flags": None}


def test_moments_carry_microseconds_only_when_there_are_any():
    at = datetime(2026, 11, 29, 5, 5, 7, 120000, tzinfo=UTC)
    assert SHAPE.render(row(seen_at=at))["at"] == "2026-11-29T05:05:07.120000Z"
    assert SHAPE.render(row(seen_at=at.replace(microsecond=0)))["at"] == "2026-11-29T05:05:07Z"


def test_a_group_is_null_until_its_column_is_set_then_carries_its_members():
    at = datetime(2026, 11, 29, 5, 5, tzinfo=UTC)
    assert SHAPE.render(row(ok=True))["check"] is None  # a member set does not make the group present
    assert SHAPE.render(row(checked_at=at, ok=0))["check"] == {"at": "2026-11-29T05:05:00Z", "ok": False}


@pytest.mark.parametrize("members", [
    (Value("a", TEXT), Value("a", NUMBER)),
    (Value("Bad-name", TEXT),),
    (Value("x'); DROP TABLE visits; --", TEXT),),
    tuple(Value(f"f{n}", TEXT) for n in range(51)),
])
def test_names_are_distinct_identifiers_and_few_enough_for_one_json_build_object(members):
    with pytest.raises(ValueError):
        Shape(*members)


def test_the_page_statement_writes_the_shape_with_constants_and_only_the_page_parameters():
    table = Table("things", MetaData(), Column("id", String), Column("seen_at", DateTime(timezone=True)),
                  Column("day", String), Column("score", Integer), Column("checked_at", DateTime(timezone=True)),
                  Column("ok", String), Column("flags", String), Column("_total", Integer))
    page = select(*table.columns).order_by(table.c.seen_at).limit(5)
    compiled = SHAPE.page_sql(page, page._order_by_clauses).compile(dialect=postgresql.dialect())
    sql = str(compiled)
    assert set(compiled.params) == {"param_1"}  # the page's own LIMIT; names, formats and 'UTC' are constants
    assert "json_build_object('id', page.id, 'at', replace(to_char(timezone('UTC', page.seen_at)" in sql
    assert "CAST(page.score AS FLOAT)" in sql and "CAST(page.id" not in sql  # cast only what is not the kind already
    assert "ORDER BY page._position" in sql and "row_number() OVER (ORDER BY things.seen_at)" in sql
    assert "CASE WHEN (page.checked_at IS NOT NULL) THEN json_build_object('at'" in sql
