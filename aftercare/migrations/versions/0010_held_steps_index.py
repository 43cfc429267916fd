"""an index of the steps held under a lease, for the claim's check that a customer is free

The claim skips a step while another step of its customer is held by another batch (`NOT EXISTS` over
pending steps with a live lease). Without an index on the leases, Postgres answered that by reading the
whole `scheduled_steps` table once per claim: 250 ms per claim at a million pending steps, growing with
every step not yet due. This partial index holds only pending steps that were ever claimed, so the check
reads the few live leases whatever the table's size.

Revision ID: 0010_held_steps
Revises: 0009_promise_catalog
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_held_steps'
down_revision = '0009_promise_catalog'
branch_labels = None
depends_on = None

_HELD = "status = 'pending' AND claimed_until IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_scheduled_steps_held', 'scheduled_steps', ['customer_id', 'claimed_until'],
                    unique=False, postgresql_where=sa.text(_HELD), sqlite_where=sa.text(_HELD))


def downgrade() -> None:
    op.drop_index('ix_scheduled_steps_held', table_name='scheduled_steps')
