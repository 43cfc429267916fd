"""products carry a use cycle (days one unit lasts), for the replenishment reminder, and whether they are in
stock (an out-of-stock product is never cross-sold)

Revision ID: 0008_product_use_cycle
Revises: 0007_import_runs
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_product_use_cycle'
down_revision = '0007_import_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('use_cycle_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('in_stock', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('in_stock')
        batch_op.drop_column('use_cycle_days')
