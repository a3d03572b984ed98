"""Creditors, their portfolios and users' grants; every case belongs to one portfolio

Revision ID: 0014_creditors
Revises: 0013_queued_leaves
Create Date: 2026-12-07

Existing data moves into one default creditor ("DEFAULT") with one portfolio, and every existing
user is granted it, so nobody loses sight of a case they could see before.
"""
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

import core.db

revision = '0014_creditors'
down_revision = '0013_queued_leaves'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('creditors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creditors')),
    sa.UniqueConstraint('code', name=op.f('uq_creditors_code'))
    )
    with op.batch_alter_table('creditors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_creditors_updated_at'), ['updated_at'], unique=False)

    op.create_table('creditor_grants',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('creditor_id', sa.String(length=36), nullable=False),
    sa.Column('granted_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditors.id'], name=op.f('fk_creditor_grants_creditor_id_creditors')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_creditor_grants_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'creditor_id', name=op.f('pk_creditor_grants'))
    )
    with op.batch_alter_table('creditor_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_creditor_grants_creditor_id'), ['creditor_id'], unique=False)

    op.create_table('portfolios',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('creditor_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditors.id'], name=op.f('fk_portfolios_creditor_id_creditors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portfolios')),
    sa.UniqueConstraint('creditor_id', 'code', name=op.f('uq_portfolios_creditor_id'))
    )
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolios_creditor_id'), ['creditor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portfolios_updated_at'), ['updated_at'], unique=False)

    now = datetime.now(timezone.utc)
    creditor_id, portfolio_id = str(uuid.uuid4()), str(uuid.uuid4())
    creditors = sa.table('creditors', sa.column('id'), sa.column('code'), sa.column('name'),
                         sa.column('created_at', core.db.UTCDateTime(timezone=True)),
                         sa.column('updated_at', core.db.UTCDateTime(timezone=True)))
    portfolios = sa.table('portfolios', sa.column('id'), sa.column('creditor_id'), sa.column('code'),
                          sa.column('name'), sa.column('created_at', core.db.UTCDateTime(timezone=True)),
                          sa.column('updated_at', core.db.UTCDateTime(timezone=True)))
    op.bulk_insert(creditors, [{'id': creditor_id, 'code': 'DEFAULT', 'name': 'Default creditor',
                                'created_at': now, 'updated_at': now}])
    op.bulk_insert(portfolios, [{'id': portfolio_id, 'creditor_id': creditor_id, 'code': 'DEFAULT',
                                 'name': 'Default portfolio', 'created_at': now, 'updated_at': now}])
    grants = sa.table('creditor_grants', sa.column('user_id'), sa.column('creditor_id'),
                      sa.column('granted_at', core.db.UTCDateTime(timezone=True)))
    users = sa.table('users', sa.column('id'))
    op.execute(grants.insert().from_select(
        ['user_id', 'creditor_id', 'granted_at'],
        sa.select(users.c.id, sa.literal(creditor_id), sa.literal(now, core.db.UTCDateTime(timezone=True)))))

    # Not through a batch rebuild: on SQLite that drops and recreates `cases`, which the tables
    # referring to it forbid once they hold rows. NOT NULL is the services' to keep (a case is only
    # ever created into a portfolio): SQLite cannot add a NOT NULL column without rebuilding.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE cases ADD COLUMN portfolio_id VARCHAR(36) '
                   'CONSTRAINT fk_cases_portfolio_id_portfolios REFERENCES portfolios (id)')
    else:
        op.add_column('cases', sa.Column('portfolio_id', sa.String(length=36), nullable=True))
        op.create_foreign_key(op.f('fk_cases_portfolio_id_portfolios'), 'cases', 'portfolios',
                              ['portfolio_id'], ['id'])
    op.create_index(op.f('ix_cases_portfolio_id'), 'cases', ['portfolio_id'], unique=False)

    op.create_table('placements',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('portfolio_id', sa.String(length=36), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_kind', sa.String(length=8), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('column_map', sa.JSON(), nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('requested_by', sa.String(length=36), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'], name=op.f('fk_placements_portfolio_id_portfolios')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_placements_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placements'))
    )
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placements_portfolio_id'), ['portfolio_id'], unique=False)
    op.execute(sa.table('cases', sa.column('portfolio_id')).update().values(portfolio_id=portfolio_id))


def downgrade() -> None:
    op.drop_index(op.f('ix_cases_portfolio_id'), table_name='cases')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_cases_portfolio_id_portfolios'), 'cases', type_='foreignkey')
    op.execute('ALTER TABLE cases DROP COLUMN portfolio_id')
    op.drop_table('placements')
    op.drop_table('portfolios')
    op.drop_table('creditor_grants')
    op.drop_table('creditors')
