"""release review requests waiting for a recovery case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 03:25:00

Data only. The review request of a customer who answered CSAT 1-2 used to wait (status `waiting`) until their
recovery case was resolved, forever if nobody resolved it (issue 11 item 19). The decision now defers it until
the case resolves or the recovery window ends, so such rows become `pending` again and are decided afresh by the
next sweep: asked if the window is over and the request is inside its own expiry, else deferred or skipped as
expired (never sent stale). Downgrading leaves them pending: the old code decides them again the old way.
"""
from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE scheduled_steps SET status = 'pending', claimed_by = NULL, claimed_until = NULL "
        "WHERE status = 'waiting' AND last_reason = 'awaiting_service_recovery'"
    )


def downgrade() -> None:
    pass
