"""Processes the sequencer tests start: writers that queue custody events, and a sequencer that
stops in the middle of a batch (its transaction open, the head locked) until told to go on.

    python -m tests.integration.ledger_processes write URL COUNT TAG
        queue COUNT events, one transaction each; print each event id once committed
    python -m tests.integration.ledger_processes hang URL BATCH
        (PostgreSQL: win the sequencer election first) integrate one batch of BATCH queued events
        without committing; print "mid-batch <n> <backend pid>"; on a line from stdin, commit
"""
from __future__ import annotations

import sys

from core.db import Database
from custody.append import integrate_queued, queue_events, record_custody_event
from custody.sequencer import ELECTION_KEY


def write(url: str, count: int, tag: str) -> None:
    db = Database(url)
    queue_events(db.engine, lambda: None)  # nobody to wake here: the sequencers are elsewhere
    for number in range(count):
        with db.transaction() as session:
            recorded = record_custody_event(session, type="viewed", evidence_id=f"{tag}-{number}",
                                            actor_id=f"writer-{tag}", sha256="cd" * 32)
        print(recorded.event_id, flush=True)
    db.dispose()


def hang(url: str, batch: int) -> None:
    db = Database(url)
    elected = None
    if db.dialect == "postgresql":
        elected = db.engine.connect()
        won = elected.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (ELECTION_KEY,)).scalar()
        elected.commit()
        if not won:
            raise SystemExit("another sequencer holds the election")
    with db.transaction() as session:
        rows = integrate_queued(session, batch)
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() \
            if db.dialect == "postgresql" else 0
        print(f"mid-batch {len(rows)} {pid}", flush=True)
        sys.stdin.readline()
    print("committed", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        hang(sys.argv[2], int(sys.argv[3]))
