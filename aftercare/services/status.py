"""The journey's health at a glance: queue depth by step, the oldest overdue step (lag), failures waiting, and
service-recovery cases left open past the recovery window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import InboxEvent, Message, ScheduledStep
from aftercare.domain.vocabulary import StepStatus
from aftercare.services.recovery import CaseView, overdue_cases

UNKNOWN_SHOWN = 20
# Messages that need a person or a reconciliation: the provider refused them, or we cannot know if they left.
_ATTENTION = ("failed", "bounced", "unknown", "sending")


@dataclass(frozen=True)
class QueueRow:
    step: str
    pending: int  # open, not yet due
    due: int  # due now and not sent yet: the sweep's backlog
    waiting: int  # waiting for an event (a recovery case)
    claimed: int  # held by a running sweep (lease not expired)
    oldest_due_at: datetime | None


@dataclass(frozen=True)
class Overdue:
    step_id: int
    journey_id: int
    order_id: int
    step: str
    due_at: datetime
    lag: timedelta


@dataclass(frozen=True)
class UnknownOutcome:
    """A message whose outcome is unknown, waiting for `aftercare reconcile` (ids only)."""

    ledger_id: int
    step: str
    channel: str
    age: timedelta  # since the send was attempted
    resends: int
    reason: str | None


@dataclass
class Status:
    now: datetime
    queue: list[QueueRow]
    oldest_overdue: Overdue | None
    failures: dict[str, int] = field(default_factory=dict)  # "<status>:<reason>" -> count
    retrying: int = 0  # ledger rows reserved again after a transient error
    inbox_unapplied: int = 0
    inbox_errors: int = 0
    recovery_overdue: list[CaseView] = field(default_factory=list)  # open past the recovery window
    unknown: list[UnknownOutcome] = field(default_factory=list)  # the oldest first, at most UNKNOWN_SHOWN
    unknown_total: int = 0

    @property
    def due_total(self) -> int:
        return sum(r.due for r in self.queue)


def _queue(session: Session, now: datetime) -> list[QueueRow]:
    steps = ScheduledStep
    pending = StepStatus.PENDING.value

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    is_due = (steps.status == pending) & (steps.due_at <= now)
    rows = session.execute(
        select(
            steps.step,
            count((steps.status == pending) & (steps.due_at > now)),
            count(is_due),
            count(steps.status == StepStatus.WAITING.value),
            count(steps.claimed_until.is_not(None) & (steps.claimed_until > now)),
            func.min(case((is_due, steps.due_at), else_=None)),
        )
        .where(steps.status.in_((pending, StepStatus.WAITING.value)))
        .group_by(steps.step)
    )
    return [QueueRow(step, int(p or 0), int(d or 0), int(w or 0), int(c or 0), _aware(oldest))
            for step, p, d, w, c, oldest in rows]


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns MIN() over a CASE as text
        value = datetime.fromisoformat(value)
    return as_utc(value)


def status(session: Session, now: datetime, step_order: list[str] | None = None,
           recovery_window: timedelta | None = None) -> Status:
    steps = ScheduledStep
    is_due = (steps.status == StepStatus.PENDING.value) & (steps.due_at <= now)
    queue = _queue(session, now)
    order = {name: i for i, name in enumerate(step_order or [])}
    queue.sort(key=lambda r: (order.get(r.step, len(order)), r.step))
    oldest = session.execute(
        select(steps.id, steps.journey_id, steps.order_id, steps.step, steps.due_at)
        .where(is_due).order_by(steps.due_at).limit(1)
    ).first()
    overdue = None
    if oldest is not None:
        due_at = as_utc(oldest.due_at)
        overdue = Overdue(oldest.id, oldest.journey_id, oldest.order_id, oldest.step, due_at, now - due_at)
    failures = {
        f"{st}:{reason or '-'}": int(n)
        for st, reason, n in session.execute(
            select(Message.status, Message.reason, func.count()).where(Message.status.in_(_ATTENTION))
            .group_by(Message.status, Message.reason)
        )
    }
    retrying = int(session.scalar(select(func.count()).select_from(Message).where(
        Message.status == "reserved", Message.reason == "transient_error")) or 0)
    unapplied = InboxEvent.applied_at.is_(None)
    inbox_unapplied = int(session.scalar(select(func.count()).select_from(InboxEvent).where(unapplied)) or 0)
    inbox_errors = int(session.scalar(select(func.count()).select_from(InboxEvent)
                                      .where(unapplied, InboxEvent.error.is_not(None))) or 0)
    recovery = overdue_cases(session, now, recovery_window) if recovery_window is not None else []
    unknown_total = int(session.scalar(select(func.count()).select_from(Message)
                                       .where(Message.status == "unknown")) or 0)
    unknown = [
        UnknownOutcome(i, step, channel, now - as_utc(sent_at or status_at), int(resends or 0), reason)
        for i, step, channel, sent_at, status_at, resends, reason in session.execute(
            select(Message.id, Message.step, Message.channel, Message.sent_at, Message.status_at, Message.resends,
                   Message.reason).where(Message.status == "unknown").order_by(Message.id).limit(UNKNOWN_SHOWN))
    ] if unknown_total else []
    return Status(now, queue, overdue, failures, retrying, inbox_unapplied, inbox_errors, recovery, unknown,
                  unknown_total)
