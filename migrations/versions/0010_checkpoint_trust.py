"""Trust beyond the operator's key: RFC 3161 timestamps and witness cosignatures on checkpoints

Revision ID: 0010_checkpoint_trust
Revises: 0009_visit_cancellation
Create Date: 2026-12-07

A checkpoint's timestamp token and its witnesses' cosignatures arrive after it was signed, so
they live in their own tables; `ledger_witnesses` lists the keys an admin accepts cosignatures from.
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0010_checkpoint_trust'
down_revision = '0009_visit_cancellation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'checkpoint_timestamps',
        sa.Column('checkpoint_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.LargeBinary(), nullable=False),
        sa.Column('tsa', sa.Text(), nullable=False),
        sa.Column('gen_time', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('chain_pem', sa.Text(), nullable=False),
        sa.Column('stamped_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.id'],
                                name=op.f('fk_checkpoint_timestamps_checkpoint_id_checkpoints')),
        sa.PrimaryKeyConstraint('checkpoint_id', name=op.f('pk_checkpoint_timestamps')),
    )
    op.create_table(
        'ledger_witnesses',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('vkey', sa.Text(), nullable=False),
        sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
        sa.Column('registered_by', sa.String(length=36), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_ledger_witnesses')),
    )
    op.create_table(
        'checkpoint_cosignatures',
        sa.Column('checkpoint_id', sa.Integer(), nullable=False),
        sa.Column('witness', sa.String(length=255), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('line', sa.Text(), nullable=False),
        sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.id'],
                                name=op.f('fk_checkpoint_cosignatures_checkpoint_id_checkpoints')),
        sa.ForeignKeyConstraint(['witness'], ['ledger_witnesses.name'],
                                name=op.f('fk_checkpoint_cosignatures_witness_ledger_witnesses')),
        sa.PrimaryKeyConstraint('checkpoint_id', 'witness', name=op.f('pk_checkpoint_cosignatures')),
    )


def downgrade() -> None:
    op.drop_table('checkpoint_cosignatures')
    op.drop_table('ledger_witnesses')
    op.drop_table('checkpoint_timestamps')
