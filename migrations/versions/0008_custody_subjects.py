"""custody_events.subject_id: packets, signing keys and verification runs leave evidence_id

Revision ID: 0008_custody_subjects
Revises: 0007_ledger_node_positions
Create Date: 2026-12-06

`evidence_id` named whatever an event was about. From here it names evidence items only, and
`subject_id` the rest: the packet of `packet_built` and of a packet's `downloaded`, the key of
`key_rotated`, the run of a `verified` over a case or everything. The leaf's `evidence_id`
field is filled from whichever column is set, so every stored leaf rebuilds byte for byte.
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_custody_subjects'
down_revision = '0007_ledger_node_positions'
branch_labels = None
depends_on = None

NOT_EVIDENCE = ("type IN ('packet_built', 'key_rotated')"
                " OR (type = 'downloaded' AND evidence_id IN (SELECT id FROM packets))"
                " OR (type = 'verified' AND evidence_id IN (SELECT id FROM verifications))")


def upgrade() -> None:
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.String(length=64), nullable=True))
        batch_op.create_check_constraint(op.f('ck_custody_events_one_subject'),
                                         'evidence_id IS NULL OR subject_id IS NULL')
    op.execute(f'UPDATE custody_events SET subject_id = evidence_id, evidence_id = NULL WHERE {NOT_EVIDENCE}')


def downgrade() -> None:
    op.execute('UPDATE custody_events SET evidence_id = subject_id, subject_id = NULL WHERE subject_id IS NOT NULL')
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_custody_events_one_subject'), type_='check')
        batch_op.drop_column('subject_id')
