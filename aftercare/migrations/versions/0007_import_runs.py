"""import_runs: the checkpoint of a history import, so a re-run after a crash continues where it stopped

Revision ID: 0007_import_runs
Revises: 0006_occurrences
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftercare.db.types

revision = '0007_import_runs'
down_revision = '0006_occurrences'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('started_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', aftercare.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_runs_key'), ['key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_runs_key'))
    op.drop_table('import_runs')
