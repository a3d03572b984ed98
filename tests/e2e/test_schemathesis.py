"""schemathesis over every operation of the served API, with a token of each role.

Bounded here (a few examples per operation and role); `make fuzz` runs the long version.
Zero server errors and zero responses that break the documented schema.
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

MAX_EXAMPLES = int(os.environ.get("FIELDPROOF_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def api_schema(served_api):
    schema = schemathesis.openapi.from_url(f"{served_api.url}/api/v1/openapi.json")
    # Logging out would revoke the token the rest of the run uses; its own tests cover it.
    return schema.exclude(path="/api/v1/auth/tokens/current")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_every_operation_conforms(case, served_api):
    for role, headers in served_api.tokens.items():
        case.call_and_validate(headers=headers)
