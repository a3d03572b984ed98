"""The case timeline's one writer: every package records what happened to a case through it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cases.models import CaseEvent
from core.clock import utcnow


def record_event(session: Session, case_id: str, type_: str, actor_id: str | None, details: dict | None = None,
                 *, subject_id: str | None = None, at: datetime | None = None) -> CaseEvent:
    event = CaseEvent(case_id=case_id, type=type_, actor_id=actor_id, subject_id=subject_id,
                      details=details or {}, at=at or utcnow())
    session.add(event)
    return event
