"""Fitting outside text into our columns, with the lengths read from the models (never a second copy).

A cosmetic field (a first name, an order's display name, a locale, a line's title) that is longer than its
column must never cost a whole order: Postgres refuses the row, and the order, its confirmation and its
journey would be lost for a name. Mappers fit such fields here and say which ones they changed, so the
caller can record a warning beside the raw body the inbox already keeps.
"""

from __future__ import annotations

from typing import Any


def max_length(column: Any) -> int | None:
    """The declared length of a mapped string column (`Customer.first_name` -> 120); None when unbounded."""
    length = getattr(column.property.columns[0].type, "length", None)
    return int(length) if length is not None else None


def clip(value: str | None, column: Any) -> str | None:
    """`value` cut to the column's length, for a raw value kept only for reference (an unparseable phone)."""
    limit = max_length(column)
    return value[:limit] if value is not None and limit is not None else value


def fit(value: str, column: Any, field: str, notes: list[str]) -> str:
    """`value` cut to the column's length; when cut, `<field>_truncated` is added to `notes`."""
    limit = max_length(column)
    if limit is None or len(value) <= limit:
        return value
    notes.append(f"{field}_truncated")
    return value[:limit]


def fit_or_drop(value: str | None, column: Any, field: str, notes: list[str]) -> str | None:
    """For a value a cut would break (a URL): kept whole, or dropped with `<field>_dropped` in `notes`."""
    limit = max_length(column)
    if value is None or limit is None or len(value) <= limit:
        return value
    notes.append(f"{field}_dropped")
    return None
