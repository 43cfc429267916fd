"""Backtest the lapse rules on the real CDNOW transactions and choose the one the engine uses.

Setup, for a cutoff C and a window of W weeks:

* history: every purchase day on or before C; the rules only ever see this.
* truth: a customer "lapsed and would not come back" when they have no purchase day in (C, C + 7W].
* prediction: `rule.is_lapsed(history, C)`; positive class = lapsed.
* population: customers with at least `min_purchase_days` purchase days on or before C (default 3, where
  the rules differ: under 3 they all fall back to the fixed window); every customer with any history is
  scored too, as a secondary line.

The free parameters (the cadence multiple k and the BG/NBD threshold) are chosen on a validation split that
sees nothing after C: validation cutoff V = C - 7Wv with a window of Wv weeks ending at C. CDNOW starts in
January 1997, so Wv is usually shorter than W (default: min(W, half the history before C, in weeks)),
which is a real difference between validation and test and is reported. The BG/NBD parameters themselves
are fitted with `lifetimes` on all customers' history up to V (for tuning) and up to C (for the test).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from aftercare.winback.data import load_transactions, purchase_days
from aftercare.winback.rules import BgNbdParams, BgNbdRule, CadenceRule, FixedWindowRule, LapseRule

FIXED = "fixed_90d"
CADENCE = "cadence"
BGNBD = "bgnbd"
RULE_NAMES = (FIXED, CADENCE, BGNBD)
MODEL_NAMES = (CADENCE, BGNBD)

RULE_MIN_PURCHASE_DAYS = 3
# k >= 1 by design: nobody counts as lapsed before their own usual gap has passed. (F1 on "lapsed" rewards
# flagging nearly everyone, so validation would otherwise walk k down towards "lapsed the day after".)
CADENCE_K_GRID = tuple(round(1.0 + 0.25 * i, 2) for i in range(21))  # 1.0 .. 6.0
BGNBD_THRESHOLD_GRID = tuple(round(0.02 * i, 2) for i in range(1, 50))  # 0.02 .. 0.98

Histories = Mapping[str, tuple[date, ...]]


@dataclass(frozen=True)
class Score:
    """Confusion counts for one rule on one population; positive = lapsed and did not come back."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def predicted_lapsed(self) -> int:
        return self.tp + self.fp

    @property
    def actually_lapsed(self) -> int:
        return self.tp + self.fn

    @property
    def customers(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / self.predicted_lapsed if self.predicted_lapsed else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.actually_lapsed if self.actually_lapsed else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Tuning:
    validation_cutoff: date
    validation_weeks: int
    validation_customers: int
    cadence_k: float
    cadence_validation_f1: float
    bgnbd_threshold: float
    bgnbd_validation_f1: float


@dataclass(frozen=True)
class BacktestReport:
    cutoff: date
    weeks: int
    min_purchase_days: int
    data_start: date
    data_end: date
    rules: Mapping[str, LapseRule]  # fitted on the history up to `cutoff`, ready for the engine
    scores: Mapping[str, Score]  # customers with >= min_purchase_days purchase days before the cutoff
    all_customers: Mapping[str, Score]  # every customer with at least one purchase before the cutoff
    everyone_lapsed: Score  # reference point on `scores`' population: call every customer lapsed
    tuning: Tuning
    bgnbd_params: BgNbdParams


# --- the pieces ---------------------------------------------------------------------------------------------


def histories_at(
    days_by_customer: Histories, cutoff: date, min_purchase_days: int = 1
) -> dict[str, tuple[date, ...]]:
    """Each customer's purchase days on or before `cutoff`, for those with at least `min_purchase_days`."""
    out = {}
    for customer_id, days in days_by_customer.items():
        history = days[: bisect.bisect_right(days, cutoff)]
        if len(history) >= max(min_purchase_days, 1):
            out[customer_id] = history
    return out


def did_not_come_back(days: Sequence[date], cutoff: date, window_end: date) -> bool:
    """True when the customer has no purchase day in (cutoff, window_end]."""
    i = bisect.bisect_right(days, cutoff)
    return not (i < len(days) and days[i] <= window_end)


def score(
    predict: Callable[[tuple[date, ...]], bool], histories: Histories, truth: Mapping[str, bool]
) -> Score:
    tp = fp = fn = tn = 0
    for customer_id, history in histories.items():
        predicted, actual = predict(history), truth[customer_id]
        if predicted and actual:
            tp += 1
        elif predicted:
            fp += 1
        elif actual:
            fn += 1
        else:
            tn += 1
    return Score(tp, fp, fn, tn)


def score_rule(rule: LapseRule, histories: Histories, truth: Mapping[str, bool], as_of: date) -> Score:
    return score(lambda history: rule.is_lapsed(history, as_of), histories, truth)


def fit_bgnbd(histories: Iterable[tuple[date, ...]], as_of: date, unit_days: float = 7.0) -> BgNbdParams:
    """Fit BG/NBD with lifetimes' BetaGeoFitter on (frequency, recency, T) at `as_of`, in `unit_days` units.

    frequency = purchase days - 1, recency = last - first, T = as_of - first (lifetimes' definitions).
    Identical rows are collapsed and passed as weights, which gives the same likelihood, faster.
    """
    import numpy as np
    from lifetimes import BetaGeoFitter

    counts: dict[tuple[int, int, int], int] = {}
    for days in histories:
        key = (len(days) - 1, (days[-1] - days[0]).days, (as_of - days[0]).days)
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        raise ValueError(f"no customer history before {as_of} to fit BG/NBD on")
    rows = np.array(list(counts.keys()), dtype=float)
    weights = np.array(list(counts.values()), dtype=float)
    fitter = BetaGeoFitter(penalizer_coef=0.0)
    fitter.fit(rows[:, 0], rows[:, 1] / unit_days, rows[:, 2] / unit_days, weights=weights)
    p = fitter.params_
    return BgNbdParams(
        r=float(p["r"]), alpha=float(p["alpha"]), a=float(p["a"]), b=float(p["b"]), unit_days=unit_days
    )


def _best(candidates: Sequence[float], make: Callable[[float], LapseRule], histories: Histories,
          truth: Mapping[str, bool], as_of: date) -> tuple[float, float]:
    """The candidate with the highest F1 (the first one on ties), and that F1."""
    best_value, best_f1 = candidates[0], -1.0
    for value in candidates:
        f1 = score_rule(make(value), histories, truth, as_of).f1
        if f1 > best_f1:
            best_value, best_f1 = value, f1
    return best_value, best_f1


def _truth(
    days_by_customer: Histories, customer_ids: Iterable[str], cutoff: date, weeks: int
) -> dict[str, bool]:
    end = cutoff + timedelta(weeks=weeks)
    return {c: did_not_come_back(days_by_customer[c], cutoff, end) for c in customer_ids}


# --- the backtest -------------------------------------------------------------------------------------------


def run_backtest(
    cutoff: date,
    weeks: int = 39,
    min_purchase_days: int = 3,
    validation_weeks: int | None = None,
    days_by_customer: Histories | None = None,
) -> BacktestReport:
    """Score the rules at `cutoff`: on CDNOW, or on `days_by_customer` (a store's own history) if given."""
    if weeks < 1:
        raise ValueError("weeks must be >= 1")
    if min_purchase_days < 1:
        raise ValueError("min_purchase_days must be >= 1")
    if days_by_customer is None:
        days_by_customer = purchase_days(load_transactions())
    if not days_by_customer:
        raise ValueError("no purchase history to backtest on")
    data_start = min(days[0] for days in days_by_customer.values())
    data_end = max(days[-1] for days in days_by_customer.values())
    window_end = cutoff + timedelta(weeks=weeks)
    if window_end > data_end:
        fits = (data_end - cutoff).days // 7
        raise ValueError(
            f"cutoff {cutoff} + {weeks} weeks = {window_end} is after the data's last day {data_end}; "
            f"at most {fits} weeks fit after this cutoff"
        )
    history_days = (cutoff - data_start).days
    if validation_weeks is None:
        validation_weeks = min(weeks, history_days // 14)
    validation_cutoff = cutoff - timedelta(weeks=validation_weeks)
    if validation_weeks < 1 or validation_cutoff <= data_start:
        raise ValueError(f"cutoff {cutoff} leaves too little history before it for a validation split")

    # validation: tune k and the threshold, seeing nothing after `cutoff`
    tune_min = max(min_purchase_days, RULE_MIN_PURCHASE_DAYS)
    val_all = histories_at(days_by_customer, validation_cutoff)
    val_pop = {c: h for c, h in val_all.items() if len(h) >= tune_min}
    if not val_pop:
        raise ValueError(
            f"no customer has {tune_min} purchase days by the validation cutoff {validation_cutoff}"
        )
    val_truth = _truth(days_by_customer, val_pop, validation_cutoff, validation_weeks)
    cadence_k, cadence_val_f1 = _best(CADENCE_K_GRID, lambda k: CadenceRule(k=k), val_pop, val_truth,
                                      validation_cutoff)
    val_params = fit_bgnbd(val_all.values(), validation_cutoff)
    threshold, bgnbd_val_f1 = _best(BGNBD_THRESHOLD_GRID, lambda t: BgNbdRule(val_params, threshold=t),
                                    val_pop, val_truth, validation_cutoff)

    # test: fit on the history up to `cutoff`, score on the weeks after it
    test_all = histories_at(days_by_customer, cutoff)
    params = fit_bgnbd(test_all.values(), cutoff)
    rules: dict[str, LapseRule] = {
        FIXED: FixedWindowRule(90),
        CADENCE: CadenceRule(k=cadence_k),
        BGNBD: BgNbdRule(params, threshold=threshold),
    }
    truth = _truth(days_by_customer, test_all, cutoff, weeks)
    test_pop = {c: h for c, h in test_all.items() if len(h) >= min_purchase_days}
    return BacktestReport(
        cutoff=cutoff,
        weeks=weeks,
        min_purchase_days=min_purchase_days,
        data_start=data_start,
        data_end=data_end,
        rules=rules,
        scores={name: score_rule(rule, test_pop, truth, cutoff) for name, rule in rules.items()},
        all_customers={name: score_rule(rule, test_all, truth, cutoff) for name, rule in rules.items()},
        everyone_lapsed=score(lambda history: True, test_pop, truth),
        tuning=Tuning(
            validation_cutoff=validation_cutoff,
            validation_weeks=validation_weeks,
            validation_customers=len(val_pop),
            cadence_k=cadence_k,
            cadence_validation_f1=cadence_val_f1,
            bgnbd_threshold=threshold,
            bgnbd_validation_f1=bgnbd_val_f1,
        ),
        bgnbd_params=params,
    )


# --- the choice the engine makes ----------------------------------------------------------------------------


def chosen_name(report: BacktestReport, min_improvement: float = 0.0) -> str:
    """Best model by F1 if it beats the fixed rule's F1 by more than `min_improvement`; else fixed."""
    fixed_f1 = report.scores[FIXED].f1
    best = max(MODEL_NAMES, key=lambda name: report.scores[name].f1)  # first in MODEL_NAMES on ties
    return best if report.scores[best].f1 > fixed_f1 + min_improvement else FIXED


def choose_rule(report: BacktestReport, min_improvement: float = 0.0) -> LapseRule:
    """The lapse rule the engine should use: a model only where the backtest shows it better on F1."""
    return report.rules[chosen_name(report, min_improvement)]


def choice_reason(report: BacktestReport, min_improvement: float = 0.0) -> str:
    name = chosen_name(report, min_improvement)
    fixed = report.scores[FIXED]
    population = f"customers with >= {report.min_purchase_days} purchase days"
    if name == FIXED:
        best = max(MODEL_NAMES, key=lambda n: report.scores[n].f1)
        return (
            f"The engine will use {FIXED}: no model beat its F1 of {fixed.f1:.3f} on {population} "
            f"(best model {best}: F1 {report.scores[best].f1:.3f})."
        )
    chosen = report.scores[name]
    return (
        f"The engine will use {name}: its F1 of {chosen.f1:.3f} beats {FIXED}'s {fixed.f1:.3f} "
        f"on {population} (customers with fewer than {RULE_MIN_PURCHASE_DAYS} purchase days "
        "still get the fixed 90-day window)."
    )
