"""packets: court-filing packet builds, one row per version

Revision ID: 0005_packets
Revises: 0004_evidence
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0005_packets'
down_revision = '0004_evidence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('packets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('bates_prefix', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('exhibits_total', sa.Integer(), nullable=False),
    sa.Column('exhibits_done', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=36), nullable=False),
    sa.Column('evidence_ids', sa.JSON(), nullable=True),
    sa.Column('consent_overrides', sa.JSON(), nullable=False),
    sa.Column('exhibits', sa.JSON(), nullable=False),
    sa.Column('withheld', sa.JSON(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('volumes', sa.JSON(), nullable=False),
    sa.Column('bundle_sha256', sa.String(length=64), nullable=True),
    sa.Column('bundle_size', sa.BigInteger(), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('checkpoint_tree_size', sa.Integer(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_packets_case_id_cases')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_packets_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_packets')),
    sa.UniqueConstraint('case_id', 'version', name='uq_packets_case_id_version')
    )
    with op.batch_alter_table('packets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_packets_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_packets_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('packets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_packets_updated_at'))
        batch_op.drop_index(batch_op.f('ix_packets_case_id'))
    op.drop_table('packets')
