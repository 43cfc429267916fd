"""The cached formats must write exactly what Babel writes, for any value, in every locale we ship and
in locales whose patterns differ (suffix symbols, other separators, uneven grouping, 0 or 3 decimals)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.rendering import formats

LOCALES = ["en", "ko", "ar", "de", "fr", "hi", "ja", "pt_BR", "de_CH", "sv"]
CURRENCIES = ["USD", "EUR", "KRW", "SAR", "JPY", "BHD", "INR", "CHF"]

amounts = st.one_of(
    st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, allow_infinity=False, places=4),
    st.integers(min_value=-10**12, max_value=10**12),
    st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0.005"), Decimal("0.015"), Decimal("2.5"),
                     Decimal("1E+3"), Decimal("999999.995"), Decimal("-0.004")]),
)


@settings(max_examples=400, deadline=None)
@given(amounts, st.sampled_from(CURRENCIES), st.sampled_from(LOCALES))
def test_money_matches_babel(value: Decimal | int, currency: str, lang: str) -> None:
    assert formats.money(value, currency, lang) == format_currency(value, currency, locale=lang)


@settings(max_examples=400, deadline=None)
@given(amounts, st.sampled_from(LOCALES))
def test_number_matches_babel(value: Decimal | int, lang: str) -> None:
    assert formats.number(value, lang) == format_decimal(value, locale=lang)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)), st.sampled_from(LOCALES))
def test_dates_match_babel(moment: datetime, lang: str) -> None:
    local = moment.replace(tzinfo=UTC)
    assert formats.medium_date(local.date(), lang) == format_date(local, format="medium", locale=lang)
    assert formats.short_datetime(local, lang) == format_datetime(local, format="short", locale=lang)


def test_uneven_grouping_goes_to_babel() -> None:
    """India's lakh grouping (12,34,567) is not the fast path's: it must still come out as Babel writes it."""
    assert formats.number(1234567, "hi") == "12,34,567"
    assert formats.money(Decimal("1234567.5"), "INR", "hi") == format_currency(Decimal("1234567.5"), "INR", locale="hi")


@pytest.mark.parametrize("lang", ["en", "ko", "ar"])
def test_every_minute_of_a_day(lang: str) -> None:
    start = datetime(2026, 3, 8, 0, 0, tzinfo=UTC)
    for minute in range(0, 24 * 60, 7):
        moment = start + timedelta(minutes=minute)
        assert formats.short_datetime(moment, lang) == format_datetime(moment, format="short", locale=lang)


@pytest.mark.parametrize("lang", ["en", "ko", "ar"])
def test_the_locales_we_ship_take_the_fast_path(lang: str) -> None:
    """The speed-up is real for our own locales: their formats compile and agree with Babel's probes."""
    assert formats._decimal_format(lang) is not None
    assert all(formats._money_format(lang, currency) is not None for currency in ("USD", "EUR", "KRW", "SAR"))


def test_a_compiled_format_that_disagrees_with_babel_is_not_used() -> None:
    """Babel 2.19 writes 1,000,000 as 1000000 in de_CH but 1,000 as 1'000: the fast path must not keep its own
    idea of grouping there, it must hand the locale to Babel (whatever the installed Babel writes)."""
    probe = formats._NumberFormat(("", "-"), ("", ""), ".", ",", 0, Decimal("0.001"))
    assert formats._agrees(probe, lambda value: format_decimal(value, locale="en")) is probe
    assert formats._agrees(probe, lambda value: format_decimal(value, locale="de_CH")) is None
    assert formats.number(1_000_000, "de_CH") == format_decimal(1_000_000, locale="de_CH")
