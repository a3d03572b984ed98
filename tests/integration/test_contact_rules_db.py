"""Contact rules on the migrated database (SQLite, and PostgreSQL when the suite runs there): two
collectors racing for the last call the day's cap allows place one call, not two."""
from __future__ import annotations

import threading
from datetime import timedelta

from contacts import services
from contacts.models import Contact, ContactRefusal
from core.actor import Actor
from core.errors import RuleViolation
from tests.api.visit_helpers import local, make_world


def test_two_collectors_racing_for_the_last_call_place_only_one(app, factory):
    runtime = app.extensions["fieldproof"]
    world = make_world(factory)
    supervisor = Actor(id=world.supervisor.id, role="supervisor")
    admin = Actor(id=factory.user("admin").id, role="admin")
    for minutes in (0, 10):  # two calls today: the CN default cap is 3 per local day
        with runtime.db.transaction() as session:
            services.record_contact(session, supervisor, runtime, world.case["id"], {
                "channel": "call", "direction": "outbound", "at": local(-1, 9) + timedelta(minutes=minutes),
                "outcome": "no_answer"})
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def place(actor, minute):
        barrier.wait()
        try:
            with runtime.db.transaction() as session:
                services.record_contact(session, actor, runtime, world.case["id"], {
                    "channel": "call", "direction": "outbound", "at": local(-1, 10, minute), "outcome": "voicemail"})
            outcomes.append("placed")
        except RuleViolation as refused:
            outcomes.append(refused.violations[0]["rule"])

    threads = [threading.Thread(target=place, args=(who, minute)) for who, minute in ((supervisor, 1), (admin, 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["frequency.calls", "placed"]
    with runtime.db.transaction() as session:
        assert session.query(Contact).filter_by(case_id=world.case["id"]).count() == 3
        assert [r.rules for r in session.query(ContactRefusal).filter_by(case_id=world.case["id"])] == [
            ["frequency.calls"]]
