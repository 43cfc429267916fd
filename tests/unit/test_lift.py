"""The lift computation and its intervals, on hand-made exposures and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftercare.analytics.lift import (
    HELD_OUT,
    SENT,
    TOO_SMALL,
    Events,
    Exposure,
    compute_lift,
    first_exposures,
    lift_section,
)
from aftercare.analytics.stats import newcombe_difference, smallest_expected_count, wilson

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_wilson_interval_matches_the_textbook_value():
    # Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662
    ci = wilson(81, 263)
    assert ci.low == pytest.approx(0.2553, abs=1e-4) and ci.high == pytest.approx(0.3662, abs=1e-4)


def test_newcombe_difference_matches_the_published_example():
    # Newcombe (1998) table II, 56/70 vs 48/80: difference 0.2, method 10 interval 0.0524 to 0.3339
    ci = newcombe_difference(56, 70, 48, 80)
    assert ci.low == pytest.approx(0.0524, abs=1e-3) and ci.high == pytest.approx(0.3339, abs=1e-3)


def test_a_group_with_no_events_still_gets_a_sensible_interval():
    ci = newcombe_difference(10, 100, 0, 100)
    assert 0 < ci.low < 0.1 < ci.high < 0.2


def test_smallest_expected_count_looks_at_events_and_non_events_in_both_groups():
    assert smallest_expected_count(1, 100, 1, 100) == pytest.approx(1.0)
    assert smallest_expected_count(50, 100, 50, 100) == pytest.approx(50.0)


def test_first_exposure_per_customer_and_step_wins_and_skipped_rows_are_ignored():
    rows = [
        (1, "csat", "sent", T0 + timedelta(days=2)),
        (1, "csat", "held_out", T0),
        (2, "csat", "skipped", T0),
        (3, "csat", "bounced", T0),
    ]
    out = first_exposures(rows)
    assert out == [Exposure(1, "csat", HELD_OUT, T0), Exposure(3, "csat", SENT, T0)]


def _store(n_sent: int, k_sent: int, n_held: int, k_held: int) -> tuple[list[Exposure], Events]:
    exposures, events = [], Events()
    for i in range(n_sent + n_held):
        group = SENT if i < n_sent else HELD_OUT
        exposures.append(Exposure(i, "winback_1", group, T0))
        if (group == SENT and i < k_sent) or (group == HELD_OUT and i - n_sent < k_held):
            events.orders[i].append(T0 + timedelta(days=10))
        events.orders[i].append(T0 - timedelta(days=100))  # the order before the message never counts
    return exposures, events.sort()


def test_a_clear_lift_is_reported_with_its_difference_and_interval():
    exposures, events = _store(400, 60, 400, 20)
    row = next(
        r for r in compute_lift(exposures, events, T0 + timedelta(days=120)) if r.outcome == "repeat_30d"
    )
    assert (row.n_sent, row.n_held_out, row.events_sent, row.events_held_out) == (400, 400, 60, 20)
    assert row.difference == pytest.approx(0.10)
    assert row.ci_low is not None and row.ci_high is not None and 0 < row.ci_low < 0.10 < row.ci_high
    assert row.verdict == "higher when sent"


def test_groups_under_thirty_are_too_small_to_tell():
    exposures, events = _store(400, 60, 20, 2)
    row = next(
        r for r in compute_lift(exposures, events, T0 + timedelta(days=120)) if r.outcome == "repeat_30d"
    )
    assert row.verdict == TOO_SMALL and row.ci_low is None


def test_rare_outcomes_with_under_five_expected_events_are_too_small_to_tell():
    exposures, events = _store(200, 2, 200, 1)
    row = next(
        r for r in compute_lift(exposures, events, T0 + timedelta(days=120)) if r.outcome == "repeat_30d"
    )
    assert row.verdict == TOO_SMALL


def test_customers_whose_window_has_not_passed_are_not_counted_yet():
    exposures, events = _store(100, 10, 100, 5)
    rows = compute_lift(exposures, events, T0 + timedelta(days=45))
    by = {r.outcome: r for r in rows}
    assert by["repeat_30d"].n_sent == 100
    assert by["repeat_60d"].n_sent == 0 and by["repeat_60d"].awaiting == 200


def test_the_daily_report_section_lists_only_the_verdicts_and_counts_the_rest_in_one_line():
    clear, clear_events = _store(400, 60, 400, 20)
    rows = compute_lift(clear, clear_events, T0 + timedelta(days=120))
    small_exposures, small_events = _store(400, 60, 20, 2)
    small = [r for r in compute_lift(small_exposures, small_events, T0 + timedelta(days=120))
             if r.verdict == TOO_SMALL]
    section = lift_section([*rows, *small], T0 + timedelta(days=120))
    shown = [line for line in section.splitlines() if line.startswith("| winback_1")]
    significant = [r for r in rows if r.verdict in ("higher when sent", "lower when sent")]
    assert significant and len(shown) == len(significant)
    assert all(TOO_SMALL not in line for line in shown)
    hidden = len(rows) + len(small) - len(significant)
    assert f"The other {hidden} step/outcome pairs: " in section
    too_small = sum(1 for r in [*rows, *small] if r.verdict == TOO_SMALL)
    assert len(small) > 0 and f"{too_small} {TOO_SMALL}" in section


def test_with_no_verdict_the_section_says_so_in_one_line():
    exposures, events = _store(400, 60, 20, 2)
    rows = compute_lift(exposures, events, T0 + timedelta(days=120))
    section = lift_section(rows, T0 + timedelta(days=120))
    assert "No step/outcome pair shows a clear difference yet." in section
    assert "\n| " not in section
