"""Fitting outside text into our columns, with the lengths read from the models (never a second copy).

A cosmetic field (a first name, an order's display name, a locale, a line's title) that is longer than its
column, or holds a NUL character, must never cost a whole order: Postgres refuses the row, and the order,
its confirmation and its journey would be lost for a name. Mappers fit such fields here and say which ones
they changed, so the caller can record a warning beside the raw body the inbox already keeps.
"""

from __future__ import annotations

from typing import Any


def max_length(column: Any) -> int | None:
    """The declared length of a mapped string column (`Customer.first_name` -> 120); None when unbounded."""
    length = getattr(column.property.columns[0].type, "length", None)
    return int(length) if length is not None else None


def clip(value: str | None, column: Any) -> str | None:
    """`value` storable in the column, for a raw value kept only for reference (an unparseable phone)."""
    return fit(value, column, "", []) if value is not None else None


def fit(value: str, column: Any, field: str, notes: list[str]) -> str:
    """`value` made storable in the column: NUL characters removed (Postgres text cannot hold them) and cut to
    the column's length; each change is named in `notes` (`<field>_nul_removed`, `<field>_truncated`)."""
    if "\x00" in value:
        notes.append(f"{field}_nul_removed")
        value = value.replace("\x00", "")
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
