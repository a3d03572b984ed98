"""verifications: the published tiles mirror as a run of scope all found it

Revision ID: 0016_verification_mirror
Revises: 0015_contact_gaps
Create Date: 2026-12-07

Runs before this kept no mirror (none was checked): the column is null for them.
"""
from alembic import op
import sqlalchemy as sa

revision = '0016_verification_mirror'
down_revision = '0015_contact_gaps'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mirror', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_column('mirror')
