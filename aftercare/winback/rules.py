"""Lapse rules: when should a customer count as "lapsed and will not come back on their own"?

Every rule is a pure function of the customer's purchase days. `lapse_at(purchase_dates)` is the FIRST
day on which the rule calls the customer lapsed, and `is_lapsed(purchase_dates, as_of)` is exactly
``as_of >= lapse_at(purchase_dates)``, so the engine (which schedules a win-back at `lapse_at`) and the
backtest (which asks `is_lapsed` at a cutoff) can never disagree.

Purchase dates are calendar days; several orders on one day count as one purchase day (duplicates are
dropped, order does not matter). No pandas, numpy or lifetimes here: the BG/NBD rule takes already fitted
parameters (see `aftercare.winback.backtest.fit_bgnbd`) and evaluates the closed form itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from statistics import median
from typing import Protocol

# The CDNOW data ends after 18 months; nobody needs a lapse date a century out. It also keeps `date` in range.
_MAX_LAPSE_DAYS = 36_500


def purchase_days(purchase_dates: Sequence[date]) -> tuple[date, ...]:
    """Distinct purchase days, sorted. Raises if there are none."""
    days = tuple(sorted(set(purchase_dates)))
    if not days:
        raise ValueError("a lapse rule needs at least one purchase date")
    return days


def _check_history(days: tuple[date, ...], as_of: date) -> None:
    if days[-1] > as_of:
        raise ValueError(f"purchase on {days[-1]} is after as_of {as_of}: pass only the history up to as_of")


class LapseRule(Protocol):
    name: str

    def lapse_at(self, purchase_dates: Sequence[date]) -> date:
        """The first day on which this customer counts as lapsed."""
        ...

    def is_lapsed(self, purchase_dates: Sequence[date], as_of: date) -> bool:
        """Whether, knowing only purchases up to `as_of`, the customer is lapsed on `as_of`."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class FixedWindowRule:
    """Lapsed once more than `days` days have passed since the last purchase (so from last + days + 1)."""

    days: int = 90
    name: str = "fixed_90d"

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError("days must be >= 0")

    def lapse_at(self, purchase_dates: Sequence[date]) -> date:
        return purchase_days(purchase_dates)[-1] + timedelta(days=self.days + 1)

    def is_lapsed(self, purchase_dates: Sequence[date], as_of: date) -> bool:
        days = purchase_days(purchase_dates)
        _check_history(days, as_of)
        return as_of >= self.lapse_at(days)

    def describe(self) -> str:
        return f"lapsed when more than {self.days} days since the last purchase"


@dataclass(frozen=True)
class CadenceRule:
    """Lapsed once more than `k` times the customer's own median gap has passed since the last purchase.

    Customers with fewer than `min_purchase_days` purchase days (default 3, i.e. fewer than two gaps)
    have no cadence worth the name and get `fallback` (the fixed 90-day window) instead.
    """

    k: float = 2.0
    min_purchase_days: int = 3
    fallback: FixedWindowRule = FixedWindowRule(90)
    name: str = "cadence"

    def __post_init__(self) -> None:
        if self.k <= 0:
            raise ValueError("k must be > 0")
        if self.min_purchase_days < 2:
            raise ValueError("a cadence needs at least two purchase days")

    def median_gap_days(self, purchase_dates: Sequence[date]) -> float:
        days = purchase_days(purchase_dates)
        if len(days) < 2:
            raise ValueError("a median gap needs at least two purchase days")
        return float(median((b - a).days for a, b in pairwise(days)))

    def lapse_at(self, purchase_dates: Sequence[date]) -> date:
        days = purchase_days(purchase_dates)
        if len(days) < self.min_purchase_days:
            return self.fallback.lapse_at(days)
        # lapsed when (as_of - last).days > k * median gap, i.e. from floor(k * gap) + 1 days after the last
        offset = min(math.floor(self.k * self.median_gap_days(days)) + 1, _MAX_LAPSE_DAYS)
        return days[-1] + timedelta(days=offset)

    def is_lapsed(self, purchase_dates: Sequence[date], as_of: date) -> bool:
        days = purchase_days(purchase_dates)
        _check_history(days, as_of)
        return as_of >= self.lapse_at(days)

    def describe(self) -> str:
        return (
            f"lapsed when more than {self.k:g} x own median gap since the last purchase "
            f"(fixed {self.fallback.days} days under {self.min_purchase_days} purchase days)"
        )


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (Fader, Hardie & Lee 2005), with time measured in `unit_days`-day units."""

    r: float
    alpha: float
    a: float
    b: float
    unit_days: float = 7.0


@dataclass(frozen=True)
class BgNbdRule:
    """Lapsed once the BG/NBD probability that the customer is still "alive" drops below `threshold`.

    With x repeat purchase days, the last at t_x and the first at 0, P(alive at T) is
    ``1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))`` for x > 0 (the formula
    `lifetimes.BetaGeoFitter.conditional_probability_alive` uses). It falls as T grows, so the lapse day has
    a closed form. Customers with fewer than `min_purchase_days` purchase days get `fallback`.
    """

    params: BgNbdParams
    threshold: float = 0.5
    min_purchase_days: int = 3
    fallback: FixedWindowRule = FixedWindowRule(90)
    name: str = "bgnbd"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be strictly between 0 and 1")
        if self.min_purchase_days < 2:
            raise ValueError("the BG/NBD rule needs at least one repeat purchase (two purchase days)")

    def p_alive(self, purchase_dates: Sequence[date], as_of: date) -> float:
        days = purchase_days(purchase_dates)
        _check_history(days, as_of)
        p = self.params
        x = len(days) - 1
        if x == 0:
            return 1.0
        t_x = (days[-1] - days[0]).days / p.unit_days
        t = (as_of - days[0]).days / p.unit_days
        log_odds_dead = (p.r + x) * math.log((p.alpha + t) / (p.alpha + t_x)) + math.log(p.a / (p.b + x - 1))
        if log_odds_dead > 700:
            return 0.0
        return 1.0 / (1.0 + math.exp(log_odds_dead))

    def lapse_at(self, purchase_dates: Sequence[date]) -> date:
        days = purchase_days(purchase_dates)
        if len(days) < self.min_purchase_days:
            return self.fallback.lapse_at(days)
        p = self.params
        x = len(days) - 1
        since_first = (days[-1] - days[0]).days
        t_x = since_first / p.unit_days
        # p_alive < threshold  <=>  log_odds_dead > log(1/threshold - 1)
        #                       <=>  T > T* = (alpha + t_x) * exp(q) - alpha
        q = (math.log(1.0 / self.threshold - 1.0) - math.log(p.a / (p.b + x - 1))) / (p.r + x)
        if q > 700:  # exp would overflow: the lapse day is beyond any horizon
            first_lapsed = since_first + _MAX_LAPSE_DAYS
        else:
            t_star_days = ((p.alpha + t_x) * math.exp(q) - p.alpha) * p.unit_days
            first_lapsed = math.floor(t_star_days) + 1
        # never lapsed on (or before) the day of the last purchase itself
        first_lapsed = min(max(first_lapsed, since_first + 1), since_first + _MAX_LAPSE_DAYS)
        return days[0] + timedelta(days=first_lapsed)

    def is_lapsed(self, purchase_dates: Sequence[date], as_of: date) -> bool:
        days = purchase_days(purchase_dates)
        _check_history(days, as_of)
        return as_of >= self.lapse_at(days)

    def describe(self) -> str:
        return (
            f"lapsed when BG/NBD P(alive) < {self.threshold:g} "
            f"(fixed {self.fallback.days} days under {self.min_purchase_days} purchase days)"
        )
