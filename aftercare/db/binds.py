"""Binding lists of ids: the batch queries' one shared shape, tuned per dialect.

On Postgres an id list is one bound array (`= ANY(:ids)`), which the driver and the server parse once
whatever the batch size. On SQLite it is one bound JSON text read by `json_each`
(`IN (SELECT value FROM json_each(:ids))`): SQLite probes the column's index once per value, as for a
written-out `IN (?, ?, ...)`, but SQLAlchemy renders no placeholder per value at every execution (for a
batch of 500 that rendering cost more than the query). Other dialects get an expanding `IN`. Statements
built with `in_param` are built once and reused for every batch (building a SQLAlchemy statement costs more
than running it on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, any_, bindparam, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.functions import func
from sqlalchemy.types import TypeDecorator


class JsonList(TypeDecorator[Sequence[Any]]):
    """A list of ids (ints or strings) bound as one JSON array text, for SQLite's `json_each`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Iterable[Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value if isinstance(value, list | tuple) else list(value))


def _json_members(param: Any) -> Any:
    return select(literal_column("value")).select_from(func.json_each(param)).scalar_subquery()


def member_of(column: Any, values: Sequence[Any], dialect: str) -> Any:
    """`column IN (values)`; on Postgres `column = ANY(:array)` with the values bound as one array, on SQLite
    `column IN (SELECT value FROM json_each(:json))`."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type), unique=True))
    if dialect == "sqlite":
        return column.in_(_json_members(bindparam(None, list(values), type_=JsonList(), unique=True)))
    return column.in_(values)


def in_param(column: Any, name: str, dialect: str) -> Any:
    """`column IN (:name)` as a reusable statement parameter; `column = ANY(:name)` on Postgres,
    `column IN (SELECT value FROM json_each(:name))` on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    if dialect == "sqlite":
        return column.in_(_json_members(bindparam(name, type_=JsonList())))
    return column.in_(bindparam(name, expanding=True))
