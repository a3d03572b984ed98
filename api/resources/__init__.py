"""One blueprint per resource; `register_all` mounts them under /api/v1."""
from __future__ import annotations

import importlib

from flask import Flask

API_PREFIX = "/api/v1"

# Each module defines `blp` and `PREFIX` (the part of the path after /api/v1).
RESOURCE_MODULES = (
    "api.resources.auth",
    "api.resources.users",
    "api.resources.devices",
    "api.resources.cases",
    "api.resources.creditors",
    "api.resources.placements",
    "api.resources.visits",
    "api.resources.contacts",
    "api.resources.reports",
    "api.resources.evidence",
    "api.resources.ledger",
    "api.resources.verifications",
    "api.resources.packets",
    "api.resources.notices",
)


def register_all(api, app: Flask) -> None:
    from api.resources import operations

    for name in RESOURCE_MODULES:
        module = importlib.import_module(name)
        if module.blp.deferred_functions or getattr(module, "ALWAYS", False):
            api.register_blueprint(module.blp, url_prefix=API_PREFIX + module.PREFIX)
    api.register_blueprint(operations.blp)
    operations.install_metrics_view(app)
