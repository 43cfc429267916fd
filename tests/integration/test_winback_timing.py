"""Win-back timed to the customer: winback_1 is due on the lapse day of the configured rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import ScheduledStep
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.winback.rules import BgNbdParams, BgNbdRule
from aftercare.winback.store import NotEnoughHistory, backtest_store
from tests.conftest import START, make_settings
from tests.journeys import a_customer, fulfil, place_order, track

RECORD = {
    "chosen": "cadence",
    "cadence": {"k": 2.0, "min_purchase_days": 3},
    "bgnbd": {
        "params": {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4, "unit_days": 7.0},
        "threshold": 0.3,
        "min_purchase_days": 3,
    },
}


def _services(home: Path, rule: str, record: dict | None = RECORD):
    if record is not None:
        (home / "winback_rule.json").write_text(json.dumps(record))
    clock = FrozenClock(START)
    return build_services(
        make_settings(home, winback_rule=rule), clock=clock, email=FakeEmailSender(), sms=FakeSmsSender()
    ), clock


def _winback_due(services, order_id: int):
    with services.session_factory() as session:
        return session.scalar(
            select(ScheduledStep.due_at).where(
                ScheduledStep.order_id == order_id, ScheduledStep.step == "winback_1"
            )
        )


def _history(services, clock, purchases: int, gap_days: int) -> int:
    """`purchases` orders by one customer, `gap_days` apart, ending now; the last is delivered now."""
    customer = a_customer(1)
    order_id = 0
    for n in range(1, purchases + 1):
        at = START - timedelta(days=gap_days * (purchases - n))
        order_id = place_order(services, n=n, customer=customer, at=at)
    fulfil(services, purchases)
    clock.advance(timedelta(days=2))
    track(services, "delivered", purchases)
    return order_id


def test_the_cadence_rule_times_winback_1_to_twice_the_customers_own_gap(tmp_path):
    services, clock = _services(tmp_path, "cadence")
    order_id = _history(services, clock, purchases=3, gap_days=10)
    delivered = clock.now()
    # last purchase START, median gap 10 days, k = 2: lapsed from START + 21 days, at delivery's time of day
    expected = (START + timedelta(days=21)).replace(hour=delivered.hour, minute=delivered.minute)
    assert _winback_due(services, order_id) == expected


def test_customers_with_too_few_purchase_days_keep_the_fixed_window(tmp_path):
    services, clock = _services(tmp_path, "cadence")
    order_id = _history(services, clock, purchases=2, gap_days=10)
    assert _winback_due(services, order_id) == clock.now() + timedelta(days=90)


def test_the_fixed_setting_ignores_any_recorded_fit(tmp_path):
    services, clock = _services(tmp_path, "fixed")
    order_id = _history(services, clock, purchases=3, gap_days=10)
    assert _winback_due(services, order_id) == clock.now() + timedelta(days=90)


def test_a_model_without_a_recorded_fit_falls_back_to_the_fixed_window(tmp_path):
    services, clock = _services(tmp_path, "bgnbd", record=None)
    order_id = _history(services, clock, purchases=3, gap_days=10)
    assert _winback_due(services, order_id) == clock.now() + timedelta(days=90)


def test_the_bgnbd_rule_times_winback_1_from_the_recorded_parameters(tmp_path):
    services, clock = _services(tmp_path, "bgnbd")
    order_id = _history(services, clock, purchases=3, gap_days=20)
    rule = BgNbdRule(BgNbdParams(**RECORD["bgnbd"]["params"]), threshold=0.3)
    lapse_day = rule.lapse_at([(START - timedelta(days=d)).date() for d in (0, 20, 40)])
    expected = datetime.combine(lapse_day, clock.now().timetz())
    assert _winback_due(services, order_id) == expected
    assert expected != clock.now() + timedelta(days=90)


def test_a_store_without_enough_repeat_customers_is_not_fitted(tmp_path):
    services, clock = _services(tmp_path, "fixed", record=None)
    _history(services, clock, purchases=3, gap_days=10)
    with services.session_factory() as session:
        result = backtest_store(session)
    assert isinstance(result, NotEnoughHistory) and result.customers <= 1


def test_a_store_with_enough_history_is_backtested_on_its_own_orders_and_the_fit_loads(tmp_path):
    import random
    from decimal import Decimal

    from sqlalchemy import insert

    from aftercare.db.models import Customer, Order
    from aftercare.winback.store import choice_record, load_rule, save_choice

    services, _ = _services(tmp_path, "fixed", record=None)
    rng = random.Random(3)
    customers, orders = [], []
    start = START - timedelta(days=720)
    for c in range(1, 401):
        customers.append({"id": c, "external_id": f"c{c}", "created_at": start})
        # BG/NBD's own story: purchases at a customer's own rate, dropping out after any purchase.
        rate_days = rng.gammavariate(2.0, 20.0)
        drop = rng.betavariate(1.0, 4.0)
        at = start + timedelta(days=rng.randint(0, 60))
        while at < START:
            orders.append(
                {
                    "external_id": f"o{len(orders)}",
                    "number": str(len(orders)),
                    "customer_id": c,
                    "placed_at": at,
                    "subtotal": Decimal(10),
                    "total": Decimal(10),
                    "status": "delivered",
                }
            )
            if rng.random() < drop:
                break
            at += timedelta(days=1 + int(rng.expovariate(1 / rate_days)))
    with services.session_factory() as session, session.begin():
        session.execute(insert(Customer), customers)
        session.execute(insert(Order), orders)
    with services.session_factory() as session:
        report = backtest_store(session, weeks=13)
    assert not isinstance(report, NotEnoughHistory), report
    record = choice_record(report, START)
    path = tmp_path / "winback_rule.json"
    save_choice(path, record)
    assert record["chosen"] in ("fixed_90d", "cadence", "bgnbd")
    assert load_rule("bgnbd", path, 90) is not None and load_rule("cadence", path, 90) is not None
    assert load_rule("fixed", path, 90) is None
