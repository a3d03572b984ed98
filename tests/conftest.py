"""Fixtures shared by every test tier.

Every test gets its own database on the migrated schema (never `create_all`): on SQLite a
copy of a template migrated once per session; on PostgreSQL (FIELDPROOF_TEST_DATABASE_URL,
set by `make test`) one migrated database per pytest-xdist worker, emptied between tests.
"""
from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import create_engine, make_url, text

from api.dbtools import load_models, upgrade
from core.settings import Settings

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def worker_database(url: str, worker: str | None) -> str:
    """The database of one xdist worker on the same server (created on first use), so that
    parallel workers never empty each other's tables; the named database itself without xdist."""
    if not worker or worker == "master":
        return url
    server = make_url(url)
    name = f"{server.database}_{worker}"
    engine = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    url = os.environ.get("FIELDPROOF_TEST_DATABASE_URL")
    if url:
        url = worker_database(url, os.environ.get("PYTEST_XDIST_WORKER"))
        upgrade(url)
        return "postgresql", url
    path = tmp_path_factory.mktemp("template") / "fieldproof.db"
    upgrade(f"sqlite:///{path}")
    return "sqlite", path


def _empty_postgres(url: str) -> None:
    tables = [t.name for t in load_models().sorted_tables]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        # what the migrations seed: the default creditor and its portfolio (0013)
        connection.execute(text("INSERT INTO creditors (id, code, name, created_at, updated_at) VALUES "
                                "(gen_random_uuid()::text, 'DEFAULT', 'Default creditor', now(), now())"))
        connection.execute(text("INSERT INTO portfolios (id, creditor_id, code, name, created_at, updated_at) "
                                "SELECT gen_random_uuid()::text, id, 'DEFAULT', 'Default portfolio', now(), now() "
                                "FROM creditors"))
    engine.dispose()


@pytest.fixture
def database_url(database_template, tmp_path):
    kind, value = database_template
    if kind == "sqlite":
        copy = tmp_path / "fieldproof.db"
        shutil.copyfile(value, copy)
        return f"sqlite:///{copy}"
    _empty_postgres(value)
    return value


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(env="development", data_dir=tmp_path, database_url=database_url,
                    storage_url=f"file://{tmp_path / 'blobs'}", secret_key=TEST_SECRET, log_level="INFO")


@pytest.fixture(autouse=True)
def sequencers_end_with_their_test(monkeypatch):
    """Every ledger sequencer a test starts (an app of its own, not only the `app` fixture's) stops
    when the test ends: a forgotten one would keep PostgreSQL's election lock for the rest of the
    worker's run, and a later test's sequencer would never be elected."""
    from custody.sequencer import Sequencer

    started = []
    start = Sequencer.start

    def tracked(self, *args, **kwargs):
        started.append(self)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(Sequencer, "start", tracked)
    yield
    for sequencer in started:
        sequencer.stop()


@pytest.fixture
def app(settings):
    from api.app import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    shut_down(application)


def shut_down(application) -> None:
    """Let the app's background work finish before its connections go: a job or a checkpoint still
    running on PostgreSQL would otherwise hold locks that the next test's TRUNCATE deadlocks on."""
    runtime = application.extensions["fieldproof"]
    for name in ("checkpoints", "tokens", "sequencer"):
        stop = getattr(runtime.extras.get(name), "stop", None)
        if stop:
            stop()
    if hasattr(runtime.jobs, "wait_idle"):
        runtime.jobs.wait_idle(60)
        runtime.jobs.stop()
    runtime.db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app, client):
    from tests.factories import Factory

    return Factory(app, client)
