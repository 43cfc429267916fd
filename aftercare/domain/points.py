"""Loyalty points per currency: what an order earns, what an apology gives, when a reward is reached.

Points are one store-wide unit, worth about the same whatever the customer pays in: the earn rate of each
currency is the base rate (AFTERCARE_JOURNEY_POINTS_PER_CURRENCY_UNIT, points per US dollar) divided by about
how many units of that currency a dollar buys, so a 214,110 won order earns about what a 150 dollar order
does, not 214,110 points. Goodwill and reward thresholds are in points, the same by default in every
currency; a store sets any of the three per currency (AFTERCARE_JOURNEY_POINTS_BY_CURRENCY, JSON).
A currency not in the table earns at the base rate. Pure: no settings object, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal

# About how many units of each currency one US dollar buys, rounded to a friendly figure (SAR and AED are
# pegged). Only for earning comparable points: never used to convert money a customer sees.
UNITS_PER_DOLLAR: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.9"),
    "GBP": Decimal("0.8"),
    "KRW": Decimal("1400"),
    "SAR": Decimal("3.75"),
    "AED": Decimal("3.6725"),
    "BRL": Decimal("5.5"),
    "JPY": Decimal("150"),
}


@dataclass(frozen=True)
class PointsRule:
    per_unit: Decimal  # points per unit of the currency
    goodwill: int  # points given with an apology after an unhappy CSAT
    threshold: int  # points per reward ("N points to your next reward")

    def earned(self, total: Decimal) -> int:
        """Points for an order total: whole points, rounded down; a zero or negative total earns none."""
        if total <= 0:
            return 0
        return int((total * self.per_unit).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class PointsTable:
    base: PointsRule = field(default_factory=lambda: PointsRule(Decimal("1"), 200, 500))
    by_currency: Mapping[str, PointsRule] = field(default_factory=dict)

    def rule(self, currency: str | None) -> PointsRule:
        return self.by_currency.get((currency or "").upper(), self.base)

    def earned(self, total: Decimal, currency: str | None) -> int:
        return self.rule(currency).earned(total)


def points_table(*, per_dollar: float, goodwill: int, threshold: int,
                 overrides: Mapping[str, Mapping[str, float]] | None = None) -> PointsTable:
    """The built-in currencies scaled from the base rate, then the store's own per-currency values."""
    base = PointsRule(Decimal(str(per_dollar)), goodwill, threshold)
    rules = {code: replace(base, per_unit=base.per_unit / units) for code, units in UNITS_PER_DOLLAR.items()}
    for code, values in (overrides or {}).items():
        current = rules.get(code.upper(), base)
        unknown = set(values) - {"per_unit", "goodwill", "threshold"}
        if unknown:
            raise ValueError(f"points for {code}: unknown keys {sorted(unknown)}; use per_unit, goodwill, threshold")
        rules[code.upper()] = PointsRule(
            Decimal(str(values.get("per_unit", current.per_unit))),
            int(values.get("goodwill", current.goodwill)),
            max(1, int(values.get("threshold", current.threshold))),
        )
    return PointsTable(base=base, by_currency=rules)
