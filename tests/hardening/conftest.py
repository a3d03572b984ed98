"""Hardening fixtures: the evidence world, a console session, the OpenAPI operations, audits."""
from __future__ import annotations

import functools
import json
import tempfile

import pytest

from tests.console.conftest import ConsoleSession
from tests.evidence_world import world  # noqa: F401 - the evidence fixture, shared with other tiers

ROLES = ("admin", "supervisor", "collector", "legal", "auditor")
METHODS = ("get", "post", "put", "patch", "delete")


@functools.lru_cache(maxsize=1)
def openapi() -> dict:
    """The OpenAPI document as the app generates it (no database needed), for parametrizing."""
    from api.app import create_app
    from core.settings import Settings

    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Settings(data_dir=directory, secret_key="s" * 40, log_level="ERROR"))
        with app.test_request_context():
            spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
        app.extensions["fieldproof"].db.dispose()
    return json.loads(json.dumps(spec))


def operations() -> list[tuple[str, str, dict]]:
    """(METHOD, path, operation) for every operation the document describes."""
    return [(method.upper(), path, op) for path, ops in openapi()["paths"].items()
            for method, op in ops.items() if method in METHODS]


def json_operations() -> list[tuple[str, str, dict]]:
    return [(m, p, op) for m, p, op in operations()
            if "application/json" in ((op.get("requestBody") or {}).get("content") or {})]


def takes_timestamps(operation: dict) -> bool:
    """Whether the operation's JSON body has a date-time field anywhere (following $refs)."""
    components = openapi().get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def walk(schema) -> bool:
        if isinstance(schema, list):
            return any(walk(item) for item in schema)
        if not isinstance(schema, dict) or schema.get("readOnly"):  # created_at and kin are not sent
            return False
        ref = schema.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return False
            seen.add(name)
            return walk(components.get(name, {}))
        if schema.get("format") == "date-time":
            return True
        return any(walk(value) for key, value in schema.items() if isinstance(value, (dict, list)))

    return walk(operation["requestBody"]["content"]["application/json"].get("schema", {}))


def op_id(m: str, p: str) -> str:
    return f"{m} {p}"


@pytest.fixture
def console(client):
    return ConsoleSession(client)
