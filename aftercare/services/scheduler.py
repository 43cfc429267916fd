"""Turning events into due times: the journey table says which steps an event schedules, and when.

A new trigger for a step that is still pending or waiting moves its due time (a happy CSAT brings the
review request forward, a resolved recovery releases it); the same trigger repeated changes nothing, so
replayed webhooks are harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aftercare.db.models import Journey as JourneyRow
from aftercare.db.models import ScheduledStep
from aftercare.domain.journey import Journey
from aftercare.domain.vocabulary import StepStatus

OPEN = (StepStatus.PENDING.value, StepStatus.WAITING.value)


def fire(session: Session, journey: Journey, row: JourneyRow, trigger: str, at: datetime, now: datetime) -> list[str]:
    """Schedule (or move) every step `trigger` names for this journey. Returns the steps touched."""
    wanted = journey.triggered_by(trigger)
    if not wanted:
        return []
    names = [spec.name for spec, _ in wanted]
    existing = {
        s.step: s
        for s in session.scalars(
            select(ScheduledStep).where(ScheduledStep.journey_id == row.id, ScheduledStep.step.in_(names))
        )
    }
    touched: list[str] = []
    for spec, offset in wanted:
        due = at + offset
        step = existing.get(spec.name)
        if step is None and spec.per_customer and _customer_has(session, row.customer_id, spec.name, due):
            continue  # one per customer per cycle: a second order must not double a points reminder
        if step is None:
            session.add(
                ScheduledStep(
                    journey_id=row.id, customer_id=row.customer_id, order_id=row.order_id, step=spec.name,
                    status=StepStatus.PENDING.value, trigger=trigger, due_at=due, first_due_at=due,
                    updated_at=now, attempts=0,
                )
            )
            touched.append(spec.name)
        elif step.status in OPEN and step.trigger != trigger:
            step.trigger = trigger
            step.status = StepStatus.PENDING.value
            step.due_at = due
            step.first_due_at = due
            step.claimed_by = None
            step.claimed_until = None
            step.updated_at = now
            touched.append(spec.name)
    session.flush()
    return touched


def _customer_has(session: Session, customer_id: int, step: str, due: datetime) -> bool:
    return session.scalar(
        select(ScheduledStep.id).where(
            ScheduledStep.customer_id == customer_id, ScheduledStep.step == step, ScheduledStep.first_due_at == due
        ).limit(1)
    ) is not None


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
