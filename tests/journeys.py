"""Building orders and events for journey tests, through the same `Ingest` service the webhooks use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftercare.bootstrap import Services
from aftercare.db.models import Order
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.services.commands import ConsentIn, CustomerIn, FulfillmentIn, ItemIn, OrderIn

ALL = (
    ConsentIn(Channel.EMAIL, Purpose.MARKETING, True, "checkout"),
    ConsentIn(Channel.SMS, Purpose.TRANSACTIONAL, True, "checkout"),
    ConsentIn(Channel.SMS, Purpose.MARKETING, True, "checkout"),
)


def a_customer(n: int = 1, **overrides: Any) -> CustomerIn:
    values: dict[str, Any] = dict(external_id=f"c{n}", email=f"c{n}@example.com", phone=f"+1212555{n:04d}",
                                  first_name="Alex", locale="en", timezone="America/New_York", region="US",
                                  consents=ALL)
    values.update(overrides)
    return CustomerIn(**values)


def place_order(services: Services, *, n: int = 1, customer: CustomerIn | None = None,
                at: datetime | None = None, **overrides: Any) -> int:
    now = services.clock.now()
    values: dict[str, Any] = dict(
        external_id=f"o{n}", number=f"#{1000 + n}", customer=customer or a_customer(n), placed_at=at or now,
        items=(ItemIn("sku-a", "Espresso Machine", 1, Decimal("349.00"), "appliances"),
               ItemIn("sku-b", "Beans", 2, Decimal("24.50"), "coffee")),
        subtotal=Decimal("398.00"), total=Decimal("398.00"),
        shipping_address={"name": "Alex", "address1": "1 Main St", "city": "Springfield", "zip": "1",
                          "country_code": "US"},
        payment_summary="Visa ending 4242",
    )
    values.update(overrides)
    with services.session_factory() as session, session.begin():
        order: Order = services.ingest.record_order(session, OrderIn(**values), now)
        return order.id


def fulfil(services: Services, n: int = 1, *, promised_in: timedelta = timedelta(days=3)) -> None:
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.record_fulfillment(
            session, FulfillmentIn(f"s{n}", f"o{n}", now, "UPS", f"1Z{n:06d}", f"https://ups.example/{n}",
                                   now + promised_in), now)


def track(services: Services, status: str, n: int = 1) -> None:
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.record_tracking(session, shipment_external_id=f"s{n}", order_external_id=f"o{n}",
                                        status=status, at=now, now=now)


def answer_csat(services: Services, order_id: int, score: int) -> None:
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.record_csat(session, order_id=order_id, score=score, channel="sms", at=now, now=now)


def resolve(services: Services, order_id: int) -> None:
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.resolve_recovery(session, order_id=order_id, at=now, now=now)


class Crash(Exception):
    """A sweep killed mid-batch (see `crash_at`)."""


def crash_at(phase: str) -> Callable[[str], None]:
    """A sweeper fault that kills the sweep when it reaches `phase` (reserve, sending, sent...)."""
    def fault(current: str) -> None:
        if current == phase:
            raise Crash(phase)
    return fault


def kill_sweep_at(services: Services, clock: Any, phase: str) -> None:
    """Run a sweep that is killed at `phase`, then the next sweep after its lease ran out (which finds the rows
    left in `sending` and marks them `unknown`)."""
    services.sweeper.fault = crash_at(phase)
    with pytest.raises(Crash):
        services.sweeper.run()
    services.sweeper.fault = None
    clock.advance(services.sweeper.lease + timedelta(seconds=1))
    services.sweeper.run()
