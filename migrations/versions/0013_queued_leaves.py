"""custody_queue: events recorded without the head lock, integrated by a sequencer in batches

Revision ID: 0013_queued_leaves
Revises: 0012_contacts
Create Date: 2026-12-07

A request queues its custody events; a sequencer batch gives them consecutive indexes and
moves them into `custody_events` (which gains the event's id and when it was queued and
integrated). Leaves, the prev_leaf_hash chain and the stored nodes are untouched: every stored
leaf rebuilds byte for byte. Events already in the log get an id here, so every event has one.
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0013_queued_leaves'
down_revision = '0012_contacts'
branch_labels = None
depends_on = None

# 36 characters of random hex in the 8-4-4-4-12 shape of a UUID, on either database
_SQLITE_ID = ("lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(2)))"
              " || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(6)))")
_PG_ID = "md5(random()::text || clock_timestamp()::text || ledger_index::text)::uuid::text"


def upgrade() -> None:
    op.create_table('custody_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('evidence_id', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('queued_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('evidence_id IS NULL OR subject_id IS NULL', name=op.f('ck_custody_queue_one_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custody_queue')),
    sa.UniqueConstraint('event_id', name=op.f('uq_custody_queue_event_id'))
    )
    with op.batch_alter_table('custody_queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custody_queue_evidence_id'), ['evidence_id'], unique=False)
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('queued_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('integrated_at', core.db.UTCDateTime(timezone=True), nullable=True))
    identity = _PG_ID if op.get_bind().dialect.name == 'postgresql' else _SQLITE_ID
    op.execute(f'UPDATE custody_events SET event_id = {identity}')
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_custody_events_event_id'), ['event_id'])


def downgrade() -> None:
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_custody_events_event_id'), type_='unique')
        batch_op.drop_column('integrated_at')
        batch_op.drop_column('queued_at')
        batch_op.drop_column('event_id')
    with op.batch_alter_table('custody_queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custody_queue_evidence_id'))
    op.drop_table('custody_queue')
