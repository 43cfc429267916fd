"""Which rule the engine uses, as a table of backtest F1 scores; and how the scores are counted."""

from __future__ import annotations

from datetime import date

import pytest

from aftercare.winback.backtest import BacktestReport, Score, Tuning, choose_rule, chosen_name
from aftercare.winback.rules import BgNbdParams, BgNbdRule, CadenceRule, FixedWindowRule

PARAMS = BgNbdParams(r=0.25, alpha=4.8, a=0.72, b=2.16)


def score_with_f1(f1: float) -> Score:
    # precision == recall == f1 with 100 actual and 100 predicted positives
    tp = round(f1 * 100)
    return Score(tp=tp, fp=100 - tp, fn=100 - tp, tn=1000)


def report(fixed: float, cadence: float, bgnbd: float) -> BacktestReport:
    scores = {
        "fixed_90d": score_with_f1(fixed), "cadence": score_with_f1(cadence), "bgnbd": score_with_f1(bgnbd)
    }
    return BacktestReport(
        cutoff=date(1997, 9, 30), weeks=39, min_purchase_days=3,
        data_start=date(1997, 1, 1), data_end=date(1998, 6, 30),
        rules={"fixed_90d": FixedWindowRule(90), "cadence": CadenceRule(k=2.0), "bgnbd": BgNbdRule(PARAMS)},
        scores=scores, all_customers=scores, everyone_lapsed=score_with_f1(0.5),
        tuning=Tuning(date(1997, 5, 20), 19, 100, 2.0, 0.5, 0.5, 0.5),
        bgnbd_params=PARAMS,
    )


@pytest.mark.parametrize(
    ("fixed", "cadence", "bgnbd", "chosen"),
    [
        (0.54, 0.51, 0.55, "bgnbd"),
        (0.54, 0.56, 0.55, "cadence"),
        (0.54, 0.54, 0.54, "fixed_90d"),  # a tie is not "better": keep the fixed window
        (0.60, 0.51, 0.55, "fixed_90d"),
        (0.50, 0.55, 0.55, "cadence"),  # models tied with each other: the simpler cadence rule
    ],
)
def test_the_engine_uses_a_model_only_when_its_f1_beats_the_fixed_window(fixed, cadence, bgnbd, chosen):
    r = report(fixed, cadence, bgnbd)
    assert chosen_name(r) == chosen
    assert choose_rule(r) is r.rules[chosen]


def test_a_required_margin_keeps_the_fixed_window_for_a_small_win():
    r = report(0.54, 0.51, 0.55)
    assert chosen_name(r, min_improvement=0.02) == "fixed_90d"


@pytest.mark.parametrize(
    ("score", "precision", "recall", "f1"),
    [
        (Score(tp=5, fp=5, fn=5, tn=85), 0.5, 0.5, 0.5),
        (Score(tp=0, fp=0, fn=10, tn=90), 0.0, 0.0, 0.0),  # predicts nobody lapsed
        (Score(tp=0, fp=0, fn=0, tn=10), 0.0, 0.0, 0.0),  # nobody lapsed at all
        (Score(tp=10, fp=30, fn=0, tn=0), 0.25, 1.0, 0.4),
    ],
)
def test_precision_recall_and_f1_are_counted_on_lapsed_as_the_positive_class(score, precision, recall, f1):
    assert (score.precision, score.recall, score.f1) == pytest.approx((precision, recall, f1))
