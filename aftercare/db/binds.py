"""Binding lists of ids: the batch queries' one shared shape, tuned per dialect.

On Postgres an id list is one bound array (`= ANY(:ids)`), which the driver and the server parse once
whatever the batch size; elsewhere an expanding `IN`. Statements built with `in_param` are built once
and reused for every batch (building a SQLAlchemy statement costs more than running it on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def member_of(column: Any, values: Sequence[Any], dialect: str) -> Any:
    """`column IN (values)`; on Postgres `column = ANY(:array)` with the values bound as one array."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type), unique=True))
    return column.in_(values)


def in_param(column: Any, name: str, dialect: str) -> Any:
    """`column IN (:name)` as a reusable statement parameter; `column = ANY(:name)` on Postgres."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
