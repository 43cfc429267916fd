"""the promise known at order time, a catalog that fills itself, and the order page's requests

orders: `promised_at` (the promised day's start in the customer's zone), `estimated_at` and
`promise_revised_at` (a later estimate, and when it arrived). products: image, review URL, the
per-locale texts from metafields, the platform's update time and a deletion mark. order_requests: what a
customer asked for on the order page (a problem report or a cancellation).

Revision ID: 0009_promise_catalog
Revises: 0008_product_use_cycle
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftercare.db.types

revision = '0009_promise_catalog'
down_revision = '0008_product_use_cycle'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promised_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('estimated_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('promise_revised_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('review_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('localized', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'order_requests',
        sa.Column('id', Id, nullable=False),
        sa.Column('order_id', Id, nullable=False),
        sa.Column('customer_id', Id, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('topic', sa.String(length=32), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('created_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name='fk_order_requests_customer_id_customers'),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_order_requests_order_id_orders'),
        sa.PrimaryKeyConstraint('id', name='pk_order_requests'),
    )
    op.create_index('ix_order_requests_order_id', 'order_requests', ['order_id'])


def downgrade() -> None:
    op.drop_index('ix_order_requests_order_id', table_name='order_requests')
    op.drop_table('order_requests')
    with op.batch_alter_table('products', schema=None) as batch_op:
        for name in ('deleted_at', 'updated_at', 'localized', 'review_url', 'image_url'):
            batch_op.drop_column(name)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name in ('promise_revised_at', 'estimated_at', 'promised_at'):
            batch_op.drop_column(name)
