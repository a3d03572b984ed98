"""notices: written notices issued from templates, each a sealed evidence item without a visit

Revision ID: 0011_notices
Revises: 0010_checkpoint_trust
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0011_notices'
down_revision = '0010_checkpoint_trust'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.alter_column('visit_id', existing_type=sa.String(length=36), nullable=True)
    op.create_table('notices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('template', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('jurisdiction', sa.String(length=8), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('mailed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mailing_date', sa.Date(), nullable=False),
    sa.Column('assumed_receipt', sa.Date(), nullable=True),
    sa.Column('validation_end', sa.Date(), nullable=True),
    sa.Column('respond_by', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('itemization', sa.JSON(), nullable=False),
    sa.Column('evidence_id', sa.String(length=36), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('issued_by', sa.String(length=36), nullable=False),
    sa.Column('issued_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notices_case_id_cases')),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence_items.id'], name=op.f('fk_notices_evidence_id_evidence_items')),
    sa.ForeignKeyConstraint(['issued_by'], ['users.id'], name=op.f('fk_notices_issued_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('case_id', 'content_key', name='uq_notices_case_id_content_key')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_updated_at'))
        batch_op.drop_index(batch_op.f('ix_notices_case_id'))
    op.drop_table('notices')
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.alter_column('visit_id', existing_type=sa.String(length=36), nullable=False)
