"""Jinja filters that show money, dates and numbers the way the customer reads them.

They take the locale and time zone from the render context (`lang`, `timezone`), not from arguments,
so a template cannot forget them and one shared `Environment` serves every customer. Times are stored
in UTC; customers see them in their own zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, pass_context
from jinja2.runtime import Context


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    """Parsed once per locale: Babel parses a locale string anew on every call otherwise, which was most
    of the cost of rendering a message."""
    return Locale.parse(name)


def _lang(context: Context) -> Locale:
    return _locale(str(context["lang"]))


@pass_context
def money(context: Context, amount: Decimal | int, currency: str) -> str:
    return format_currency(amount, currency, locale=_lang(context))


@pass_context
def date(context: Context, value: datetime) -> str:
    local = value.astimezone(_zone(context["timezone"]))
    return format_date(local, format="medium", locale=_lang(context))


@pass_context
def datetime_(context: Context, value: datetime) -> str:
    return format_datetime(value, format="short", tzinfo=_zone(context["timezone"]), locale=_lang(context))


@pass_context
def number(context: Context, value: int | Decimal) -> str:
    return format_decimal(value, locale=_lang(context))


def install(env: Environment) -> None:
    filters: dict[str, Any] = {"money": money, "date": date, "datetime": datetime_, "number": number}
    env.filters.update(filters)
