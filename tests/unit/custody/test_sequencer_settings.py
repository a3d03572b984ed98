"""Where custody events are integrated, as configured: queued on PostgreSQL, inline on SQLite."""
import pytest

from core.errors import ConfigurationError
from core.settings import Settings


def test_postgresql_queues_custody_events_and_sqlite_integrates_them_inline_by_default():
    pg = Settings.from_env({"FIELDPROOF_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db"})
    assert (pg.ledger_sequencer, pg.ledger_merge_delay_ms) == ("queued", 1000)
    assert Settings.from_env({}).ledger_sequencer == "inline"
    assert Settings().ledger_sequencer == "inline"  # settings built in code (tests, tools)


def test_the_sequencing_and_the_merge_delay_can_be_set_and_bad_values_are_refused():
    chosen = Settings.from_env({"FIELDPROOF_LEDGER_SEQUENCER": "queued", "FIELDPROOF_LEDGER_MERGE_DELAY_MS": "250"})
    assert (chosen.ledger_sequencer, chosen.ledger_merge_delay_ms) == ("queued", 250)
    with pytest.raises(ConfigurationError):
        Settings.from_env({"FIELDPROOF_LEDGER_SEQUENCER": "sometimes"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"FIELDPROOF_LEDGER_MERGE_DELAY_MS": "0"})


def test_a_node_can_be_a_standby_sequencer():
    assert Settings.from_env({"FIELDPROOF_LEDGER_STANDBY": "true"}).ledger_standby is True
    assert Settings.from_env({}).ledger_standby is False
    with pytest.raises(ConfigurationError):
        Settings.from_env({"FIELDPROOF_LEDGER_STANDBY": "yes"})
