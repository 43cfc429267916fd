"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python; naive UTC on SQLite, timestamptz on Postgres.

    SQLite has no time zones and hands back naive datetimes; without this, comparing a loaded due time
    with `clock.now()` would raise or, worse, silently compare local times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """One function per value instead of three (the dialect's parse, SQLAlchemy's wrapper, ours): a batch
        reads a few thousand of these, and the call layers cost more than the parsing.

        On SQLite the text is parsed by `datetime.fromisoformat`, as SQLAlchemy's SQLite DATETIME does; a value
        that is not text (a number written by hand) takes the general path. Where the driver hands back
        datetimes (Postgres) only the conversion to UTC is left. Same values as `process_result_value`."""
        general = super().result_processor(dialect, coltype)
        inner = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name == "sqlite" and general is not None and inner is not None:
            parse = datetime.fromisoformat

            def from_text(value: Any) -> datetime | None:
                if value is None:
                    return None
                if value.__class__ is not str:
                    return general(value)
                parsed = parse(value)
                return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

            return from_text
        if inner is None:
            def to_utc(value: Any) -> datetime | None:
                if value is None:
                    return None
                return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

            return to_utc
        return general
