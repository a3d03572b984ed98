"""contacts: calls, SMS, e-mail and letters; refused attempts for the reports; each case's plan of next actions

Revision ID: 0012_contacts
Revises: 0011_notices
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0012_contacts'
down_revision = '0011_notices'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact_refusals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('collector_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_refusals'))
    )
    with op.batch_alter_table('contact_refusals', schema=None) as batch_op:
        batch_op.create_index('ix_contact_refusals_at', ['at'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('collector_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('at_text', sa.String(length=40), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('duration_s', sa.Integer(), nullable=True),
    sa.Column('number_masked', sa.String(length=64), nullable=True),
    sa.Column('recording_consent', sa.String(length=16), nullable=True),
    sa.Column('template', sa.String(length=64), nullable=True),
    sa.Column('letter_method', sa.String(length=8), nullable=True),
    sa.Column('tracking', sa.String(length=64), nullable=True),
    sa.Column('opt_out', sa.Boolean(), nullable=False),
    sa.Column('text_sha256', sa.String(length=64), nullable=True),
    sa.Column('text_size', sa.Integer(), nullable=True),
    sa.Column('storage_backend', sa.String(length=16), nullable=True),
    sa.Column('storage_key', sa.String(length=300), nullable=True),
    sa.Column('custody_event_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_contacts_case_id_cases')),
    sa.ForeignKeyConstraint(['collector_id'], ['users.id'], name=op.f('fk_contacts_collector_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_case_at', ['case_id', 'at'], unique=False)
        batch_op.create_index('ix_contacts_collector_at', ['collector_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_updated_at'), ['updated_at'], unique=False)

    op.create_table('plan_actions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('not_before', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('done_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('edited_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_plan_actions_case_id_cases')),
    sa.ForeignKeyConstraint(['edited_by'], ['users.id'], name=op.f('fk_plan_actions_edited_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_actions'))
    )
    with op.batch_alter_table('plan_actions', schema=None) as batch_op:
        batch_op.create_index('ix_plan_actions_case_position', ['case_id', 'position'], unique=False)
        batch_op.create_index('ix_plan_actions_status_due', ['status', 'due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_actions_updated_at'), ['updated_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('plan_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_actions_updated_at'))
        batch_op.drop_index('ix_plan_actions_status_due')
        batch_op.drop_index('ix_plan_actions_case_position')

    op.drop_table('plan_actions')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_updated_at'))
        batch_op.drop_index('ix_contacts_collector_at')
        batch_op.drop_index('ix_contacts_case_at')

    op.drop_table('contacts')
    with op.batch_alter_table('contact_refusals', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_refusals_at')

    op.drop_table('contact_refusals')
