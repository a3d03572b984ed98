"""Models and migrations agree, on SQLite and PostgreSQL (whichever this run targets)."""
from sqlalchemy import create_engine, inspect

from api.dbtools import load_models, schema_drift


def test_models_match_migrations(database_url):
    engine = create_engine(database_url)
    try:
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def test_every_model_table_is_migrated(database_url):
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(load_models().tables) <= tables


def test_sqlite_runs_in_wal_with_foreign_keys(app):
    db = app.extensions["fieldproof"].db
    if db.dialect != "sqlite":
        return
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
