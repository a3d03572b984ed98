"""One blueprint per resource; `register_all` mounts them under /api/v1."""
from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def register_all(api, app: Flask) -> None:
    from api.resources import auth, cases, devices, operations, users

    for module in (auth, users, devices, cases):
        api.register_blueprint(module.blp, url_prefix=API_PREFIX + module.PREFIX)
    api.register_blueprint(operations.blp)
    operations.install_metrics_view(app)
