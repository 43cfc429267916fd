"""The checkpoint of an import (`import_runs`) and the summary of what it did to the journeys.

An unfinished run with the same key is resumed: its phase and cursor say where to go on. The summary counts,
per step, what the imported orders' journeys hold now: backfilled (history, never sent), scheduled (still
ahead, sent by the sweep when due) and cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.db.models import ImportRun, ScheduledStep
from aftercare.db.models import Journey as JourneyRow
from aftercare.domain.vocabulary import Reason, StepStatus


def start_or_resume(session: Session, *, source: str, key: str, first_phase: str, now: datetime) -> ImportRun:
    """The unfinished run for `key`, or a new one starting at `first_phase`. The caller commits."""
    run = session.scalar(select(ImportRun).where(ImportRun.key == key, ImportRun.status == "running")
                         .order_by(ImportRun.id.desc()).limit(1))
    if run is None:
        run = ImportRun(source=source, key=key[:200], status="running", phase=first_phase, cursor=None, pages=0,
                        counts={}, started_at=now, updated_at=now)
        session.add(run)
        session.flush()
    return run


def add_counts(run: ImportRun, counts: dict[str, int]) -> None:
    merged = dict(run.counts or {})
    for name, value in counts.items():
        merged[name] = int(merged.get(name, 0)) + value
    run.counts = merged  # a new dict: the JSON column sees the change


@dataclass
class StepSummary:
    step: str
    backfilled: int = 0
    scheduled: int = 0  # pending or waiting: the sweep decides it when due
    cancelled: int = 0
    next_due: datetime | None = None


@dataclass
class ImportSummary:
    counts: dict[str, Any]
    steps: list[StepSummary] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row or record id, reason), no personal data
    resumed: bool = False

    @property
    def backfilled(self) -> int:
        return sum(s.backfilled for s in self.steps)

    @property
    def scheduled(self) -> int:
        return sum(s.scheduled for s in self.steps)


def step_summary(session: Session, step_order: list[str], since: datetime) -> list[StepSummary]:
    """Per step, the journeys started since `since` (the run's start): backfilled, scheduled, cancelled."""
    rows: dict[str, StepSummary] = {}
    query = (
        select(ScheduledStep.step, ScheduledStep.status, ScheduledStep.last_reason, func.count(),
               func.min(ScheduledStep.due_at))
        .join(JourneyRow, JourneyRow.id == ScheduledStep.journey_id)
        .where(JourneyRow.started_at >= since)
        .group_by(ScheduledStep.step, ScheduledStep.status, ScheduledStep.last_reason)
    )
    for step, status, reason, count, first_due in session.execute(query):
        row = rows.setdefault(step, StepSummary(step))
        if status == StepStatus.DONE.value and reason == Reason.BACKFILLED.value:
            row.backfilled += count
        elif status in (StepStatus.PENDING.value, StepStatus.WAITING.value):
            row.scheduled += count
            row.next_due = first_due if row.next_due is None else min(row.next_due, first_due)
        elif status == StepStatus.CANCELLED.value:
            row.cancelled += count
    order = {name: i for i, name in enumerate(step_order)}
    return sorted(rows.values(), key=lambda r: order.get(r.step, len(order)))
