"""A points reminder and a win-back due inside one cap window become one message: the decision table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftercare.domain.decisions import Defer, Policy, Send, Skip, decide, in_holdout
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import default as j
from aftercare.journeys.default.merge import MERGE_RECHECK, LoyaltyMerge
from tests.builders import NOON_NY, POLICY, a_state, due

H = timedelta(hours=1)


def carries(decision: Send) -> bool:
    """Whether the win-back carries the points reminder (its decision-time template data says so)."""
    return bool(decision.data.get("points_expiry_reminder", False))
POINTS = {"points_expiring": 120, "points_balance": 400, "points_expire_at": NOON_NY + timedelta(days=7)}


@pytest.mark.parametrize(
    ("case", "step", "merge", "expected"),
    [
        (
            "points after a win-back sent an hour ago: merged",
            j.POINTS_EXPIRY_7,
            LoyaltyMerge(winback_sent_at=NOON_NY - H),
            Skip(Reason.MERGED),
        ),
        (
            "points after a win-back sent 25 h ago: sent alone",
            j.POINTS_EXPIRY_7,
            LoyaltyMerge(winback_sent_at=NOON_NY - 25 * H),
            "send",
        ),
        (
            "points with a win-back due in 5 h: waits for it",
            j.POINTS_EXPIRY_30,
            LoyaltyMerge(winback_due_at=NOON_NY + 5 * H),
            Defer(NOON_NY + 5 * H + MERGE_RECHECK, Reason.MERGED),
        ),
        (
            "points with a win-back due now, in the same batch: waits a moment",
            j.POINTS_EXPIRY_30,
            LoyaltyMerge(winback_due_at=NOON_NY),
            Defer(NOON_NY + MERGE_RECHECK, Reason.MERGED),
        ),
        (
            "points with a win-back due in 30 h: sent alone",
            j.POINTS_EXPIRY_30,
            LoyaltyMerge(winback_due_at=NOON_NY + 30 * H),
            "send",
        ),
        ("points with nothing else going on: sent alone", j.POINTS_EXPIRY_30, LoyaltyMerge(), "send"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_a_points_reminder_folds_into_a_win_back_inside_the_cap_window(case, step, merge, expected):
    decision = decide(due(step), a_state(merge=merge, **POINTS), NOON_NY, POLICY)
    if expected == "send":
        assert isinstance(decision, Send) and not carries(decision)
    else:
        assert decision == expected


def test_a_points_reminder_never_waits_past_its_own_expiry_for_a_merge():
    first_due = NOON_NY - timedelta(days=7) + H  # expires (7 days) an hour from now
    merge = LoyaltyMerge(winback_due_at=NOON_NY + 5 * H)
    decision = decide(
        due(j.POINTS_EXPIRY_30, first_due=first_due), a_state(merge=merge, **POINTS), NOON_NY, POLICY
    )
    assert isinstance(decision, Send)


@pytest.mark.parametrize(
    ("case", "merge", "points", "expected_carry"),
    [
        (
            "points reminder due in 3 h",
            LoyaltyMerge(points_step=j.POINTS_EXPIRY_7, points_due_at=NOON_NY + 3 * H),
            True,
            True,
        ),
        (
            "points reminder overdue (waiting for this win-back)",
            LoyaltyMerge(points_step=j.POINTS_EXPIRY_30, points_due_at=NOON_NY - 2 * H),
            True,
            True,
        ),
        (
            "points reminder due in 3 days",
            LoyaltyMerge(points_step=j.POINTS_EXPIRY_30, points_due_at=NOON_NY + timedelta(days=3)),
            True,
            False,
        ),
        (
            "no points expiring",
            LoyaltyMerge(points_step=j.POINTS_EXPIRY_7, points_due_at=NOON_NY + H),
            False,
            False,
        ),
        ("no points reminder pending", LoyaltyMerge(), True, False),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_a_win_back_carries_the_points_reminder_due_inside_the_cap_window(case, merge, points, expected_carry):
    state = a_state(merge=merge, **(POINTS if points else {"points_expiring": 0}))
    decision = decide(due(j.WINBACK_1), state, NOON_NY, POLICY)
    assert isinstance(decision, Send) and carries(decision) is expected_carry


def test_a_customer_held_out_of_the_points_reminder_gets_a_win_back_without_it():
    policy = Policy(holdout_share=0.5, holdout_salt="s")
    customer = next(
        c
        for c in range(1000)
        if in_holdout(c, j.POINTS_EXPIRY_7, policy) and not in_holdout(c, j.WINBACK_1, policy)
    )
    merge = LoyaltyMerge(points_step=j.POINTS_EXPIRY_7, points_due_at=NOON_NY + H)
    decision = decide(due(j.WINBACK_1), a_state(customer_id=customer, merge=merge, **POINTS), NOON_NY, policy)
    assert isinstance(decision, Send) and not carries(decision)


def test_transactional_and_other_marketing_steps_are_untouched_by_the_merge():
    merge = LoyaltyMerge(winback_sent_at=NOON_NY - H, points_step=j.POINTS_EXPIRY_7, points_due_at=NOON_NY)
    for step in (j.CONFIRMATION, j.SETUP_GUIDE, j.CSAT):
        decision = decide(due(step), a_state(merge=merge, **POINTS), NOON_NY, POLICY)
        assert isinstance(decision, Send) and not carries(decision)
