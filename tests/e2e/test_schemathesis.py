"""schemathesis over every operation of the served API, with a token of each role.

Bounded here (a few examples per operation and role); `make fuzz` runs the long version.
Zero server errors and zero responses that break the documented schema.

Two runs: every operation on its own (`test_every_operation_conforms`), and the workflows the
document's OpenAPI links declare (api/links.py), followed as a state machine with the token of
each role that creates things (`test_linked_workflows_conform`, first: it needs the served case
and tokens as the fixture made them, before the stateless run has patched and throttled them).
"""
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("FIELDPROOF_FUZZ_EXAMPLES", "12"))
# The stateful run: scenarios per role, and calls per scenario. `make fuzz` raises the first
# through FIELDPROOF_FUZZ_EXAMPLES (500 there gives 50 scenarios per role).
SCENARIOS = int(os.environ.get("FIELDPROOF_FUZZ_SCENARIOS", str(max(5, MAX_EXAMPLES // 10))))
STEPS = int(os.environ.get("FIELDPROOF_FUZZ_STEPS", "10"))
LOGOUT = "/api/v1/auth/tokens/current"
# `make test` replays the same examples every run (a red CI names a bug, not a dice roll);
# `make fuzz` sets FIELDPROOF_FUZZ_RANDOM=1 and explores new ones each time.
DERANDOMIZE = os.environ.get("FIELDPROOF_FUZZ_RANDOM") != "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(served_api):
    schema = schemathesis.openapi.from_url(f"{served_api.url}/api/v1/openapi.json")
    # U+0000 in any string is refused with 400 by design (PostgreSQL cannot store it; the API
    # description says so, and tests/api/test_errors.py holds it): not generated as valid data.
    schema.config.generation.update(allow_x00=False)
    return schema


# Logging out would revoke the token the rest of the run uses; its own tests cover it. (Excluded
# here, on the lazy schema: a filter applied to the fixture's schema is not seen by parametrize.)
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path=LOGOUT)


@pytest.fixture(scope="module")
def scheduled_visit(served_api):
    """A visit on the served case, for the collector: the links from the visits list lead somewhere."""
    supervisor = served_api.tokens["supervisor"]
    collector = served_api.tokens["collector"]
    from tests.factories import Factory

    with served_api.app.test_client() as client:
        partner = Factory(served_api.app, client).user("collector")  # the case's jurisdiction sends two
        cases = client.get("/api/v1/cases", headers=collector)
        assert cases.status_code == 200 and cases.get_json(), cases.get_json()
        case = cases.get_json()[0]
        me = client.get("/api/v1/me", headers=collector).get_json()
        day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).replace(hour=10, minute=0, second=0,
                                                                                     microsecond=0)
        response = client.post("/api/v1/visits", headers=supervisor, json={
            "case_id": case["id"], "address_id": case["addresses"][0]["id"], "collector_id": me["id"],
            "second_collector_id": partner.id,
            "window_start": day.isoformat(), "window_end": (day + timedelta(hours=1)).isoformat()})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def _linked_operations_of(role):
    """Operations on the declared links (api/links.py) that `role` may call: the stateless test
    already sends every operation; this one spends its steps following the workflows."""
    from api.links import LINKS, PREFIX

    linked = {(m, PREFIX + p) for link in LINKS for m, p in (link.source[:2], link.target)}

    def matches(ctx):
        operation = ctx.operation
        roles = operation.definition.raw.get("x-roles") or ["any"]
        return (operation.method.lower(), operation.path) in linked and (role in roles or "any" in roles)

    return matches


@pytest.mark.parametrize("role", ["collector", "supervisor", "legal", "admin"])
def test_linked_workflows_conform(role, served_api, scheduled_visit):
    """Scenarios that chain calls through the document's links, as each role that creates things."""
    from schemathesis import GenerationMode

    api = schemathesis.openapi.from_url(f"{served_api.url}/api/v1/openapi.json").include(_linked_operations_of(role))
    # Positive data gets past validation to the next link; the stateless test sends the hostile data.
    api.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=False)
    headers = served_api.tokens[role]

    class Workflows(api.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder)

    Workflows.run(settings=settings(
        max_examples=SCENARIOS, stateful_step_count=STEPS, deadline=None, database=None, derandomize=DERANDOMIZE,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck)))


# One test walks every operation (78 and growing) as subtests; the suite's 600 s hang guard is
# per test, so this one gets a guard sized to all of them on a busy two-core machine.
@pytest.mark.timeout(1800)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_every_operation_conforms(case, served_api):
    for headers in served_api.tokens.values():
        response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        schema_valid_is_accepted(case, response)


# Schema-valid requests the server may still refuse (422), by operation and field: what depends on
# the server's state, or compares two fields — JSON Schema cannot say either. Each is documented on
# its operation. A refusal for anything else means the document hides a constraint.
NOT_SAYABLE_IN_JSON_SCHEMA = {
    "POST /api/v1/cases": {"assigned_collector_id": "must name an active collector (state)",
                           "portfolio_id": "required while several creditors exist (state)"},
    "POST /api/v1/users": {"creditor_ids": "must name existing creditors (state)"},
    "PATCH /api/v1/users/{user_id}": {"creditor_ids": "must name existing creditors (state)"},
    "POST /api/v1/portfolios/{portfolio_id}/placements": {"file": "a readable CSV or XLSX (content)",
                                                          "columns": "a JSON map of header names (content)",
                                                          "mode": "one of the modes (a multipart field)"},
    "POST /api/v1/devices": {"public_key": "a point on the Ed25519 curve (not a pattern)"},
    "PATCH /api/v1/cases/{case_id}": {"assigned_collector_id": "must name an active collector (state)"},
    "POST /api/v1/visits": {"window_end": "after window_start (two fields)"},
    "POST /api/v1/visits/{visit_id}/reschedule": {"window_end": "after window_start (two fields), in the future (the clock)"},
    "POST /api/v1/cases/{case_id}/packets": {"evidence_ids": "sealed items of this case (state)"},
    "POST /api/v1/cases/{case_id}/notices": {
        "template": "a template the case's jurisdiction uses (state)",
        "itemization": "adds up to the case's amount_overdue, dated on or before the mailing date (state, two fields)"},
    "GET /api/v1/reports/visits": {"to": "not before from (two fields)"},
    "GET /api/v1/reports/contacts": {"to": "not before from (two fields)"},
    "POST /api/v1/cases/{case_id}/contacts": {"at": "not after now (the clock)",
                                              "notice_id": "a notice issued on this case (state)"},
    "GET /api/v1/ledger/proofs/inclusion": {"index": "below tree_size (two parameters)",
                                            "tree_size": "at most the current tree size (state)"},
    "GET /api/v1/ledger/proofs/consistency": {"first": "at most second (two parameters)",
                                              "second": "at most the current tree size (state)"},
    "POST /api/v1/ledger/checkpoints/verify": {"note": "each signing key named once (a pattern cannot count)"},
    "POST /api/v1/verifications": {"checkpoints": "each note's signing key named once (a pattern cannot count)"},
    "POST /api/v1/ledger/witnesses": {"vkey": "an Ed25519 key: the decoded key's type and length (base64 inside)"},
    "POST /api/v1/ledger/cosignatures": {"note": "a signed note: text, a blank line, signature lines (structure)"},
}


def schema_valid_is_accepted(case, response):
    """Positive data is never refused as malformed (400/422), but for what the table above lists;
    a compliance rule's refusal (`violations`) is the server's state too (the clock, the case)."""
    if not case.meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return
    problem = response.json()
    if problem.get("violations"):
        return
    allowed = NOT_SAYABLE_IN_JSON_SCHEMA.get(case.operation.label, {})
    hidden = {field: messages for field, messages in (problem.get("errors") or {"(body)": problem}).items()
              if field.split(".")[0] not in allowed}
    assert not hidden, f"{case.operation.label} refused schema-valid data: {hidden}"
