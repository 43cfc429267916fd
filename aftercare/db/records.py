"""Result rows as plain named tuples, for the sweep's hot path.

A SQLAlchemy `Row` answers `row.name` through its key lookup, about ten times slower than a named tuple's
attribute; a sweep reads each loaded customer, order and step row dozens of times (decisions, contexts,
ledger rows), so the batch's rows are turned into named tuples once, as they are fetched. The fields are
the statement's column names, so `row.name` code reads either.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from functools import lru_cache
from itertools import repeat
from typing import Any

_new = tuple.__new__


@lru_cache(maxsize=256)
def record_type(fields: tuple[str, ...]) -> type[tuple[Any, ...]]:
    """The named tuple type for a statement's columns (one per distinct column list)."""
    return namedtuple("Record", fields)  # type: ignore[misc]


def records(result: Any) -> list[Any]:
    """Every row of a SQLAlchemy result, as named tuples with the result's column names as fields.

    The rows are fetched at once (`fetchall`): iterating a result fetches one row per driver call, which
    psycopg answers in Python."""
    return as_records(tuple(result.keys()), result.all())


def as_records(fields: tuple[str, ...], rows: Iterable[Any]) -> list[Any]:
    """`rows` (tuples or Rows, in the order of `fields`) as named tuples with those fields."""
    return list(map(_new, repeat(record_type(fields)), rows))
