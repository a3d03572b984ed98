"""Jurisdiction codes a case may carry: `CN`, `IN`, or `US-XX` with a US state code."""
from __future__ import annotations

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP".split()
)


def parse_jurisdiction(code: str) -> tuple[str, str | None]:
    """(`country`, `state`) for a valid code; ValueError naming what is wrong otherwise."""
    if code in ("CN", "IN"):
        return code, None
    country, sep, state = code.partition("-")
    if country == "US" and sep and state in US_STATES:
        return "US", state
    if country == "US":
        raise ValueError("US jurisdictions need a state: US-XX with a two-letter state code")
    raise ValueError(f"unknown jurisdiction {code!r}: use CN, IN or US-XX")
