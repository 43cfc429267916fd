"""ledger: resends and body digest, for reconciling unknown outcomes

Revision ID: 0005_ledger_reconcile
Revises: 0004_consent
Create Date: 2026-11-30 03:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ledger_reconcile"
down_revision = "0004_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("resends", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("body_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("body_digest")
        batch.drop_column("resends")
