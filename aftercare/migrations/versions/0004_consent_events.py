"""consent_events: the append-only history of consent statements

Every existing current-state row becomes one statement, so the history is never empty where a consent
exists: its source is mapped from the old free-text source, stamped at the old recorded_at. A platform row
carried over is an echo (it was stamped with our receipt time, not the platform's), and a START row an
import (before the history, START granted outright; it is kept, never re-derived from a STOP we no longer
know the before of).

Revision ID: 0004_consent
Revises: 0003_inbox_warnings
Create Date: 2026-11-30 03:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftercare.db.types

revision = '0004_consent'
down_revision = '0003_inbox_warnings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('detail', sa.String(length=64), nullable=False),
    sa.Column('explicit', sa.Boolean(), nullable=False),
    sa.Column('stated_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text_version', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_consent_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_customer', ['customer_id', 'channel', 'purpose'], unique=False)

    consents = sa.table('consents', sa.column('customer_id'), sa.column('channel'), sa.column('purpose'),
                        sa.column('granted', sa.Boolean()), sa.column('source', sa.String()),
                        sa.column('recorded_at'))
    events = sa.table('consent_events', sa.column('customer_id'), sa.column('channel'), sa.column('purpose'),
                      sa.column('granted'), sa.column('source'), sa.column('detail'), sa.column('explicit'),
                      sa.column('stated_at'), sa.column('received_at'))
    old = consents.c.source
    kind = sa.case(
        (old == 'shopify', 'platform'),
        (old == 'checkout', 'checkout'),
        (old == 'link:preferences', 'preferences_page'),
        (old.like('link:%') | old.like('email:unsub%'), 'unsubscribe_link'),
        (old == 'sendgrid:spamreport', 'complaint'),
        (old.like('sendgrid:%'), 'email_provider'),
        (old.like('sms:%') & sa.not_(consents.c.granted), 'sms_keyword'),
        (old.like('provider:%') & sa.not_(consents.c.granted), 'carrier_opt_out'),
        else_='import',
    )
    explicit = sa.case((old == 'shopify', sa.false()), else_=sa.true())
    op.execute(events.insert().from_select(
        ['customer_id', 'channel', 'purpose', 'granted', 'source', 'detail', 'explicit', 'stated_at',
         'received_at'],
        sa.select(consents.c.customer_id, consents.c.channel, consents.c.purpose, consents.c.granted, kind,
                  sa.func.substr(old, 1, 64), explicit, consents.c.recorded_at, consents.c.recorded_at),
    ))


def downgrade() -> None:
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_events_customer')
    op.drop_table('consent_events')
