"""A served API: the real app behind a real HTTP server on loopback, for fuzzing and e2e tests."""
from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from core.settings import Settings
from tests.conftest import TEST_SECRET, _empty_postgres


@dataclass
class ServedApi:
    url: str
    app: object
    tokens: dict


def fresh_app(database_template, base, **settings):
    """An app on its own copy of the migrated database (SQLite) or the emptied PostgreSQL one."""
    from api.app import create_app

    kind, value = database_template
    if kind == "sqlite":
        shutil.copyfile(value, base / "fieldproof.db")
        url = f"sqlite:///{base / 'fieldproof.db'}"
    else:
        _empty_postgres(value)
        url = value
    return create_app(Settings(data_dir=base, database_url=url, storage_url=f"file://{base / 'blobs'}",
                               secret_key=TEST_SECRET, log_level="WARNING", **settings))


@contextmanager
def serving(app):
    """The app behind a real threaded HTTP server on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        app.extensions["fieldproof"].db.dispose()


@pytest.fixture(scope="module")
def served_api(database_template, tmp_path_factory):
    from tests.factories import Factory

    app = fresh_app(database_template, tmp_path_factory.mktemp("served"), login_max_failures=1000)
    factory = Factory(app, app.test_client())
    users = {role: factory.user(role) for role in ("admin", "supervisor", "collector", "legal", "auditor")}
    factory.case(collector=users["collector"], supervisor=users["supervisor"])
    with serving(app) as url:
        yield ServedApi(url, app, {r: u.headers for r, u in users.items()})
