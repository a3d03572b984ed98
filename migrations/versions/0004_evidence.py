"""evidence

Revision ID: 0004_evidence
Revises: 0003_ledger
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0004_evidence'
down_revision = '0003_ledger'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('visit_id', sa.String(length=36), nullable=False),
    sa.Column('collector_id', sa.String(length=36), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rejection', sa.String(length=40), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_md5', sa.String(length=24), nullable=True),
    sa.Column('media_type', sa.String(length=64), nullable=True),
    sa.Column('storage_backend', sa.String(length=16), nullable=True),
    sa.Column('storage_key', sa.String(length=200), nullable=True),
    sa.Column('captured_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('captured_at_device', sa.String(length=40), nullable=False),
    sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sealed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('device_id', sa.String(length=36), nullable=True),
    sa.Column('device_signature', sa.String(length=100), nullable=True),
    sa.Column('signature_status', sa.String(length=16), nullable=False),
    sa.Column('consent_subject', sa.String(length=16), nullable=True),
    sa.Column('third_parties_present', sa.Boolean(), nullable=True),
    sa.Column('exif', sa.JSON(), nullable=True),
    sa.Column('presence_flags', sa.JSON(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('thumbnail_sha256', sa.String(length=64), nullable=True),
    sa.Column('thumbnail_size', sa.Integer(), nullable=True),
    sa.Column('derived_from', sa.String(length=36), nullable=True),
    sa.Column('redaction_regions', sa.JSON(), nullable=True),
    sa.Column('redaction_mode', sa.String(length=8), nullable=True),
    sa.Column('redaction_reason', sa.Text(), nullable=True),
    sa.Column('legal_hold', sa.Boolean(), nullable=False),
    sa.Column('retain_until', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_evidence_items_case_id_cases')),
    sa.ForeignKeyConstraint(['collector_id'], ['users.id'], name=op.f('fk_evidence_items_collector_id_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_evidence_items_created_by_users')),
    sa.ForeignKeyConstraint(['derived_from'], ['evidence_items.id'], name=op.f('fk_evidence_items_derived_from_evidence_items')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_evidence_items_device_id_devices')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_evidence_items_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_items'))
    )
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_items_case_updated', ['case_id', 'updated_at'], unique=False)
        batch_op.create_index('ix_evidence_items_derived_from', ['derived_from'], unique=False)
        batch_op.create_index('ix_evidence_items_sha256', ['sha256'], unique=False)
        batch_op.create_index('ix_evidence_items_status_received', ['status', 'received_at'], unique=False)
        batch_op.create_index('ix_evidence_items_thumbnail_sha256', ['thumbnail_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_items_updated_at'), ['updated_at'], unique=False)
        batch_op.create_index('ix_evidence_items_visit_received', ['visit_id', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_items_visit_received')
        batch_op.drop_index(batch_op.f('ix_evidence_items_updated_at'))
        batch_op.drop_index('ix_evidence_items_thumbnail_sha256')
        batch_op.drop_index('ix_evidence_items_status_received')
        batch_op.drop_index('ix_evidence_items_sha256')
        batch_op.drop_index('ix_evidence_items_derived_from')
        batch_op.drop_index('ix_evidence_items_case_updated')

    op.drop_table('evidence_items')
