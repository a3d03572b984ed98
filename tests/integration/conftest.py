from tests.api.visit_helpers import clock  # noqa: F401 - the pinned service clock of the visit tests
