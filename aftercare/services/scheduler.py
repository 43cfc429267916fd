"""Turning events into due times: each step says which events schedule it and when (`Step.triggers`).

A new trigger for a step that is still pending or waiting moves its due time (a happy CSAT brings the
review request forward, a resolved recovery releases it); the same trigger repeated changes nothing, so
replayed webhooks are harmless. Each scheduled row is one occurrence: per order, per customer, or per item
(one row per order line), and a repeating step gets one row per occurrence key (the new tier).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aftercare.db.models import DecisionLog, OrderItem, ScheduledStep
from aftercare.db.models import Journey as JourneyRow
from aftercare.domain.state import ItemState
from aftercare.domain.vocabulary import Reason, Scope, StepStatus
from aftercare.journeys.events import Event
from aftercare.journeys.journey import Journey

OPEN = (StepStatus.PENDING.value, StepStatus.WAITING.value)
BACKFILL = "backfill"  # the outcome recorded for a step an import found already past its time


def fire(session: Session, journey: Journey, row: JourneyRow, trigger: str | Event, at: datetime | None = None,
         now: datetime | None = None, *, backfill_until: datetime | None = None) -> list[str]:
    """Schedule (or move) every step the event triggers for this journey. Returns the steps touched.

    `backfill_until` is set by a history import (its "now"): a step due by then is history, not work. It is
    settled at once as `backfilled` (a decision in the log, never a message), so a sweep never claims it;
    a step due later is scheduled as any other.
    """
    event = trigger if isinstance(trigger, Event) else Event(trigger, at)  # type: ignore[arg-type]
    now = now or event.at
    wanted = journey.triggered_by(event.name)
    if not wanted:
        return []
    names = [spec.name for spec, _ in wanted]
    existing = {
        (s.step, s.occurrence or ""): s
        for s in session.scalars(
            select(ScheduledStep).where(ScheduledStep.journey_id == row.id, ScheduledStep.step.in_(names))
        )
    }
    items: tuple[ItemState, ...] | None = None
    touched: list[str] = []
    backfilled: list[ScheduledStep] = []
    for spec, on in wanted:
        if spec.scope is Scope.ITEM:
            if items is None:
                items = _items(session, row.order_id)
            occurrences = [Event(event.name, event.at, event.data, item) for item in items]
        else:
            occurrences = [event]
        for ev in occurrences:
            due = on.due_at(ev)
            if due is None:
                continue
            occurrence = spec.occurrence_of(ev)
            step = existing.get((spec.name, occurrence))
            if step is None and spec.scope is Scope.CUSTOMER and _customer_has(
                    session, row.customer_id, spec.name, occurrence, None if occurrence else due):
                continue  # one per customer (per occurrence): a second order must not double a reminder
            if step is None:
                step = ScheduledStep(
                    journey_id=row.id, customer_id=row.customer_id, order_id=row.order_id, step=spec.name,
                    scope=spec.scope.value, occurrence=occurrence, item=ev.item.product_id if ev.item else None,
                    payload=_jsonable(event.data) or None,
                    status=StepStatus.PENDING.value, trigger=event.name, due_at=due, first_due_at=due,
                    updated_at=now, attempts=0,
                )
                session.add(step)
                existing[(spec.name, occurrence)] = step
                touched.append(spec.name)
            elif step.status in OPEN and step.trigger != event.name:
                step.trigger = event.name
                step.status = StepStatus.PENDING.value
                step.due_at = due
                step.first_due_at = due
                step.claimed_by = None
                step.claimed_until = None
                step.updated_at = now
                touched.append(spec.name)
            else:
                continue
            if backfill_until is not None and due <= backfill_until and not spec.decides_own_time:
                backfilled.append(step)
    session.flush()
    for step in backfilled:
        _backfill(session, step, now)
    if backfilled:
        session.flush()
    return touched


def _backfill(session: Session, step: ScheduledStep, now: datetime) -> None:
    """Settle a step whose time passed before the order reached us: done, reason `backfilled`, logged."""
    step.status = StepStatus.DONE.value
    step.last_outcome, step.last_reason = BACKFILL, Reason.BACKFILLED.value
    step.claimed_by, step.claimed_until = None, None
    session.add(DecisionLog(step_id=step.id, journey_id=step.journey_id, step=step.step, decided_at=now,
                            due_at=step.due_at, outcome=BACKFILL, reason=Reason.BACKFILLED.value))


def _items(session: Session, order_id: int) -> tuple[ItemState, ...]:
    """One event per distinct product of the order (a per-item step is about a product, not a quantity)."""
    rows = session.execute(select(OrderItem.product_id, OrderItem.title, OrderItem.category, OrderItem.quantity)
                           .where(OrderItem.order_id == order_id).order_by(OrderItem.id))
    seen: dict[str, ItemState] = {}
    for product_id, title, category, quantity in rows:
        seen.setdefault(product_id, ItemState(product_id, title, category, quantity))
    return tuple(seen.values())


def _jsonable(data: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(data).items()}


def _customer_has(session: Session, customer_id: int, step: str, occurrence: str, due: datetime | None) -> bool:
    query = select(ScheduledStep.id).where(ScheduledStep.customer_id == customer_id, ScheduledStep.step == step,
                                           ScheduledStep.occurrence == occurrence)
    if due is not None:
        query = query.where(ScheduledStep.first_due_at == due)
    return session.scalar(query.limit(1)) is not None


def cancel_for(session: Session, journey: Journey, event: str, *, customer_id: int, now: datetime,
               except_journey_id: int | None = None) -> int:
    """Stop, at once, the open steps that `event` cancels (`cancelled_by=`), each with the step's reason."""
    total = 0
    for reason, steps in journey.cancelled_by(event).items():
        total += cancel_steps(session, customer_id=customer_id, steps=steps, reason=reason, now=now,
                              except_journey_id=except_journey_id)
    return total


def cancel_steps(
    session: Session, *, customer_id: int, steps: Iterable[str], reason: str, now: datetime,
    except_journey_id: int | None = None,
) -> int:
    """Stop open steps at once (a new order stops win-back). Returns how many were cancelled."""
    stmt = (
        update(ScheduledStep)
        .where(
            ScheduledStep.customer_id == customer_id,
            ScheduledStep.step.in_(list(steps)),
            ScheduledStep.status.in_(OPEN),
        )
        .values(status=StepStatus.CANCELLED.value, last_outcome="cancel", last_reason=reason, updated_at=now,
                claimed_by=None, claimed_until=None)
    )
    if except_journey_id is not None:
        stmt = stmt.where(ScheduledStep.journey_id != except_journey_id)
    result = session.execute(stmt)
    return int(result.rowcount or 0)


def release_held(session: Session, *, customer_id: int, reason: str, at: datetime, now: datetime) -> int:
    """Bring forward the customer's pending steps last deferred for `reason` (a resolved recovery case releases
    the promotions it held): they are due at `at` and decided afresh. Returns how many were moved."""
    result = session.execute(
        update(ScheduledStep)
        .where(
            ScheduledStep.customer_id == customer_id,
            ScheduledStep.status == StepStatus.PENDING.value,
            ScheduledStep.last_reason == reason,
            ScheduledStep.due_at > at,
        )
        .values(due_at=at, updated_at=now)
    )
    return int(result.rowcount or 0)
