"""ledger_nodes keyed by position ((last leaf) * 64 + level): an append's nodes are neighbours

Revision ID: 0007_ledger_node_positions
Revises: 0006_verification_resume
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_ledger_node_positions'
down_revision = '0006_verification_resume'
branch_labels = None
depends_on = None

# BIGINT first: on PostgreSQL the integer columns would overflow past 2^25 leaves
POSITION = "(((CAST(node_index AS BIGINT) + 1) << level) - 1) * 64 + level"


def _set_aside(name: str) -> None:
    """Rename the old table (and, on PostgreSQL, its key's name, which the new table takes)."""
    op.rename_table('ledger_nodes', name)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE {name} RENAME CONSTRAINT pk_ledger_nodes TO pk_{name}')


def upgrade() -> None:
    _set_aside('ledger_nodes_0006')
    op.create_table('ledger_nodes',
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('node_index', sa.Integer(), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint(f'position = {POSITION}', name=op.f('ck_ledger_nodes_position')),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_ledger_nodes'))
    )
    # in written order, so the new B-tree is filled from the left as appends will go on filling it
    op.execute(f'INSERT INTO ledger_nodes (position, level, node_index, hash) '
               f'SELECT {POSITION}, level, node_index, hash FROM ledger_nodes_0006 ORDER BY 1')
    op.drop_table('ledger_nodes_0006')


def downgrade() -> None:
    _set_aside('ledger_nodes_0007')
    op.create_table('ledger_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('node_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'node_index', name=op.f('pk_ledger_nodes'))
    )
    op.execute('INSERT INTO ledger_nodes (level, node_index, hash) SELECT level, node_index, hash FROM ledger_nodes_0007')
    op.drop_table('ledger_nodes_0007')
