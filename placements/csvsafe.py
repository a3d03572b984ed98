"""CSV we write: every cell that a spreadsheet would run as a formula is kept as text."""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """The cell's text, prefixed with ' when it starts like a formula (OWASP: CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row(values) -> list[str]:
    return [cell(v) for v in values]
