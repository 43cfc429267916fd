"""The win-back backtest on the real CDNOW transactions shipped in the lifetimes wheel, cutoff 1997-09-30.

These check our data handling and bookkeeping (the fixed 90-day rule must land near the published
precision 0.51 / recall 0.57 on customers with at least three purchase days), not speed.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from aftercare.winback.backtest import RULE_NAMES, choose_rule, chosen_name, run_backtest
from aftercare.winback.cli import app
from aftercare.winback.data import load_transactions, purchase_days

CUTOFF = date(1997, 9, 30)


@pytest.fixture(scope="module")
def report():
    return run_backtest(CUTOFF, weeks=39, min_purchase_days=3)


@pytest.fixture(scope="module")
def cli_output():
    result = CliRunner().invoke(app, ["--cutoff", "1997-09-30"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cdnow_file_in_the_lifetimes_wheel_is_the_full_data_set():
    transactions = load_transactions()
    days = purchase_days(transactions)
    assert len(transactions) == 69_659
    assert len(days) == 23_570
    assert min(d[0] for d in days.values()) == date(1997, 1, 1)
    assert max(d[-1] for d in days.values()) == date(1998, 6, 30)


def test_every_metric_is_between_zero_and_one(report):
    for scores in (report.scores, report.all_customers):
        for name in RULE_NAMES:
            s = scores[name]
            assert 0.0 <= s.precision <= 1.0 and 0.0 <= s.recall <= 1.0 and 0.0 <= s.f1 <= 1.0


def test_support_counts_agree_across_rules_and_with_the_data(report):
    days = purchase_days(load_transactions())
    end = CUTOFF + timedelta(weeks=39)
    with_history = {c: [d for d in ds if d <= CUTOFF] for c, ds in days.items()}
    with_history = {c: h for c, h in with_history.items() if h}
    population = [c for c, h in with_history.items() if len(h) >= 3]
    lapsed = sum(1 for c in population if not any(CUTOFF < d <= end for d in days[c]))
    for name in RULE_NAMES:
        s = report.scores[name]
        assert s.customers == len(population)
        assert s.actually_lapsed == lapsed
        assert s.tp + s.fp == s.predicted_lapsed and s.tp + s.fn == s.actually_lapsed
        assert report.all_customers[name].customers == len(with_history)
        assert report.all_customers[name].customers > s.customers
    assert report.everyone_lapsed.predicted_lapsed == len(population)


def test_fixed_90_days_lands_near_the_published_precision_and_recall(report):
    fixed = report.scores["fixed_90d"]
    assert fixed.precision == pytest.approx(0.51, abs=0.1)
    assert fixed.recall == pytest.approx(0.57, abs=0.1)


def test_the_tuning_sees_nothing_after_the_cutoff(report):
    t = report.tuning
    assert t.validation_cutoff + timedelta(weeks=t.validation_weeks) <= CUTOFF
    assert t.validation_customers > 0


def test_the_chosen_rule_is_the_fixed_window_unless_a_model_beats_it_on_f1(report):
    name = chosen_name(report)
    fixed_f1 = report.scores["fixed_90d"].f1
    if name == "fixed_90d":
        assert all(report.scores[m].f1 <= fixed_f1 for m in ("cadence", "bgnbd"))
    else:
        assert report.scores[name].f1 > fixed_f1
    assert choose_rule(report) is report.rules[name]


def test_the_cli_ends_with_one_json_line_holding_every_rules_metrics(cli_output, report):
    last = cli_output.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["cutoff"] == "1997-09-30"
    assert summary["weeks"] == 39
    assert set(summary["rules"]) == {"fixed_90d", "cadence", "bgnbd"}
    for name, metrics in summary["rules"].items():
        assert set(metrics) == {"precision", "recall", "f1"}
        assert metrics["f1"] == pytest.approx(report.scores[name].f1, abs=1e-4)
    assert summary["chosen"] == chosen_name(report)


def test_the_cli_says_which_rule_the_engine_will_use(cli_output, report):
    assert f"The engine will use {chosen_name(report)}" in cli_output


def test_a_window_running_past_the_end_of_the_data_is_refused_with_how_many_weeks_fit():
    result = CliRunner().invoke(app, ["--cutoff", "1997-12-31", "--weeks", "26"])
    assert result.exit_code == 2
    assert "at most 25 weeks fit" in result.output
