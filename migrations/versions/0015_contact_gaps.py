"""contacts: the party contacted (debtor or third party, with the relation and a keyed hash of the
person's number) and the written notice a letter carried

Revision ID: 0015_contact_gaps
Revises: 0014_creditors
Create Date: 2026-12-07

Existing contacts were all made to the debtor (`party` 'debtor') and carry no notice.
"""
from alembic import op
import sqlalchemy as sa

revision = '0015_contact_gaps'
down_revision = '0014_creditors'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party', sa.String(length=12), server_default='debtor', nullable=False))
        batch_op.add_column(sa.Column('relation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('third_party_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('third_party_requested', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('notice_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_contacts_notice_id'), ['notice_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_contacts_notice_id_notices'), 'notices', ['notice_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contacts_notice_id_notices'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contacts_notice_id'))
        batch_op.drop_column('notice_id')
        batch_op.drop_column('third_party_requested')
        batch_op.drop_column('third_party_key')
        batch_op.drop_column('relation')
        batch_op.drop_column('party')
