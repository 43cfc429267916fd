"""The lapse rules as tables: dates in, lapsed or not (and the first lapsed day) out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aftercare.winback.rules import BgNbdParams, BgNbdRule, CadenceRule, FixedWindowRule

D0 = date(1997, 3, 1)
PARAMS = BgNbdParams(r=0.25, alpha=4.8, a=0.72, b=2.16)  # roughly what CDNOW fits to, in weeks


def days(*offsets: int) -> list[date]:
    return [D0 + timedelta(days=o) for o in offsets]


@pytest.mark.parametrize(
    ("days_since_last", "lapsed"),
    [(0, False), (1, False), (89, False), (90, False), (91, True), (365, True)],
)
def test_fixed_window_calls_a_customer_lapsed_only_after_more_than_90_days(days_since_last, lapsed):
    history = days(0, 20)
    assert FixedWindowRule(90).is_lapsed(history, history[-1] + timedelta(days=days_since_last)) is lapsed


def test_fixed_window_lapse_at_is_the_first_lapsed_day_91_days_after_the_last_purchase():
    assert FixedWindowRule(90).lapse_at(days(0, 20)) == D0 + timedelta(days=20 + 91)


def test_same_day_orders_count_once_and_the_order_of_dates_does_not_matter():
    rule = CadenceRule(k=2.0)
    # gaps 10 and 30 (median 20) whether the 10-day purchase is listed twice and out of order or not
    expected = D0 + timedelta(days=40 + 41)
    assert rule.lapse_at(days(40, 10, 0, 10)) == rule.lapse_at(days(0, 10, 40)) == expected


@pytest.mark.parametrize(
    ("history", "rule_name"),
    [
        (days(0), "cadence"),
        (days(0, 5), "cadence"),
        (days(0, 5, 5, 5), "cadence"),  # three orders, two purchase days
        (days(0), "bgnbd"),
        (days(0, 5), "bgnbd"),
    ],
)
def test_model_rules_with_fewer_than_three_purchase_days_fall_back_to_the_fixed_90_days(history, rule_name):
    rule = CadenceRule(k=0.5) if rule_name == "cadence" else BgNbdRule(PARAMS, threshold=0.9)
    assert rule.lapse_at(history) == FixedWindowRule(90).lapse_at(history)


@pytest.mark.parametrize(
    ("history", "k", "first_lapsed_days_after_last"),
    [
        (days(0, 30, 60), 1.0, 31),  # median gap 30: lapsed when more than 30 days
        (days(0, 30, 60), 2.0, 61),
        (days(0, 30, 60), 1.5, 46),
        (days(0, 7, 14, 200), 2.0, 15),  # median of gaps 7, 7, 186 is 7: one long gap does not move it
        (days(0, 10, 40), 2.0, 41),  # median of gaps 10 and 30 is 20
        (days(0, 10, 40), 1.25, 26),  # 1.25 x 20 = 25 days, lapsed from day 26
        (days(0, 3, 4), 1.0, 3),  # median 2: lapsed from 3 days after
    ],
)
def test_cadence_lapses_after_k_times_the_customers_own_median_gap(history, k, first_lapsed_days_after_last):
    rule = CadenceRule(k=k)
    last = max(history)
    assert rule.lapse_at(history) == last + timedelta(days=first_lapsed_days_after_last)
    assert not rule.is_lapsed(history, last + timedelta(days=first_lapsed_days_after_last - 1))
    assert rule.is_lapsed(history, last + timedelta(days=first_lapsed_days_after_last))


def test_bgnbd_probability_alive_matches_lifetimes():
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series({"r": PARAMS.r, "alpha": PARAMS.alpha, "a": PARAMS.a, "b": PARAMS.b})
    rule = BgNbdRule(PARAMS)
    cases = [(days(0, 14, 28), 60), (days(0, 100), 200), (days(0, 3, 5, 9, 30), 31), (days(0), 50)]
    for history, as_of_offset in cases:
        x = len(history) - 1
        t_x = (max(history) - D0).days / 7
        t = as_of_offset / 7
        alive = fitter.conditional_probability_alive(np.array([x]), np.array([t_x]), np.array([t]))
        expected = float(alive[0])
        assert rule.p_alive(history, D0 + timedelta(days=as_of_offset)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("history", [days(0, 14, 28), days(0, 60, 61, 200), days(0, 2, 4, 6, 8, 10, 12)])
def test_bgnbd_is_lapsed_exactly_when_probability_alive_drops_below_the_threshold(history, threshold):
    rule = BgNbdRule(PARAMS, threshold=threshold)
    last = max(history)
    lapse_at = rule.lapse_at(history)
    assert lapse_at > last
    for n in range(1, 800):
        as_of = last + timedelta(days=n)
        assert rule.is_lapsed(history, as_of) == (as_of >= lapse_at)
        if as_of > last + timedelta(days=1):
            assert rule.is_lapsed(history, as_of) == (rule.p_alive(history, as_of) < threshold)


def test_bgnbd_never_calls_a_customer_lapsed_on_the_day_of_their_last_purchase():
    rule = BgNbdRule(PARAMS, threshold=0.98)
    history = days(0, 1, 2)
    assert not rule.is_lapsed(history, max(history))
    assert rule.lapse_at(history) == max(history) + timedelta(days=1)


def test_bgnbd_frequent_buyer_lapses_sooner_after_the_last_purchase_than_an_occasional_one():
    rule = BgNbdRule(PARAMS, threshold=0.5)
    frequent = days(0, 7, 14, 21, 28, 35, 42, 49, 56)
    occasional = days(0, 28, 56)
    assert rule.lapse_at(frequent) - max(frequent) < rule.lapse_at(occasional) - max(occasional)


@pytest.mark.parametrize(
    "rule",
    [FixedWindowRule(90), FixedWindowRule(0), CadenceRule(k=2.0), BgNbdRule(PARAMS, threshold=0.5)],
    ids=["fixed_90", "fixed_0", "cadence", "bgnbd"],
)
@pytest.mark.parametrize("history", [days(0), days(0, 20), days(0, 20, 50), days(0, 1, 2, 3, 100)])
def test_every_rule_is_lapsed_from_its_lapse_at_day_on_and_not_before(rule, history):
    lapse_at = rule.lapse_at(history)
    assert lapse_at > max(history)
    assert not rule.is_lapsed(history, lapse_at - timedelta(days=1))
    assert rule.is_lapsed(history, lapse_at)
    assert rule.is_lapsed(history, lapse_at + timedelta(days=400))


@pytest.mark.parametrize(
    "rule", [FixedWindowRule(90), CadenceRule(k=2.0), BgNbdRule(PARAMS)], ids=["fixed", "cadence", "bgnbd"]
)
def test_a_purchase_after_the_as_of_day_is_refused_rather_than_silently_used(rule):
    with pytest.raises(ValueError, match="after as_of"):
        rule.is_lapsed(days(0, 10, 20), D0 + timedelta(days=15))


@pytest.mark.parametrize(
    "rule", [FixedWindowRule(90), CadenceRule(k=2.0), BgNbdRule(PARAMS)], ids=["fixed", "cadence", "bgnbd"]
)
def test_a_customer_without_purchases_has_no_lapse_date(rule):
    with pytest.raises(ValueError, match="at least one purchase"):
        rule.lapse_at([])


@pytest.mark.parametrize(
    "make",
    [
        lambda: FixedWindowRule(-1),
        lambda: CadenceRule(k=0),
        lambda: CadenceRule(k=2.0, min_purchase_days=1),
        lambda: BgNbdRule(PARAMS, threshold=0.0),
        lambda: BgNbdRule(PARAMS, threshold=1.0),
    ],
    ids=["negative_window", "zero_k", "cadence_without_gaps", "threshold_0", "threshold_1"],
)
def test_nonsensical_rule_parameters_are_refused(make):
    with pytest.raises(ValueError):
        make()
