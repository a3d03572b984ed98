"""verifications: a lease (runner, heartbeat) so runs lost with their process are re-submitted,
and the checkpoints an auditor kept and asked the run to check

Revision ID: 0006_verification_resume
Revises: 0005_packets
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0006_verification_resume'
down_revision = '0005_packets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kept_checkpoints', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('runner', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_verifications_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verifications_status'))
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('runner')
        batch_op.drop_column('kept_checkpoints')
