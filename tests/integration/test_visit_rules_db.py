"""Visit services on the migrated database: organisation overrides and the promise sweep."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cases.models import Case
from cases.promises import RepaymentPromise, broken_promises, make_promise, sweep_broken_promises
from core.actor import Actor
from core.errors import ConfigurationError, RuleViolation
from tests.api.visit_helpers import local, make_world
from jurisdictions.organisation import organisation_profile
from visits import services


def _request(world):
    return {"case_id": world.case["id"], "address_id": world.address("home")["id"],
            "collector_id": world.collector.id, "second_collector_id": world.second.id,
            "window_start": local(1, 8, 30), "window_end": local(1, 9, 30)}


def test_an_organisation_may_tighten_lawful_hours(app, factory, settings):
    world = make_world(factory)
    supervisor = Actor(id=world.supervisor.id, role="supervisor")
    tightened = settings.with_overrides(rule_overrides={"hours.local": {"start": "09:00"}})
    with pytest.raises(RuleViolation) as refused:
        with app.extensions["fieldproof"].db.transaction() as session:
            services.schedule_visit(session, supervisor, tightened, _request(world))
    assert [v["rule"] for v in refused.value.violations] == ["hours.local"]
    assert "09:00" in refused.value.violations[0]["detail"]
    with app.extensions["fieldproof"].db.transaction() as session:
        visit = services.schedule_visit(session, supervisor, settings, _request(world))
        assert visit.status == "scheduled"


def test_an_override_that_loosens_the_law_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="hours.local"):
        organisation_profile("CN", {"hours.local": {"end": "23:00"}})
    assert organisation_profile("US-NY", {"frequency.visits": {"max_per_period": 2}}).frequency.max_per_period == 2


def test_the_sweep_marks_each_overdue_promise_once(app, factory):
    world = make_world(factory)
    due_end = datetime(2030, 1, 2, 16, tzinfo=UTC)  # end of 2030-01-02 in Shanghai
    with app.extensions["fieldproof"].db.transaction() as session:
        case = session.get(Case, world.case["id"])
        make_promise(session, case, visit_id=None, collector_id=world.collector.id, actor_id=world.supervisor.id,
                     amount=Decimal("12.00"), currency=None, due_date=date(2030, 1, 2), due_end_at=due_end,
                     made_at=due_end - timedelta(days=3))
    with app.extensions["fieldproof"].db.transaction() as session:
        assert sweep_broken_promises(session, due_end - timedelta(seconds=1)) == 0
        assert sweep_broken_promises(session, due_end) == 1
        assert sweep_broken_promises(session, due_end + timedelta(days=1)) == 0
        [promise] = session.scalars(broken_promises(collector_id=world.collector.id)).all()
        assert isinstance(promise, RepaymentPromise)
        assert (promise.currency, promise.resolved_at) == ("CNY", due_end)
