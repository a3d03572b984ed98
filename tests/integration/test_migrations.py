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


def test_ledger_nodes_move_to_positions_and_back(database_url):
    """0007 re-keys a ledger's stored nodes by position without losing or changing one."""
    from alembic import command
    from sqlalchemy import text

    from api.dbtools import alembic_config, upgrade
    from evidence.custody import node_position
    from evidence.ledger import merkle

    leaves = [bytes([n]) * 32 for n in range(37)]
    nodes: dict[tuple[int, int], bytes] = {}
    for index, leaf in enumerate(leaves):
        for level, node_index, digest in merkle.completed_subtrees(index, leaf, lambda l, i: nodes[(l, i)]):
            nodes[(level, node_index)] = digest
    config = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        command.downgrade(config, "0006_verification_resume")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO ledger_nodes (level, node_index, hash) VALUES (:l, :i, :h)"),
                               [{"l": l, "i": i, "h": h} for (l, i), h in nodes.items()])
        upgrade(database_url)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT position, level, node_index, hash FROM ledger_nodes")).all()
        assert {(level, index): bytes(digest) for _p, level, index, digest in rows} == nodes
        assert all(position == node_position(level, index) for position, level, index, _h in rows)
        command.downgrade(config, "0006_verification_resume")
        with engine.connect() as connection:
            back = connection.execute(text("SELECT level, node_index, hash FROM ledger_nodes")).all()
        assert {(level, index): bytes(digest) for level, index, digest in back} == nodes
    finally:
        upgrade(database_url)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM ledger_nodes"))
        engine.dispose()
