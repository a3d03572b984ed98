"""The organisation's profile for a case: the jurisdiction's law tightened by its settings.

Visits and contacts both judge by it, so an organisation's ``FIELDPROOF_RULE_OVERRIDES`` apply
the same way to a visit window and to a call.
"""
from __future__ import annotations

from datetime import time
from typing import Any

from core.errors import ConfigurationError, ValidationFailed
from jurisdictions.profiles import HoursRule, Profile, ProfileError, UnknownJurisdiction, profile_for, tighten

__all__ = ["organisation_profile"]

# Rules whose settings carry local times as "HH:MM" strings.
_HOURS_RULES = (HoursRule.id, "hours.contact")


def organisation_profile(jurisdiction: str, overrides: dict[str, dict[str, Any]]) -> Profile:
    """The case's profile tightened by the organisation's settings (never loosened)."""
    try:
        profile = profile_for(jurisdiction)
    except UnknownJurisdiction as error:
        raise ValidationFailed(str(error), {"jurisdiction": [str(error)]}) from None
    if not overrides:
        return profile
    try:
        return tighten(profile, {rule: _parsed_values(rule, values) for rule, values in overrides.items()})
    except (ProfileError, ValueError) as error:
        raise ConfigurationError(f"FIELDPROOF_RULE_OVERRIDES refused: {error}") from None


def _parsed_values(rule_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Settings arrive as JSON: lawful hours as "HH:MM" strings."""
    if rule_id not in _HOURS_RULES:
        return dict(values)
    return {name: time.fromisoformat(value) if isinstance(value, str) else value for name, value in values.items()}
