"""Points per currency: comparable earnings, goodwill and thresholds per currency, overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftercare.domain.points import UNITS_PER_DOLLAR, points_table
from aftercare.settings import JourneyTimings

TABLE = points_table(per_dollar=1.0, goodwill=200, threshold=500)


@pytest.mark.parametrize(
    ("total", "currency", "points"),
    [
        (Decimal("150.00"), "USD", 150),
        (Decimal("214110"), "KRW", 152),  # not 214,110 points
        (Decimal("139.99"), "EUR", 155),
        (Decimal("120.00"), "GBP", 150),
        (Decimal("562.50"), "SAR", 150),
        (Decimal("550.88"), "AED", 150),
        (Decimal("825.00"), "BRL", 150),
        (Decimal("22500"), "JPY", 150),
        (Decimal("150.00"), "usd", 150),  # the code's case does not matter
        (Decimal("150.00"), "CHF", 150),  # not in the table: the base rate
        (Decimal("0"), "USD", 0),
        (Decimal("-20.00"), "KRW", 0),  # a credit earns nothing
        (Decimal("0.99"), "USD", 0),  # whole points, rounded down
    ],
)
def test_an_order_earns_comparable_points_in_every_currency(total, currency, points):
    assert TABLE.earned(total, currency) == points


def test_every_shipped_currency_has_defaults():
    assert set(UNITS_PER_DOLLAR) >= {"USD", "EUR", "GBP", "KRW", "SAR", "AED", "BRL", "JPY"}
    for code in UNITS_PER_DOLLAR:
        rule = TABLE.rule(code)
        assert rule.goodwill == 200 and rule.threshold == 500


def test_a_store_sets_points_goodwill_and_threshold_per_currency():
    table = points_table(per_dollar=1.0, goodwill=200, threshold=500,
                         overrides={"krw": {"per_unit": 0.01, "goodwill": 3000}, "CHF": {"threshold": 400}})
    assert table.earned(Decimal("214110"), "KRW") == 2141
    assert table.rule("KRW").goodwill == 3000 and table.rule("KRW").threshold == 500
    assert table.rule("CHF").threshold == 400 and table.rule("CHF").goodwill == 200
    assert table.rule("USD").goodwill == 200


def test_an_unknown_key_in_the_per_currency_setting_is_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        points_table(per_dollar=1.0, goodwill=200, threshold=500, overrides={"KRW": {"goodwil": 1}})


def test_the_per_currency_setting_reads_json_from_the_environment(monkeypatch):
    monkeypatch.setenv("AFTERCARE_JOURNEY_POINTS_BY_CURRENCY", '{"KRW": {"goodwill": 2500}}')
    assert JourneyTimings().points_by_currency == {"KRW": {"goodwill": 2500}}
