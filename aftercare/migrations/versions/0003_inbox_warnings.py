"""inbox warnings: what applying an event had to change (a cosmetic field cut to fit, a link dropped)

Revision ID: 0003_inbox_warnings
Revises: 0002
Create Date: 2026-11-30 03:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_inbox_warnings'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('warnings')
