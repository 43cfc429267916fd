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

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, drop, rename) to change its constraints; with foreign keys on,
        # dropping a table other rows point at fails. Off for the migration (outside any transaction, or
        # SQLite ignores it), checked afterwards, and on again.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
