"""visits: cancellation (when, by whom, why); rescheduling changes the window in place

Revision ID: 0009_visit_cancellation
Revises: 0008_custody_subjects
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0009_visit_cancellation'
down_revision = '0008_custody_subjects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_visits_cancelled_by_users'), 'users', ['cancelled_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_visits_cancelled_by_users'), type_='foreignkey')
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_by')
        batch_op.drop_column('cancelled_at')
