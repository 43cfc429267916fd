"""Builders with keyword defaults: a test names only what matters to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aftercare.domain.decisions import DueStep, Policy
from aftercare.domain.state import CustomerState, OrderState
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.journeys import default_journey
from aftercare.journeys.default.merge import LOYALTY_MERGE, LoyaltyMerge

JOURNEY = default_journey()
NOON_NY = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 12:00 in New York, 02:00 next day in Seoul
ALL_CONSENTS = frozenset({(Channel.EMAIL, Purpose.MARKETING), (Channel.SMS, Purpose.MARKETING),
                          (Channel.SMS, Purpose.TRANSACTIONAL)})


def an_order(**overrides: Any) -> OrderState:
    base = OrderState(
        order_id=1, placed_at=NOON_NY - timedelta(days=10), product_ids=("sku-a", "sku-b"),
        fulfilled_at=NOON_NY - timedelta(days=9), promised_at=NOON_NY - timedelta(days=6),
        delivered_at=NOON_NY - timedelta(days=7),
    )
    return replace(base, **overrides)


def a_state(**overrides: Any) -> CustomerState:
    order = overrides.pop("order", None) or an_order()
    # The batch fact the default journey's loyalty steps read, as the sweep would load it.
    merge = overrides.pop("merge", None) or LoyaltyMerge()
    # Every other fact the journey's steps need, at its default unless the test gives it (`facts={...}`).
    facts = {f.name: f.default for f in JOURNEY.facts} | {LOYALTY_MERGE.name: merge} | overrides.pop("facts", {})
    base = CustomerState(
        customer_id=42, locale="en", timezone="America/New_York", order=order, email_valid=True,
        phone_valid=True, has_phone=True, consents=ALL_CONSENTS, facts=facts,
    )
    return replace(base, **overrides)


def due(step: str, at: datetime = NOON_NY, first_due: datetime | None = None) -> DueStep:
    return DueStep(JOURNEY.step(step), first_due or at, at)


POLICY = Policy()
