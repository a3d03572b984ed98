"""Models and migrations agree, on SQLite and PostgreSQL (whichever this run targets)."""
from sqlalchemy import create_engine, func, inspect

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
    from custody.models import node_position
    from custody.ledger import merkle

    leaves = [bytes([n]) * 32 for n in range(37)]
    nodes: dict[tuple[int, int], bytes] = {}
    for index, leaf in enumerate(leaves):
        for level, node_index, digest in merkle.completed_subtrees(index, leaf, lambda lv, i: nodes[(lv, i)]):
            nodes[(level, node_index)] = digest
    config = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        command.downgrade(config, "0006_verification_resume")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO ledger_nodes (level, node_index, hash) VALUES (:l, :i, :h)"),
                               [{"l": lv, "i": i, "h": h} for (lv, i), h in nodes.items()])
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


def test_events_about_packets_keys_and_runs_move_from_evidence_id_to_subject_id(app, factory, database_url):
    """0008 moves what is not an evidence item out of evidence_id (and 0007 back); no leaf changes."""
    from alembic import command
    from sqlalchemy import select, text

    from api.dbtools import alembic_config, upgrade
    from custody.append import rebuild_leaf, record_custody_event
    from custody.models import CustodyEvent, Verification
    from legal_docs.models import Packet

    runtime = app.extensions["fieldproof"]
    legal, case = factory.user("legal"), factory.case()
    with runtime.db.transaction() as session:
        packet = Packet(case_id=case["id"], version=1, language="en", bates_prefix="P", requested_by=legal.id)
        run = Verification(scope="case", subject_id=case["id"], requested_by=legal.id)
        session.add_all([packet, run])
        session.flush()
        about = [("sealed", {"evidence_id": "item-1"}), ("downloaded", {"evidence_id": "item-1"}),
                 ("packet_built", {"subject_id": packet.id}), ("downloaded", {"subject_id": packet.id}),
                 ("key_rotated", {"subject_id": "ab" * 32}), ("verified", {"evidence_id": "item-1"}),
                 ("verified", {"subject_id": run.id})]
        first = session.scalar(select(func.count()).select_from(CustodyEvent))
        for kind, subject in about:
            record_custody_event(session, type=kind, actor_id=legal.id, **subject)
    runtime.db.dispose()
    config, engine = alembic_config(database_url), create_engine(database_url)
    read = text("SELECT evidence_id, leaf FROM custody_events WHERE ledger_index >= :first ORDER BY ledger_index")
    try:
        command.downgrade(config, "0007_ledger_node_positions")
        with engine.connect() as connection:
            old = connection.execute(read, {"first": first}).all()
        assert [evidence_id for evidence_id, _ in old] == [next(iter(s.values())) for _, s in about]
        upgrade(database_url)
        with runtime.db.transaction() as session:
            events = list(session.scalars(select(CustodyEvent).where(CustodyEvent.ledger_index >= first)
                                          .order_by(CustodyEvent.ledger_index)))
            assert [(e.evidence_id, e.subject_id) for e in events] == [
                (s.get("evidence_id"), s.get("subject_id")) for _, s in about]
            assert [e.leaf for e in events] == [leaf for _, leaf in old]
            assert all(rebuild_leaf(e) == e.leaf.encode() for e in events)
    finally:
        upgrade(database_url)
        engine.dispose()
