"""Regional locales drive formats: long unambiguous dates, the customer's zone named, card endings and
country names in the reader's language."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare.rendering import formats
from aftercare.rendering.context import sample_context
from aftercare.rendering.renderer import Renderer

MOMENT = datetime(2026, 2, 28, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lang", "region", "zone", "expected_locale", "expected"),
    [
        ("en", "US", "America/New_York", "en_US", "February 28, 2026, 10:30\u202fAM EST"),
        ("en", "GB", "Europe/London", "en_GB", "28 February 2026, 15:30 GMT"),
        ("ko", "KR", "Asia/Seoul", "ko_KR", "2026년 3월 1일 오전 12:30 한국 표준시"),
        ("ar", "SA", "Asia/Riyadh", "ar_SA", "28 فبراير 2026، 6:30 م التوقيت العربي الرسمي"),
        ("ar", "AE", "Asia/Dubai", "ar_AE", "28 فبراير 2026، 7:30 م توقيت الخليج"),
        ("pt", "BR", "America/Sao_Paulo", "pt_BR", "28 de fevereiro de 2026 12:30 BRT"),
        ("en", "KR", "Asia/Seoul", "en", "March 1, 2026, 12:30\u202fAM Korean Standard Time"),  # no en_KR
    ],
)
def test_the_customers_country_chooses_the_format_and_the_zone_is_named(
    lang, region, zone, expected_locale, expected
):
    fmt = formats.regional_locale(lang, region)
    assert fmt == expected_locale
    text = formats.long_datetime(MOMENT.astimezone(ZoneInfo(zone)), fmt)
    assert text.startswith(expected)
    assert "/26" not in text and "2026" in text  # no two-digit year, no 2/28/26


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["en_US", "en_GB", "ko_KR", "ar_SA", "ar_AE", "pt_BR", "en", "ko", "ar"]))
def test_long_dates_are_babels_long_dates_with_a_four_digit_year(day: date, lang: str) -> None:
    text = formats.long_date(day, lang)
    assert text == format_date(day, format="long", locale=lang)
    assert str(day.year) in text


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Visa ending 4242", "en", "Visa ending 4242"),
        ("Visa ending 4242", "ko", "Visa 끝자리 4242"),
        ("Mastercard ending in 5100", "ar", "Mastercard المنتهية بـ 5100"),
        ("Visa ending 4242", "pt_BR", "Visa com final 4242"),
        ("shopify_payments", "ko", "shopify_payments"),  # a gateway's name stays as given
        ("", "ko", ""),
    ],
)
def test_a_card_ending_is_said_in_the_readers_language(text, lang, expected):
    assert formats.payment_summary(text, lang) == expected


@pytest.mark.parametrize(("code", "lang", "expected"), [
    ("US", "ko_KR", "미국"), ("KR", "ar_SA", "كوريا الجنوبية"), ("BR", "pt_BR", "Brasil"),
    ("GB", "en_GB", "United Kingdom"), ("XX", "en", "XX"),
])
def test_country_names_come_from_babels_territory_names(code, lang, expected):
    assert formats.country_name(code, lang) == expected


def test_a_london_customer_reads_british_dates_and_a_korean_address_in_korean() -> None:
    renderer = Renderer()
    london = replace(sample_context("confirmation", "en"), region="GB", timezone="Europe/London")
    text = renderer.render_email("confirmation", "en", london).text
    assert "1 March 2026, 15:30 GMT" in text  # placed 15:30 UTC on 1 March
    assert "3/1/26" not in text
    seoul = sample_context("confirmation", "ko")
    html = renderer.render_email("confirmation", "ko", seoul).html
    assert "미국" in html and "Visa 끝자리 4242" in html
