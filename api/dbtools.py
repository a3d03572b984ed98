"""Schema tooling: every model module, migrations, and the models-vs-migrations check."""
from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db import Base

MODEL_MODULES = (
    "accounts.models",
    "cases.models",
    "cases.promises",
    "placements.models",
    "core.idempotency",
    "visits.models",
    "contacts.models",
    "custody.models",
    "evidence.models",
    "legal_docs.models",
)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def load_models():
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def schema_is_current(engine) -> bool:
    """Whether the database is migrated to the head revision (background work waits for it)."""
    heads = set(ScriptDirectory.from_config(alembic_config("")).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def schema_drift(engine) -> list:
    """Differences between the models and the migrated database (empty when they agree)."""
    metadata = load_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)
