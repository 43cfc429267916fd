"""scheduled steps carry scope, occurrence, item and the store event's payload

A step is one row per occurrence: per order, per customer or per item, and a repeating step one row per
occurrence key. Every existing row is a once-per-scope step, occurrence '' (the server default), so every
existing ledger key (`j<journey>:<step>:<channel>`, used whenever the occurrence is '') stays as it is:
a database upgraded from 0003 and swept resends nothing.

Revision ID: 0006_occurrences
Revises: 0005_ledger_reconcile
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_occurrences'
down_revision = '0005_ledger_reconcile'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=16), server_default='order', nullable=False))
        batch_op.add_column(sa.Column('occurrence', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('item', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.alter_column('trigger', existing_type=sa.String(length=48), type_=sa.String(length=64),
                              existing_nullable=False)
        batch_op.drop_constraint('uq_scheduled_steps_journey_step', type_='unique')
        batch_op.create_unique_constraint('uq_scheduled_steps_journey_step_occurrence',
                                          ['journey_id', 'step', 'occurrence'])


def downgrade() -> None:
    with op.batch_alter_table('scheduled_steps', schema=None) as batch_op:
        batch_op.drop_constraint('uq_scheduled_steps_journey_step_occurrence', type_='unique')
        batch_op.create_unique_constraint('uq_scheduled_steps_journey_step', ['journey_id', 'step'])
        batch_op.alter_column('trigger', existing_type=sa.String(length=64), type_=sa.String(length=48),
                              existing_nullable=False)
        batch_op.drop_column('payload')
        batch_op.drop_column('item')
        batch_op.drop_column('occurrence')
        batch_op.drop_column('scope')
