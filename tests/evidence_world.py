"""Evidence fixtures: a case with visits for two collectors, and an upload helper (shared by tiers)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.clock import utcnow
from tests.evidence_corpus import capture, multipart


@dataclass
class EvidenceWorld:
    supervisor: object
    collector: object
    other: object
    legal: object
    case: dict
    visit_id: str
    other_visit_id: str

    def upload(self, client, data: bytes, *, user=None, visit_id=None, key=None, filename="capture.jpg",
               metadata=None, **overrides):
        user = user or self.collector
        headers = dict(user.headers)
        if key:
            headers["Idempotency-Key"] = key
        body = metadata if metadata is not None else capture(visit_id or self.visit_id, data, **overrides)
        return client.post("/api/v1/evidence", data=multipart(body, data, filename), headers=headers,
                           content_type="multipart/form-data")


def make_visit(app, case: dict, collector_id: str, scheduled_by: str, kind: str = "home") -> str:
    from visits.models import Visit

    address = next(a for a in case["addresses"] if a["kind"] == kind)
    start = utcnow() - timedelta(minutes=30)
    with app.extensions["fieldproof"].db.transaction() as session:
        visit = Visit(case_id=case["id"], address_id=address["id"], collector_id=collector_id,
                      window_start=start, window_end=start + timedelta(hours=2), time_zone="Asia/Shanghai",
                      local_date=(start + timedelta(hours=8)).date(), status="checked_in", scheduled_by=scheduled_by)
        session.add(visit)
        session.flush()
        return visit.id


@pytest.fixture
def world(app, factory) -> EvidenceWorld:
    supervisor = factory.user("supervisor")
    collector, other = factory.user("collector"), factory.user("collector")
    case = factory.case(collector=collector, supervisor=supervisor)
    return EvidenceWorld(
        supervisor=supervisor, collector=collector, other=other, legal=factory.user("legal"), case=case,
        visit_id=make_visit(app, case, collector.id, supervisor.id),
        other_visit_id=make_visit(app, case, other.id, supervisor.id),
    )
