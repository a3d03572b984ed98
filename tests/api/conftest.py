from tests.api.visit_helpers import clock  # noqa: F401 - the pinned service clock of the visit tests
from tests.evidence_world import world  # noqa: F401 - the evidence fixture, shared with tests/integration
