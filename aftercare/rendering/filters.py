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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import format_percent
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from aftercare.rendering import formats


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    """The customer's zone; an unknown one is shown as UTC, as decisions treat it, never a failed render."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo("UTC")


def _fmt(context: Context) -> str:
    """The regional locale formats follow (en_GB, ko_KR, ar_SA, pt_BR), else the template's language."""
    return str(context.get("format_locale") or context["lang"])


@pass_context
def money(context: Context, amount: Decimal | int, currency: str) -> str:
    return formats.money(amount, currency, _fmt(context))


@pass_context
def date(context: Context, value: datetime) -> str:
    """A long date in the customer's zone: "28 February 2026", "2026년 3월 1일" (no 2/28/26)."""
    return formats.long_date(value.astimezone(_zone(context["timezone"])).date(), _fmt(context))


@pass_context
def datetime_(context: Context, value: datetime) -> str:
    """A time in the customer's zone, with a long date and the zone named: "March 1, 2026, 12:30 PM EST"."""
    return formats.long_datetime(value.astimezone(_zone(context["timezone"])), _fmt(context))


@pass_context
def number(context: Context, value: int | Decimal) -> str:
    return formats.number(value, _fmt(context))


@pass_context
def country(context: Context, code: str) -> str:
    return formats.country_name(code, _fmt(context))


@pass_context
def percent(context: Context, value: int | Decimal) -> str:
    """A whole percentage (15 -> "15%", "15 %" or "‎15‎%" as the locale writes it)."""
    return format_percent(Decimal(value) / 100, locale=formats.locale(_fmt(context)))


def install(env: Environment) -> None:
    filters: dict[str, Any] = {"money": money, "date": date, "datetime": datetime_, "number": number,
                               "country": country, "percent": percent}
    env.filters.update(filters)
