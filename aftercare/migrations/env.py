"""Alembic environment: runs against the engine handed over by `aftercare.db.engine.migrate`, or the
database named by settings when invoked from the alembic command line."""

from __future__ import annotations

from alembic import context

from aftercare.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from aftercare.db.engine import make_engine
    from aftercare.settings import get_settings

    engine = make_engine(get_settings().resolved_database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
