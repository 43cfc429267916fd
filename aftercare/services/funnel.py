"""The journey's funnel over the whole ledger: per step, sent per channel, deferred, skipped by reason."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.db.models import DecisionLog, Message, ScheduledStep
from aftercare.domain.vocabulary import Reason, StepStatus

_SENT = ("sent", "delivered", "opened", "clicked")


@dataclass
class FunnelRow:
    step: str
    sent: Counter[str] = field(default_factory=Counter)  # by channel
    deferred: int = 0  # how many defer decisions (quiet hours, frequency cap, retry)
    waiting: int = 0  # steps now waiting for an event (a recovery case to be resolved)
    pending: int = 0  # steps not yet due
    held_out: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    backfilled: int = 0  # imported history: due before the import, recorded and never sent

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def funnel(session: Session, step_order: list[str]) -> list[FunnelRow]:
    rows: dict[str, FunnelRow] = defaultdict(lambda: FunnelRow(""))

    def row(step: str) -> FunnelRow:
        r = rows[step]
        r.step = step
        return r

    for step, channel, status, reason, count in session.execute(
        select(Message.step, Message.channel, Message.status, Message.reason, func.count())
        .group_by(Message.step, Message.channel, Message.status, Message.reason)
    ):
        r = row(step)
        if status in _SENT:
            r.sent[channel] += count
        elif status == "held_out":
            r.held_out += count
        elif status in ("failed", "bounced"):
            r.failed += count
        elif status == "unknown":
            r.unknown += count
        elif status == "skipped":
            r.skipped[reason or "unspecified"] += count
    for step, count in session.execute(
        select(DecisionLog.step, func.count()).where(DecisionLog.outcome == "defer").group_by(DecisionLog.step)
    ):
        row(step).deferred += count
    for step, status, reason, count in session.execute(
        select(ScheduledStep.step, ScheduledStep.status, ScheduledStep.last_reason, func.count())
        # Steps not done yet, and steps skipped because the journey no longer has them (no ledger row counts those).
        .where((ScheduledStep.status != StepStatus.DONE.value)
               | ScheduledStep.last_reason.in_((Reason.UNKNOWN_STEP.value, Reason.BACKFILLED.value)))
        .group_by(ScheduledStep.step, ScheduledStep.status, ScheduledStep.last_reason)
    ):
        r = row(step)
        if status == StepStatus.DONE.value and reason == Reason.BACKFILLED.value:
            r.backfilled += count
        elif status == StepStatus.DONE.value:
            r.skipped[reason or "unspecified"] += count
        elif status == StepStatus.CANCELLED.value:
            r.skipped[reason or "cancelled"] += count
        elif status == StepStatus.WAITING.value:
            r.waiting += count
        elif status == StepStatus.PENDING.value:
            r.pending += count
    order = {name: i for i, name in enumerate(step_order)}
    return sorted(rows.values(), key=lambda r: order.get(r.step, len(order)))
