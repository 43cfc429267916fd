"""Points per currency through ingest and the sweep: earned, goodwill, thresholds, expiring <= balance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Customer, Order, RecoveryCase
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.settings import JourneyTimings
from tests.conftest import START, make_settings, run_until
from tests.journeys import a_customer, answer_csat, fulfil, place_order, track


@pytest.fixture
def won_store(tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender) -> Iterator[Services]:
    timings = JourneyTimings(points_by_currency={"KRW": {"goodwill": 3000}})
    built = build_services(make_settings(tmp_path, journey=timings), clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


def customer_and_order(services: Services, order_id: int) -> tuple[Customer, Order]:
    with services.session_factory() as session:
        order = session.get(Order, order_id)
        assert order is not None
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        session.expunge_all()
        return customer, order


def test_a_won_order_earns_comparable_points_and_a_won_apology_gives_the_won_goodwill(
    won_store: Services, clock: FrozenClock, email: FakeEmailSender
) -> None:
    korean = a_customer(1, locale="ko", timezone="Asia/Seoul", region="KR", phone="+821055551234")
    order_id = place_order(won_store, customer=korean, currency="KRW", subtotal=Decimal("214110"),
                           total=Decimal("214110"))
    dollar_id = place_order(won_store, n=2, total=Decimal("150.00"))
    assert customer_and_order(won_store, order_id)[1].points_earned == 152
    assert customer_and_order(won_store, dollar_id)[1].points_earned == 150
    fulfil(won_store)
    track(won_store, "delivered")
    answer_csat(won_store, order_id, 1)
    run_until(won_store, clock, clock.now() + timedelta(hours=2))
    with won_store.session_factory() as session:
        case = session.scalar(select(RecoveryCase).where(RecoveryCase.order_id == order_id))
        assert case is not None and case.goodwill_points == 3000
    customer, _ = customer_and_order(won_store, order_id)
    assert customer.points_balance == 152 + 3000
    apology = next(m for m in email.sent if m.step == "service_recovery")
    assert "3,000" in apology.html


def test_points_expiring_are_never_stored_above_the_balance(services: Services) -> None:
    customer = a_customer(1, points_balance=100, points_expiring=250, points_expire_at=START + timedelta(days=40))
    order_id = place_order(services, customer=customer, total=Decimal("0"))
    stored, _ = customer_and_order(services, order_id)
    assert stored.points_balance == 100 and stored.points_expiring == 100
