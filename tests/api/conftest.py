from tests.evidence_world import world  # noqa: F401 - the evidence fixture, shared with tests/integration
