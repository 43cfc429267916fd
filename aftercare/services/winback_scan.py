"""The daily scan: every customer whose newest order was delivered has each of the journey's backfill steps.

Delivery events already schedule them; the scan repairs what events cannot (a data import, a lost webhook,
a changed lapse setting): for each customer whose newest order is delivered and who has no such step on
that order's journey, it creates that one step (in the default journey `winback_1`, `backfill=True`), due
its offset after delivery (never the other steps delivery schedules: an imported order must not get a
delivered notice).
Idempotent (a step that exists, open or done, is left alone) and batched by customer id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Journey as JourneyRow
from aftercare.db.models import Order, ScheduledStep, Shipment
from aftercare.domain.vocabulary import StepStatus
from aftercare.journeys import events
from aftercare.journeys.journey import Journey
from aftercare.journeys.step import Step


def _newest_orders(session: Session, after_customer: int, limit: int) -> list[tuple[int, int]]:
    """(customer_id, newest order id) for the next `limit` customers after `after_customer`."""
    newest = (
        select(Order.customer_id, func.max(Order.placed_at).label("placed_at"))
        .where(Order.customer_id > after_customer)
        .group_by(Order.customer_id)
        .order_by(Order.customer_id)
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        select(Order.customer_id, func.max(Order.id))
        .join(newest, (newest.c.customer_id == Order.customer_id) & (newest.c.placed_at == Order.placed_at))
        .group_by(Order.customer_id)
        .order_by(Order.customer_id)
    )
    return [(int(c), int(o)) for c, o in rows]


def rescan(session: Session, journey: Journey, now: datetime, *, batch_size: int = 1000) -> int:
    """Schedule the missing backfill steps; returns how many were created. The caller commits."""
    created = 0
    for spec, offset in _backfilled(journey):
        created += _rescan_step(session, spec, offset, now, batch_size)
    return created


def _rescan_step(session: Session, spec: Step, offset: timedelta, now: datetime, batch_size: int) -> int:
    created = 0
    after = 0
    while True:
        batch = _newest_orders(session, after, batch_size)
        if not batch:
            return created
        after = batch[-1][0]
        order_ids = [o for _, o in batch]
        delivered = dict(session.execute(
            select(Shipment.order_id, func.max(Shipment.delivered_at))
            .join(Order, Order.id == Shipment.order_id)
            .where(Shipment.order_id.in_(order_ids), Shipment.delivered_at.is_not(None), Order.status != "cancelled")
            .group_by(Shipment.order_id)
        ).all())
        if not delivered:
            continue
        has_step = set(session.scalars(
            select(ScheduledStep.order_id).where(ScheduledStep.order_id.in_(delivered),
                                                 ScheduledStep.step == spec.name)
        ))
        missing = [o for o in delivered if o not in has_step]
        for row in session.scalars(select(JourneyRow).where(JourneyRow.order_id.in_(missing))):
            due = as_utc(delivered[row.order_id]) + offset
            session.add(ScheduledStep(
                journey_id=row.id, customer_id=row.customer_id, order_id=row.order_id, step=spec.name,
                scope=spec.scope.value, occurrence="", status=StepStatus.PENDING.value, trigger=events.DELIVERED,
                due_at=due, first_due_at=due, updated_at=now, attempts=0,
            ))
            created += 1
        session.flush()


def _backfilled(journey: Journey) -> list[tuple[Step, timedelta]]:
    """The journey's backfill steps and their offset after delivery (from the step, so settings tune it)."""
    return [(s, t.after) for s in journey.steps if s.backfill for t in s.triggers if t.event == events.DELIVERED]
