"""The daily win-back scan: every customer whose newest order was delivered has an open `winback_1` step.

Delivery events already schedule win-back; the scan repairs what events cannot (a data import, a lost
webhook, a changed lapse setting): for each customer whose newest order is delivered and who has no
`winback_1` step on that order's journey, it creates that one step, due the configured lapse after
delivery (never the other steps delivery schedules: an imported order must not get a delivered notice).
Idempotent (a step that exists, open or done, is left alone) and batched by customer id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Journey as JourneyRow
from aftercare.db.models import Order, ScheduledStep, Shipment
from aftercare.domain.journey import WINBACK_1, Journey, Trigger
from aftercare.domain.vocabulary import StepStatus


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
    """Schedule missing `winback_1` steps; returns how many were created. The caller commits."""
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
                                                 ScheduledStep.step == WINBACK_1)
        ))
        missing = [o for o in delivered if o not in has_step]
        offset = _lapse(journey)
        for row in session.scalars(select(JourneyRow).where(JourneyRow.order_id.in_(missing))):
            due = as_utc(delivered[row.order_id]) + offset
            session.add(ScheduledStep(
                journey_id=row.id, customer_id=row.customer_id, order_id=row.order_id, step=WINBACK_1,
                status=StepStatus.PENDING.value, trigger=Trigger.DELIVERED, due_at=due,
                first_due_at=due, updated_at=now, attempts=0,
            ))
            created += 1
        session.flush()


def _lapse(journey: Journey) -> timedelta:
    """How long after delivery `winback_1` is due, from the journey table (so settings tune it)."""
    for spec, offset in journey.triggered_by(Trigger.DELIVERED):
        if spec.name == WINBACK_1:
            return offset
    raise LookupError("the journey has no winback_1 step triggered by delivery")
