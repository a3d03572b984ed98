"""visits, schedule refusals, repayment promises

Revision ID: 0002_visits
Revises: 0001_foundation
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import core.db

revision = '0002_visits'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedule_refusals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('collector_id', sa.String(length=36), nullable=True),
    sa.Column('requested_by', sa.String(length=36), nullable=True),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_refusals'))
    )
    with op.batch_alter_table('schedule_refusals', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_refusals_day_collector', ['local_date', 'collector_id'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('address_id', sa.String(length=36), nullable=False),
    sa.Column('collector_id', sa.String(length=36), nullable=False),
    sa.Column('second_collector_id', sa.String(length=36), nullable=True),
    sa.Column('window_start', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scheduled_by', sa.String(length=36), nullable=False),
    sa.Column('checked_in_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_in_by', sa.String(length=36), nullable=True),
    sa.Column('check_in_device_at', sa.String(length=40), nullable=True),
    sa.Column('check_in_received_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('check_in_lat', sa.Float(), nullable=True),
    sa.Column('check_in_lon', sa.Float(), nullable=True),
    sa.Column('check_in_accuracy_m', sa.Float(), nullable=True),
    sa.Column('check_in_distance_m', sa.Float(), nullable=True),
    sa.Column('within_geofence', sa.Boolean(), nullable=True),
    sa.Column('outside_window', sa.Boolean(), nullable=True),
    sa.Column('clock_skew_s', sa.Float(), nullable=True),
    sa.Column('impossible_travel', sa.Boolean(), nullable=True),
    sa.Column('checked_out_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('check_out_lat', sa.Float(), nullable=True),
    sa.Column('check_out_lon', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=24), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['address_id'], ['addresses.id'], name=op.f('fk_visits_address_id_addresses')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_visits_case_id_cases')),
    sa.ForeignKeyConstraint(['checked_in_by'], ['users.id'], name=op.f('fk_visits_checked_in_by_users')),
    sa.ForeignKeyConstraint(['collector_id'], ['users.id'], name=op.f('fk_visits_collector_id_users')),
    sa.ForeignKeyConstraint(['scheduled_by'], ['users.id'], name=op.f('fk_visits_scheduled_by_users')),
    sa.ForeignKeyConstraint(['second_collector_id'], ['users.id'], name=op.f('fk_visits_second_collector_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_case_window', ['case_id', 'window_start'], unique=False)
        batch_op.create_index('ix_visits_checked_in_by_at', ['checked_in_by', 'checked_in_at'], unique=False)
        batch_op.create_index('ix_visits_collector_day', ['collector_id', 'local_date'], unique=False)
        batch_op.create_index('ix_visits_day', ['local_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_updated_at'), ['updated_at'], unique=False)

    op.create_table('repayment_promises',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('visit_id', sa.String(length=36), nullable=True),
    sa.Column('collector_id', sa.String(length=36), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('due_end_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('made_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_repayment_promises_case_id_cases')),
    sa.ForeignKeyConstraint(['collector_id'], ['users.id'], name=op.f('fk_repayment_promises_collector_id_users')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_repayment_promises_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repayment_promises'))
    )
    with op.batch_alter_table('repayment_promises', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repayment_promises_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_repayment_promises_status_due', ['status', 'due_end_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_repayment_promises_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('repayment_promises', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repayment_promises_updated_at'))
        batch_op.drop_index('ix_repayment_promises_status_due')
        batch_op.drop_index(batch_op.f('ix_repayment_promises_case_id'))
    op.drop_table('repayment_promises')

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_updated_at'))
        batch_op.drop_index(batch_op.f('ix_visits_status'))
        batch_op.drop_index('ix_visits_day')
        batch_op.drop_index('ix_visits_collector_day')
        batch_op.drop_index('ix_visits_checked_in_by_at')
        batch_op.drop_index('ix_visits_case_window')
    op.drop_table('visits')

    with op.batch_alter_table('schedule_refusals', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_refusals_day_collector')
    op.drop_table('schedule_refusals')
