"""Reconciling messages whose outcome is `unknown`: record them as sent, or send them again, once.

A crash (or a timeout) after a ledger row moved to `sending` leaves it `unknown`: the provider may or may
not have the message. This service gathers what the provider side knows (Twilio's Messages list for SMS;
for email, whether SendGrid's event webhook is live), asks the pure `aftercare.domain.reconcile.judge`, and
applies its verdict:

- Found: the row becomes `sent` with the provider's id, and the step's `<step>_sent` chain fires.
- Resend: one conditional update moves the row `unknown` -> `reserved` and counts the resend
  (`WHERE status = 'unknown' AND resends = <seen>`), and re-opens its step, due now, in the same transaction;
  of two reconcilers only one can win it. The sweep then decides the step again (a customer who
  unsubscribed or cancelled in the meantime gets nothing), renders, moves the row `reserved` -> `sending`
  (conditional again) and sends it on the same ledger row: same ledger id, same `aftercare_message_id`.
- Hold: listed for the operator (`aftercare reconcile --resend` sends them); Wait: looked at next run.

Reports carry ledger ids, steps and reasons only: no address or number.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from aftercare.clock import Clock, as_utc
from aftercare.db.models import Customer, InboxEvent, Message, ScheduledStep
from aftercare.db.models import Journey as JourneyRow
from aftercare.domain.reconcile import Found, Hold, ProviderView, Resend, UnknownMessage, Verdict, Wait, Windows, judge
from aftercare.domain.vocabulary import Channel, MessageStatus, StepStatus
from aftercare.journeys import events
from aftercare.journeys.journey import Journey
from aftercare.providers.base import SendError, SmsLookup, SmsSender
from aftercare.services import scheduler
from aftercare.services.reports import SweepReport
from aftercare.services.sweep import Sweeper

log = logging.getLogger(__name__)

SKEW = timedelta(minutes=10)  # our clock against the provider's, either way, when matching by time
RESEND_REASON = "resend_after_unknown"


@dataclass(frozen=True)
class Listed:
    ledger_id: int
    step: str
    channel: str
    age: timedelta
    reason: str


@dataclass
class ReconcileReport:
    found: list[Listed] = field(default_factory=list)  # recorded as sent, with the provider's id
    resent: list[Listed] = field(default_factory=list)  # rows this run re-opened (and swept)
    held: list[Listed] = field(default_factory=list)  # for the operator
    waiting: list[Listed] = field(default_factory=list)  # too early to tell
    outcomes: dict[int, str] = field(default_factory=dict)  # resent row -> its status after the sweep
    sweep: SweepReport = field(default_factory=SweepReport)

    @property
    def found_ids(self) -> list[int]:
        return [f.ledger_id for f in self.found]

    @property
    def resent_ids(self) -> list[int]:
        return [r.ledger_id for r in self.resent]

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found_ids, "resent": self.resent_ids,
            "after_resend": {str(k): v for k, v in self.outcomes.items()},
            "held": [{"ledger_id": h.ledger_id, "step": h.step, "channel": h.channel, "reason": h.reason}
                     for h in self.held],
            "waiting": len(self.waiting),
        }


def windows_from(settings: Any) -> Windows:
    return Windows(email=timedelta(hours=settings.reconcile_email_window_hours),
                   webhook_live=timedelta(hours=settings.reconcile_webhook_live_hours),
                   sms=timedelta(minutes=settings.reconcile_sms_after_minutes))


@dataclass
class Reconciler:
    session_factory: sessionmaker[Session]
    clock: Clock
    journey: Journey
    sweeper: Sweeper
    sms: SmsSender
    windows: Windows = field(default_factory=Windows)
    limit: int = 1000

    def run(self, *, resend: bool = False) -> ReconcileReport:
        """Reconcile every `unknown` row now; `resend` also sends the rows held for the operator."""
        now = self.clock.now()
        report = ReconcileReport()
        with self.session_factory() as session:
            rows = list(session.execute(
                select(Message.id, Message.channel, Message.customer_id, Message.journey_id, Message.step_id,
                       Message.step, Message.sent_at, Message.status_at, Message.resends, Message.body_digest)
                .where(Message.status == MessageStatus.UNKNOWN.value).order_by(Message.id).limit(self.limit)))
            last_event = session.scalar(select(InboxEvent.received_at).where(InboxEvent.source == "sendgrid")
                                        .order_by(InboxEvent.id.desc()).limit(1))
            phones = _phones(session, [r.customer_id for r in rows if r.channel == Channel.SMS.value])
        last_event = as_utc(last_event) if last_event is not None else None
        for row in rows:
            message = UnknownMessage(row.id, Channel(row.channel), as_utc(row.sent_at or row.status_at),
                                     int(row.resends or 0), row.body_digest)
            listed = Listed(row.id, row.step, row.channel, now - message.attempted_at, "")
            view = ProviderView(sendgrid_last_event_at=last_event)
            if message.channel is Channel.SMS and now - message.attempted_at >= self.windows.sms:
                try:
                    view = self._ask_sms(message, phones.get(row.customer_id))
                except SendError as exc:
                    log.warning("sms lookup failed ledger_id=%s error=%s", row.id, exc)
                    report.waiting.append(_with(listed, "sms_lookup_failed"))
                    continue
            verdict = judge(message, view, now, self.windows, operator_resend=resend)
            self._apply(row, message, verdict, listed, now, report)
        self._sweep_resent(report)
        log.info("reconciled unknown=%s found=%s resent=%s held=%s waiting=%s", len(rows), len(report.found),
                 len(report.resent), len(report.held), len(report.waiting))
        return report

    # Gathering -----------------------------------------------------------------------------------------
    def _ask_sms(self, message: UnknownMessage, phone: str | None) -> ProviderView:
        if not isinstance(self.sms, SmsLookup) or not phone:
            return ProviderView()
        seen = self.sms.lookup_sms(to=phone, sent_after=message.attempted_at - SKEW,
                                   sent_before=message.attempted_at + SKEW)
        ids = [s.provider_id for s in seen]
        with self.session_factory() as session:
            explained = set(session.scalars(select(Message.provider_message_id).where(
                Message.provider_message_id.in_(ids), Message.id != message.ledger_id))) if ids else set()
        return ProviderView(sms_candidates=tuple((s.provider_id, s.body_digest) for s in seen),
                            explained_ids=frozenset(i for i in explained if i))

    # Applying ------------------------------------------------------------------------------------------
    def _apply(self, row: Any, message: UnknownMessage, verdict: Verdict, listed: Listed, now: datetime,
               report: ReconcileReport) -> None:
        if isinstance(verdict, Wait):
            report.waiting.append(_with(listed, verdict.reason))
        elif isinstance(verdict, Hold):
            report.held.append(_with(listed, verdict.reason))
        elif isinstance(verdict, Found):
            if self._record_found(row, message, verdict.provider_id, now):
                report.found.append(_with(listed, "found"))
        elif isinstance(verdict, Resend):
            outcome = self.claim_resend(row.id, row.step_id, message.resends, now)
            if outcome == "claimed":
                report.resent.append(_with(listed, "operator" if verdict.by_operator else "automatic"))
                log.info("resend ledger_id=%s step=%s by_operator=%s", row.id, row.step, verdict.by_operator)
            elif outcome != "lost_race":
                report.held.append(_with(listed, outcome))

    def _record_found(self, row: Any, message: UnknownMessage, provider_id: str, now: datetime) -> bool:
        table = Message.__table__
        with self.session_factory() as session, session.begin():
            moved = session.execute(
                update(table).where(table.c.id == row.id, table.c.status == MessageStatus.UNKNOWN.value)
                .values(status=MessageStatus.SENT.value, provider_message_id=provider_id, provider=self.sms.name,
                        reason="reconciled_found", error_code=None, status_at=now)
            ).rowcount
            if moved and row.journey_id is not None and self.journey.triggered_by(events.sent(row.step)):
                journey = session.get(JourneyRow, row.journey_id)
                if journey is not None:
                    scheduler.fire(session, self.journey, journey, events.sent(row.step), message.attempted_at, now)
        return bool(moved)

    def claim_resend(self, ledger_id: int, step_id: int | None, seen_resends: int, now: datetime) -> str:
        """`unknown` -> `reserved` (counting the resend) and the step re-opened, or nothing: "claimed",
        "lost_race" (another reconciler took it, or a provider event settled it), or why the step cannot run."""
        messages, steps = Message.__table__, ScheduledStep.__table__
        with self.session_factory() as session:
            session.begin()
            moved = session.execute(
                update(messages)
                .where(messages.c.id == ledger_id, messages.c.status == MessageStatus.UNKNOWN.value,
                       messages.c.resends == seen_resends)
                .values(status=MessageStatus.RESERVED.value, resends=messages.c.resends + 1,
                        reason=RESEND_REASON, status_at=now)
            ).rowcount
            if not moved:
                session.rollback()
                return "lost_race"
            reopened = 0
            if step_id is not None:
                reopened = session.execute(
                    update(steps)
                    .where(steps.c.id == step_id,
                           steps.c.status.in_((StepStatus.DONE.value, StepStatus.PENDING.value)),
                           (steps.c.claimed_until.is_(None)) | (steps.c.claimed_until < now))
                    .values(status=StepStatus.PENDING.value, due_at=now, claimed_by=None, claimed_until=None,
                            last_outcome="resend", last_reason="outcome_unknown", updated_at=now)
                ).rowcount
            if not reopened:
                session.rollback()
                return "step_not_open"
            session.commit()
        return "claimed"

    def _sweep_resent(self, report: ReconcileReport) -> None:
        """Send the re-opened steps now, through one sweep (decide, render, `reserved` -> `sending`, send):
        in batches like any sweep, it also sends whatever else is due, which the next scheduled sweep would."""
        ids = report.resent_ids
        if not ids:
            return
        report.sweep = self.sweeper.run(worker_id=f"reconcile-{uuid.uuid4().hex[:8]}")
        self._settle_unsent(ids)
        with self.session_factory() as session:
            report.outcomes = dict(session.execute(
                select(Message.id, Message.status).where(Message.id.in_(ids))).all())

    def _settle_unsent(self, ledger_ids: list[int]) -> None:
        """A re-opened step the sweep decided not to send after all (cancelled, unsubscribed, expired) is
        done; its row, still `reserved`, is then skipped with the step's reason, not left waiting forever."""
        now = self.clock.now()
        messages, steps = Message.__table__, ScheduledStep.__table__
        with self.session_factory() as session, session.begin():
            done = session.execute(
                select(messages.c.id, steps.c.last_reason).join(steps, steps.c.id == messages.c.step_id)
                .where(messages.c.id.in_(ledger_ids), messages.c.status == MessageStatus.RESERVED.value,
                       steps.c.status == StepStatus.DONE.value, steps.c.last_outcome != "send")).all()
            for ledger_id, reason in done:
                session.execute(update(messages).where(messages.c.id == ledger_id,
                                                       messages.c.status == MessageStatus.RESERVED.value)
                                .values(status=MessageStatus.SKIPPED.value, reason=reason, status_at=now))


def _phones(session: Session, customer_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    return {cid: phone for cid, phone in session.execute(
        select(Customer.id, Customer.phone).where(Customer.id.in_(ids))) if phone}


def _with(listed: Listed, reason: str) -> Listed:
    return Listed(listed.ledger_id, listed.step, listed.channel, listed.age, reason)
