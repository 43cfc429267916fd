"""The sweep: claim due steps in batches, decide, render, reserve, send, record.

Exactly once, even under reruns, retries and concurrent sweeps:
1. Claim due steps with a lease (claimed_by / claimed_until); on Postgres with FOR UPDATE SKIP LOCKED.
2. Reserve: insert one ledger row per message with a unique idempotency key, and commit.
3. Move reserved rows to `sending` with a conditional UPDATE (only rows still `reserved`), and commit:
   only the rows this sweep moved are sent, so two sweeps can never both send one message.
4. Call the providers with no transaction open; then record the outcome and the provider id.
A crash between 3 and 4 leaves a row in `sending`: when its step is claimed again the row becomes
`unknown`, never blindly resent (aftercare/services/reconcile.py finds it at the provider or resends it
once). A crash before 3 leaves rows `reserved`, which are simply sent by the next sweep.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, String, bindparam, exists, literal_column, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from aftercare.clock import Clock
from aftercare.db.binds import member_of
from aftercare.db.models import Customer, Message, ScheduledStep
from aftercare.db.models import Journey as JourneyRow
from aftercare.db.records import records
from aftercare.db.types import UTCDateTime
from aftercare.domain.consent import ConsentSource
from aftercare.domain.decisions import Decision, Defer, DueStep, HoldOut, Policy, Send, Skip, Wait, decide
from aftercare.domain.vocabulary import Channel, MessageStatus, Reason, Scope, StepStatus
from aftercare.frozen import builder
from aftercare.journeys import events
from aftercare.journeys.facts import Fact, SentInBatch
from aftercare.journeys.journey import Journey
from aftercare.links import LinkSigner
from aftercare.providers.base import (
    EmailMessage,
    EmailSender,
    Outcome,
    PermanentSendError,
    SendResult,
    SmsMessage,
    SmsSender,
    TransientSendError,
    body_digest,
)
from aftercare.rendering.context import ProductView
from aftercare.services import scheduler
from aftercare.services.batch_state import BatchState, load_batch_state
from aftercare.services.ingest import Ingest
from aftercare.services.message_context import ContextSettings, build_context, choose_locale
from aftercare.services.render_pool import LocalBatch, RenderBatch, RenderFailed, RenderJob, RenderPool
from aftercare.services.reports import SweepReport

log = logging.getLogger(__name__)

_CLAIM_LOCK = 0x61667463  # "aftc": the advisory lock key claims take turns on (Postgres)

# The claimed steps' columns the sweep reads (named tuples, aftercare/db/records.py): not their status, trigger,
# lease end or last outcome, which it only writes.
STEP_COLUMNS = ("id", "journey_id", "customer_id", "order_id", "step", "scope", "occurrence", "item", "payload",
                "due_at", "first_due_at", "claimed_by", "attempts")

# The provider payloads, one per message, filled in one step instead of by their frozen __init__
# (aftercare/frozen.py).
_new_email = builder(EmailMessage)
_new_sms = builder(SmsMessage)

_FINAL = {
    MessageStatus.SENT.value, MessageStatus.DELIVERED.value, MessageStatus.OPENED.value,
    MessageStatus.CLICKED.value, MessageStatus.FAILED.value, MessageStatus.BOUNCED.value,
    MessageStatus.UNKNOWN.value, MessageStatus.HELD_OUT.value,
}


class Renderer(Protocol):
    def render_email(self, step: str, locale: str, ctx: Any) -> Any: ...
    def render_sms(self, step: str, locale: str, ctx: Any) -> Any: ...


CrossSell = Callable[[Session, BatchState, int, int], tuple[ProductView, ...]]


@dataclass
class _Planned:
    """One message this batch wants to exist in the ledger."""

    key: str
    step: Row[Any]
    channel: Channel
    status: MessageStatus  # reserved (to send), skipped, held_out
    reason: str | None = None
    template: str | None = None
    locale: str | None = None
    payload: EmailMessage | SmsMessage | None = None
    segments: int | None = None
    ledger_id: int | None = None


@dataclass
class Sweeper:
    session_factory: sessionmaker[Session]
    clock: Clock
    journey: Journey
    policy: Policy
    renderer: Renderer
    email: EmailSender
    sms: SmsSender
    links: LinkSigner
    context_settings: ContextSettings
    ingest: Ingest
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=5)
    cross_sell: CrossSell | None = None
    cross_sell_in_transactional: bool = False  # AFTERCARE_CROSS_SELL_IN_TRANSACTIONAL: off, none in transactional mail
    # Renders on other cores when set (AFTERCARE_SWEEP_RENDER_PROCESSES > 0); else in this process.
    render_pool: RenderPool | None = None
    # Test seam: called with a phase name ("reserved", "sending", "sent"); raise to simulate a crash there.
    fault: Callable[[str], None] | None = None
    _is_pg: bool = field(init=False, default=False)
    _dialect: str = field(init=False, default="sqlite")
    _claims: dict[tuple[int, bool, bool], Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        bind = self.session_factory.kw.get("bind")
        self._dialect = bind.dialect.name if bind is not None else "sqlite"
        self._is_pg = self._dialect == "postgresql"

    # Public API ---------------------------------------------------------------------------------------
    def run(self, *, worker_id: str = "sweep", max_batches: int | None = None, journey_id: int | None = None,
            batch_size: int | None = None) -> SweepReport:
        """Process due steps until none is left (or `max_batches`).

        The first batch also takes back steps this worker id still holds: a retried flow run (same id)
        resumes its own claims at once instead of waiting for their leases to run out.
        """
        total = SweepReport()
        batches = 0
        while max_batches is None or batches < max_batches:
            report = self.process_batch(worker_id=worker_id, journey_id=journey_id, batch_size=batch_size,
                                        reclaim_own=batches == 0)
            total.merge(report)
            batches += 1
            if report.claimed < (batch_size or self.batch_size):  # a short batch: nothing else is due
                break
        return total

    def process_batch(self, *, worker_id: str = "sweep", journey_id: int | None = None,
                      batch_size: int | None = None, reclaim_own: bool = False) -> SweepReport:
        if self.render_pool is None:
            return self._process_batch(worker_id, journey_id, batch_size, reclaim_own)
        self.render_pool.start()
        with self.render_pool.in_flight():  # the pool knows when this process has work besides rendering
            return self._process_batch(worker_id, journey_id, batch_size, reclaim_own)

    def _process_batch(self, worker_id: str, journey_id: int | None, batch_size: int | None,
                       reclaim_own: bool) -> SweepReport:
        now = self.clock.now()
        phases: Counter[str] = Counter()
        tick = _Stopwatch(phases)
        with self.session_factory() as session, session.begin():
            steps = self._claim(session, now, worker_id, batch_size or self.batch_size, journey_id, reclaim_own)
        tick("claim")
        report = SweepReport(batches=1, claimed=len(steps), phase_seconds=phases)
        if not steps:
            return report
        with self.session_factory() as session:
            batch = self._load(session, steps, now)
            tick("load")
            decisions = self._decide_all(steps, batch, now)
            tick("decide")
            planned = self._plan(session, steps, decisions, batch, now)
            tick("render")
        to_send = self._reserve(planned, decisions, now, report)
        tick("reserve")
        self._fault("reserved")
        to_send = self._mark_sending(to_send, now)
        tick("mark_sending")
        self._fault("sending")
        results = self._send(to_send)
        tick("send")
        self._fault("sent")
        self._record(steps, decisions, planned, results, now, report)
        tick("record")
        return report

    def has_due(self, now: datetime | None = None) -> bool:
        """Whether any step is due and unclaimed: a cheap check (one index probe) before starting work."""
        now = now or self.clock.now()
        with self.session_factory() as session:
            return session.execute(_due_ids(now).limit(1)).first() is not None

    def preview(self, journey_id: int, step: str | None = None) -> list[tuple[str, Decision]]:
        """Decide (without claiming, reserving or sending) what the open steps of one journey would do now."""
        now = self.clock.now()
        with self.session_factory() as session:
            query = select(*ScheduledStep.__table__.c).where(
                ScheduledStep.journey_id == journey_id,
                ScheduledStep.status.in_([StepStatus.PENDING.value, StepStatus.WAITING.value]),
            )
            if step:
                query = query.where(ScheduledStep.step == step)
            steps = list(session.execute(query.order_by(ScheduledStep.due_at)))
            if not steps:
                return []
            batch = self._load(session, steps, now)
        decisions = self._decide_all(steps, batch, now)
        return [(s.step, decisions[s.id]) for s in steps]

    # Phases -------------------------------------------------------------------------------------------
    def claim_statement(self, now: datetime, worker: str, limit: int, journey_id: int | None = None,
                        reclaim_own: bool = False) -> Any:
        """The claim: `UPDATE ... WHERE id IN (due ids [FOR UPDATE SKIP LOCKED] LIMIT n) RETURNING <STEP_COLUMNS>`.

        The inner select reads the partial index `ix_scheduled_steps_due` (pending rows only, by due_at), so
        its cost grows with the due rows, not with all pending ones. Exposed for EXPLAIN in the tests (the
        sweep runs the same statement, `_claim_template`, with these values as its parameters).

        A step is not claimed while another of its customer's steps is held under a live lease by another
        batch (of this sweep or any other): a customer's state is decided by one batch at a time, so the
        frequency cap and the points / win-back merge hold across concurrent sweeps, not only within a batch.
        (It reads `ix_scheduled_steps_held`, the partial index of pending steps that were ever claimed: SQLite
        probes it once per candidate, Postgres reads the live leases once per claim, whatever the table's size.)
        """
        return self._build_claim(now, worker, now + self.lease, journey_id, limit, reclaim_own)

    def _claim_params(self, now: datetime, worker: str, journey_id: int | None) -> dict[str, Any]:
        # Names no column has: a parameter named like a column of the UPDATE would be set on every claimed row.
        params = {"claim_now": now, "claim_worker": worker, "claim_until": now + self.lease}
        if journey_id is not None:
            params["claim_journey"] = journey_id
        return params

    def _claim_template(self, limit: int, by_journey: bool, reclaim_own: bool) -> Any:
        """`claim_statement` with its times, worker and journey as named parameters (`_claim_params`), built once
        per shape: building it costs more than a millisecond, a few microseconds per claimed step."""
        key = (limit, by_journey, reclaim_own)
        cached = self._claims.get(key)
        if cached is None:
            journey = bindparam("claim_journey", type_=ScheduledStep.__table__.c.journey_id.type) if by_journey \
                else None
            cached = self._claims[key] = self._build_claim(
                bindparam("claim_now", type_=UTCDateTime()), bindparam("claim_worker", type_=String()),
                bindparam("claim_until", type_=UTCDateTime()), journey, limit, reclaim_own)
        return cached

    def _build_claim(self, now: Any, worker: Any, until: Any, journey_id: Any, limit: int, reclaim_own: bool) -> Any:
        """The claim statement; `now`, `worker`, `until` (the lease's end) and `journey_id` are values or bound
        parameters."""
        steps = ScheduledStep.__table__
        held = steps.alias("held")
        in_flight = [held.c.customer_id == steps.c.customer_id,
                     literal_column("held.status") == literal_column("'pending'"), held.c.claimed_until >= now]
        if reclaim_own:  # a retried run's own stale claims do not block it (its first batch runs alone)
            in_flight.append(held.c.claimed_by != worker)
        due = (_due_ids(now, worker if reclaim_own else None)
               .where(~exists().where(*in_flight))
               .order_by(steps.c.due_at).limit(limit))
        if journey_id is not None:
            due = due.where(steps.c.journey_id == journey_id)
        if self._is_pg:
            due = due.with_for_update(skip_locked=True)
        return (
            update(steps)
            .where(steps.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker, claimed_until=until, attempts=steps.c.attempts + 1)
            .returning(*(steps.c[n] for n in STEP_COLUMNS))
        )

    def _claim(self, session: Session, now: datetime, worker: str, limit: int, journey_id: int | None,
               reclaim_own: bool = False) -> list[Row[Any]]:
        conn = session.connection()
        if self._is_pg:
            # Claims take turns (a transaction-scoped advisory lock, held for the few milliseconds of the
            # claim): two concurrent claims would otherwise both see a customer as free and split their
            # steps between two batches. SQLite's single writer serialises claims already.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
        stmt = self._claim_template(limit, journey_id is not None, reclaim_own)
        rows = records(conn.execute(stmt, self._claim_params(now, worker, journey_id)))
        return sorted(rows, key=lambda r: (r.due_at, r.id))

    def _load(self, session: Session, steps: Sequence[Row[Any]], now: datetime) -> BatchState:
        """The batch's state, and once per batch each fact the batch's steps declared (`needs=`).

        Only the facts of the steps in this batch are loaded (a step reads only the facts it declared): a batch
        of order confirmations runs none of the loyalty, review or replenishment loaders."""
        return load_batch_state(session, customer_ids=[s.customer_id for s in steps],
                                order_ids=[s.order_id for s in steps], cap_since=now - self.policy.frequency_cap,
                                facts=self._facts_for({s.step for s in steps}), now=now, journey=self.journey)

    def _facts_for(self, names: set[str]) -> tuple[Fact, ...]:
        """Of the journey's facts (`Journey.facts`: the first declaration of each name wins), those the named
        steps need."""
        needed = {f.name for spec in self.journey.steps if spec.name in names for f in spec.needs}
        return tuple(f for f in self.journey.facts if f.name in needed) if needed else ()

    def _decide_all(self, steps: Sequence[Row[Any]], batch: BatchState, now: datetime) -> dict[int, Decision]:
        decisions: dict[int, Decision] = {}
        for step in steps:
            spec = self.journey.get(step.step)
            if spec is None:
                # A step the running journey no longer has (removed, renamed, another process's journey):
                # recorded as a skip with a reason, never a failed or held batch.
                decisions[step.id] = Skip(Reason.UNKNOWN_STEP)
                continue
            state = batch.customer_state(step.customer_id, step.order_id)
            due_step = DueStep(spec, step.first_due_at, step.due_at, step.occurrence or "", step.item,
                               step.payload or {})
            decision = decide(due_step, state, now, self.policy)
            if isinstance(decision, Send) and spec.is_marketing:
                # Later steps of this batch see this send: the frequency cap holds within a batch too.
                batch.recent_marketing[step.customer_id].append(now)
            if isinstance(decision, Send) and spec.needs:  # only facts the step needs watch its sends
                batch.record_send(spec.needs, step.customer_id,
                                  SentInBatch(step.order_id, spec.name, step.occurrence or "", now))
            decisions[step.id] = decision
        return decisions

    def _plan(self, session: Session, steps: Sequence[Row[Any]], decisions: dict[int, Decision],
              batch: BatchState, now: datetime) -> list[_Planned]:
        planned: list[_Planned] = []
        jobs: list[RenderJob] = []
        # Every message of the batch is rendered before anything is reserved: in this process, or on the render
        # pool's cores while this loop goes on building the next contexts (exactly-once does not depend on it).
        render = self.render_pool.batch() if self.render_pool is not None else LocalBatch(self.renderer)
        slots: list[tuple[_Planned, Any]] = []  # per job: its ledger row to fill, and the email's `to`
        for step in steps:
            decision = decisions[step.id]
            spec = self.journey.get(step.step)
            if spec is None:
                continue  # no ledger row for a step we cannot name a channel or purpose for: the log has it
            if isinstance(decision, Skip):
                channel = decision.channel or spec.channels[0]
                planned.append(_Planned(_key(step, channel), step, channel, MessageStatus.SKIPPED,
                                        str(decision.reason)))
            elif isinstance(decision, HoldOut):
                planned.append(_Planned(_key(step, decision.channel), step, decision.channel, MessageStatus.HELD_OUT,
                                        Reason.HOLDOUT.value))
            elif isinstance(decision, Send):
                self._prepare(session, step, decision, batch, now, planned, jobs, render, slots)
                # Channels a fan-out step could not use are recorded too (invalid phone, STOP, no consent).
                planned.extend(_Planned(_key(step, channel), step, channel, MessageStatus.SKIPPED, reason.value)
                               for channel, reason in decision.skipped_channels)
        for (p, to), job, r in zip(slots, jobs, render.results(), strict=True):
            self._fill(p, job, r, to)
        return planned

    def _prepare(self, session: Session, step: Row[Any], decision: Send, batch: BatchState, now: datetime,
                 planned: list[_Planned], jobs: list[RenderJob], render: RenderBatch | LocalBatch,
                 slots: list[tuple[_Planned, Any]]) -> None:
        """One context per step, one render job and one (still empty) ledger row per channel it sends on."""
        spec = self.journey.step(step.step)
        customer = batch.customers[step.customer_id]
        cross: tuple[ProductView, ...] = ()
        # At most one promotional block per message: a referral invitation takes the cross-sell's place.
        if self.cross_sell is not None and spec.cross_sell and decision.cross_sell and not decision.referral_invite \
                and (spec.is_marketing or self.cross_sell_in_transactional):
            cross = self.cross_sell(session, batch, step.customer_id, step.order_id)
        ctx = build_context(spec=spec, customer_id=step.customer_id, order_id=step.order_id, decision=decision,
                            batch=batch, links=self.links, settings=self.context_settings, now=now, cross_sell=cross,
                            occurrence=step.occurrence or "", item=step.item, payload=step.payload)
        locale = choose_locale(customer.locale)
        for channel in decision.channels:
            p = _Planned(_key(step, channel), step, channel, MessageStatus.RESERVED)
            planned.append(p)
            job = RenderJob(step.step, channel.value, locale, ctx)
            jobs.append(job)
            render.add(job)
            if channel is Channel.EMAIL:
                slots.append((p, self.context_settings.support_email if spec.to_support else customer.email))
            else:
                slots.append((p, customer.phone))

    def _fill(self, p: _Planned, job: RenderJob, r: Any, to: Any) -> None:
        """The rendered message becomes the ledger row's payload; a failed render costs that message only."""
        step = p.step
        if isinstance(r, RenderFailed):
            log.error("render failed step=%s step_id=%s channel=%s error=%s", step.step, step.id, p.channel, r.error)
            p.status, p.reason = MessageStatus.FAILED, "render_error"
            return
        marketing = self.journey.step(step.step).is_marketing
        p.template, p.locale = r.template, r.locale
        if p.channel is Channel.EMAIL:
            p.payload = _new_email({
                "message_id": "", "to": to, "subject": r.subject, "html": r.html, "text": r.text,
                "step": step.step, "template": r.template, "locale": r.locale, "marketing": marketing,
                "unsubscribe_url": job.ctx.unsubscribe_url if marketing else None,
            })
        else:
            p.payload = _new_sms({"message_id": "", "to": to, "body": r.body, "step": step.step,
                                  "template": r.template, "locale": r.locale, "marketing": marketing,
                                  "segments": r.segments})
            p.segments = r.segments

    def _reserve(self, planned: list[_Planned], decisions: dict[int, Decision], now: datetime,
                 report: SweepReport) -> list[_Planned]:
        """Commit a ledger row per planned message; return the ones this sweep may now try to send."""
        if not planned:
            return []
        purposes = {name: self.journey.step(name).purpose.value for name in {p.step.step for p in planned}}
        digests = [_digest(p.payload) for p in planned]
        stamp = self._stamp(now)
        rows = [  # in the order of _LEDGER_COLUMNS
            (p.key, p.step.id, p.step.journey_id, p.step.customer_id, p.step.order_id, p.step.step,
             purposes[p.step.step], p.channel.value, p.template, p.locale, p.status.value, p.reason, p.segments, 0,
             stamp, stamp, digest)
            for p, digest in zip(planned, digests, strict=True)
        ]
        table = Message.__table__
        with self.session_factory() as session, session.begin():
            conn = session.connection()  # Core statements: the ORM's result layer adds only cost here
            if self._is_pg:
                _pg_insert_many(session, "messages", rows, _LEDGER_COLUMNS, "ON CONFLICT (idempotency_key) DO NOTHING",
                                texted=True)
            else:
                _lite_many(conn, _LITE_LEDGER_INSERT, rows, _LEDGER_COLUMNS, texted=True)
            existing = {
                r.idempotency_key: r
                for r in records(conn.execute(
                    select(table.c.id, table.c.idempotency_key, table.c.status, table.c.body_digest)
                    .where(member_of(table.c.idempotency_key, [p.key for p in planned], self._dialect))
                ))
            }
            sendable: list[_Planned] = []
            upgrade_ids: list[int] = []
            crashed_ids: list[int] = []
            redigest: list[dict[str, Any]] = []
            unreserve: list[dict[str, Any]] = []
            for p, digest in zip(planned, digests, strict=True):
                row = existing[p.key]
                p.ledger_id = row.id
                if p.status is not MessageStatus.RESERVED:
                    if row.status == MessageStatus.RESERVED.value and p.status is MessageStatus.SKIPPED:
                        # Reserved earlier (a transient retry, a resend), not to be sent now: say why.
                        unreserve.append({"_id": row.id, "reason": p.reason})
                    continue
                if row.status == MessageStatus.RESERVED.value:
                    sendable.append(p)
                    if row.body_digest != digest:  # re-rendered (a retry or a resend)
                        redigest.append({"_id": row.id, "digest": digest})
                elif row.status == MessageStatus.SKIPPED.value:
                    # A step re-decided (forced rerun) after an earlier skip: a skip was never a send.
                    upgrade_ids.append(row.id)
                    sendable.append(p)
                elif row.status == MessageStatus.SENDING.value:
                    # We hold this step's claim, so whoever moved the row to `sending` lost its lease or
                    # crashed mid-send (a retried run included): the outcome is unknown; reconcile, never resend.
                    crashed_ids.append(row.id)
                    p.status = MessageStatus.UNKNOWN
                else:
                    p.status = MessageStatus(row.status) if row.status in _FINAL else MessageStatus.SENDING
            if upgrade_ids:
                conn.execute(update(table).where(table.c.id.in_(upgrade_ids), table.c.status == "skipped")
                             .values(status="reserved", reason=None, status_at=now))
            if unreserve:
                conn.execute(update(table).where(table.c.id == bindparam("_id"), table.c.status == "reserved")
                             .values(status="skipped", reason=bindparam("reason"), status_at=now), unreserve)
            if redigest:
                conn.execute(update(table).where(table.c.id == bindparam("_id"), table.c.status == "reserved")
                             .values(body_digest=bindparam("digest")), redigest)
            if crashed_ids:
                conn.execute(update(table).where(table.c.id.in_(crashed_ids), table.c.status == "sending")
                             .values(status="unknown", reason="outcome_unknown_after_crash", status_at=now))
                for p in planned:
                    if p.ledger_id in crashed_ids:
                        report.unknown[p.step.step] += 1
        return sendable

    def _mark_sending(self, sendable: list[_Planned], now: datetime) -> list[_Planned]:
        if not sendable:
            return []
        table = Message.__table__
        with self.session_factory() as session, session.begin():
            moved = set(
                session.connection().execute(
                    update(table)
                    .where(member_of(table.c.id, [p.ledger_id for p in sendable], self._dialect),
                           table.c.status == "reserved")
                    .values(status="sending", status_at=now, sent_at=now, attempts=table.c.attempts + 1)
                    .returning(table.c.id)
                ).scalars().all()  # fetched at once, not one driver call per row
            )
        mine = [p for p in sendable if p.ledger_id in moved]
        for p in mine:
            assert p.payload is not None
            object.__setattr__(p.payload, "message_id", str(p.ledger_id))
        for p in sendable:
            if p.ledger_id not in moved:
                p.status = MessageStatus.SENDING  # another sweep has it; leave the step to that sweep
        return mine

    def _send(self, mine: list[_Planned]) -> dict[int, SendResult]:
        results: dict[int, SendResult] = {}
        emails = [p for p in mine if p.channel is Channel.EMAIL]
        texts = [p for p in mine if p.channel is Channel.SMS]
        for group, sender in ((emails, self._send_emails), (texts, self._send_sms)):
            if not group:
                continue
            try:
                outcomes = sender([p.payload for p in group])  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - the whole request failed; we cannot know if it left
                outcome = (Outcome.RETRY if isinstance(exc, TransientSendError)
                           else Outcome.REJECTED if isinstance(exc, PermanentSendError) else Outcome.UNKNOWN)
                log.error("provider batch failed outcome=%s error=%s", outcome, type(exc).__name__)
                outcomes = [SendResult(str(p.ledger_id), outcome, detail=type(exc).__name__) for p in group]
            for p, result in zip(group, outcomes, strict=True):
                assert p.ledger_id is not None
                results[p.ledger_id] = result
        return results

    def _send_emails(self, messages: list[EmailMessage]) -> list[SendResult]:
        return self.email.send_emails(messages)

    def _send_sms(self, messages: list[SmsMessage]) -> list[SendResult]:
        return self.sms.send_sms(messages)

    def _record(self, steps: Sequence[Row[Any]], decisions: dict[int, Decision], planned: list[_Planned],
                results: dict[int, SendResult], now: datetime, report: SweepReport) -> None:
        updates: list[tuple[Any, ...]] = []  # times already in the dialect's text (`_stamp`)
        stamp = self._stamp(now)
        retry_steps: set[int] = set()
        busy_steps: set[int] = set()
        sent_steps: set[int] = set()
        opted_out: list[int] = []
        invalid: list[tuple[int, Channel]] = []
        for p in planned:
            name = p.step.step
            if p.status is MessageStatus.SKIPPED:
                report.skipped[(name, p.reason or "")] += 1
            elif p.status is MessageStatus.HELD_OUT:
                report.held_out[name] += 1
            elif p.status is MessageStatus.FAILED and p.ledger_id not in results:
                report.failed[(name, p.reason or "")] += 1
            elif p.status is MessageStatus.SENDING:
                busy_steps.add(p.step.id)
            if p.ledger_id not in results:
                continue
            result = results[p.ledger_id]
            reason: str | None = None
            if result.outcome is Outcome.SENT:
                status = MessageStatus.SENT.value
                report.sent[(name, p.channel.value)] += 1
                sent_steps.add(p.step.id)
            elif result.outcome is Outcome.RETRY:
                status = MessageStatus.RESERVED.value  # never reached the provider: safe to resend
                reason = "transient_error"
                retry_steps.add(p.step.id)
                report.retried[name] += 1
            elif result.outcome is Outcome.UNKNOWN:
                status = MessageStatus.UNKNOWN.value
                reason = "outcome_unknown"
                report.unknown[name] += 1
            elif result.outcome is Outcome.OPTED_OUT:
                status = MessageStatus.FAILED.value
                reason = Reason.RECIPIENT_OPTED_OUT.value
                opted_out.append(p.step.customer_id)
                report.failed[(name, reason)] += 1
            elif result.outcome is Outcome.INVALID_RECIPIENT:
                status = MessageStatus.SKIPPED.value
                reason = (Reason.INVALID_PHONE if p.channel is Channel.SMS else Reason.INVALID_EMAIL).value
                invalid.append((p.step.customer_id, p.channel))
                report.skipped[(name, reason)] += 1
            else:
                status = MessageStatus.FAILED.value
                reason = Reason.PROVIDER_REJECTED.value
                report.failed[(name, reason)] += 1
            updates.append((status, stamp, result.error_code, result.provider_id, reason,  # _RECORD_COLUMNS
                            self.email.name if p.channel is Channel.EMAIL else self.sms.name, p.ledger_id))

        with self.session_factory() as session, session.begin():
            if updates and self._is_pg:
                _pg_update_many(session, "messages", updates, _RECORD_COLUMNS, texted=True)
            elif updates:
                _lite_many(session.connection(), _LITE_LEDGER_RECORD, updates, _RECORD_COLUMNS, texted=True)
            self._settle_steps(session, steps, decisions, retry_steps, busy_steps, now, report)
            self._apply_provider_feedback(session, opted_out, invalid, now)
            self._chain(session, steps, sent_steps, now)

    def _settle_steps(self, session: Session, steps: Sequence[Row[Any]], decisions: dict[int, Decision],
                      retry_steps: set[int], busy_steps: set[int], now: datetime, report: SweepReport) -> None:
        step_updates: list[tuple[Any, ...]] = []  # in the order of _SETTLE_COLUMNS
        log_rows: list[tuple[Any, ...]] = []  # in the order of _DECISION_COLUMNS
        for step in steps:
            decision = decisions[step.id]
            status, due, outcome, reason, until = StepStatus.DONE.value, step.due_at, "send", None, None
            channels = None
            if isinstance(decision, Send):
                channels = ",".join(c.value for c in decision.channels)
                if step.id in retry_steps:
                    status, outcome, reason = StepStatus.PENDING.value, "retry", "transient_error"
                    due = until = now + _backoff(step.id, step.attempts)
                elif step.id in busy_steps:
                    # Another sweep moved the message to `sending` after we reserved it: it settles the
                    # step; we look again after a lease, by when it has done so or is known to be dead.
                    status, outcome, reason = StepStatus.PENDING.value, "busy", "claimed_elsewhere"
                    due = until = now + self.lease
            elif isinstance(decision, Skip):
                outcome, reason = "skip", str(decision.reason)
                if self.journey.get(step.step) is None:
                    report.skipped[(step.step, reason)] += 1  # no ledger row counts it (see _plan)
            elif isinstance(decision, HoldOut):
                outcome, reason, channels = "holdout", Reason.HOLDOUT.value, decision.channel.value
            elif isinstance(decision, Defer):
                status, outcome, reason, due, until = StepStatus.PENDING.value, "defer", str(decision.reason), \
                    decision.until, decision.until
                report.deferred[(step.step, reason)] += 1
            elif isinstance(decision, Wait):
                status, outcome, reason = StepStatus.WAITING.value, "wait", str(decision.reason)
                report.waiting[(step.step, reason)] += 1
            step_updates.append((status, due, outcome, reason, now, step.id, step.claimed_by))
            log_rows.append((step.id, step.journey_id, step.step, now, step.due_at, outcome, reason, until, channels))
        # Only steps this sweep still holds are settled: if its lease ran out and another sweep claimed a step,
        # that sweep settles it (what this one sent is in the ledger either way, so nothing is sent twice).
        settled = len(step_updates)
        if step_updates and self._is_pg:
            settled = _pg_update_many(session, "scheduled_steps", step_updates, _SETTLE_COLUMNS,
                                      also="claimed_by = NULL, claimed_until = NULL",
                                      guard="t.claimed_by = v._claimed_by")
        elif step_updates:
            settled = _lite_many(session.connection(), _LITE_SETTLE, step_updates, _SETTLE_COLUMNS)
        if settled != len(step_updates):
            log.warning("lease lost: %s of %s steps were claimed by another sweep before this one settled them",
                        len(step_updates) - settled, len(step_updates))
        if log_rows and self._is_pg:
            _pg_insert_many(session, "decisions", log_rows, _DECISION_COLUMNS)
        elif log_rows:
            _lite_many(session.connection(), _LITE_DECISIONS_INSERT, log_rows, _DECISION_COLUMNS)

    def _apply_provider_feedback(self, session: Session, opted_out: list[int], invalid: list[tuple[int, Channel]],
                                 now: datetime) -> None:
        for customer_id in set(opted_out):
            customer = session.get(Customer, customer_id)
            if customer is not None:
                self.ingest.sms_stopped(session, customer, now, source="provider:21610",
                                        kind=ConsentSource.CARRIER)
        for customer_id, channel in set(invalid):
            column = "phone_valid" if channel is Channel.SMS else "email_valid"
            session.execute(update(Customer).where(Customer.id == customer_id).values({column: False}))

    def _chain(self, session: Session, steps: Sequence[Row[Any]], sent_steps: set[int], now: datetime) -> None:
        """Fire `<step>_sent` for steps that other steps follow (the win-back sequence)."""
        chained: dict[str, bool] = {}  # `<step>_sent` -> whether any step follows it (asked once per step name)
        for step in steps:
            if step.id not in sent_steps:
                continue
            trigger = events.sent(step.step)
            follows = chained.get(trigger)
            if follows is None:
                follows = chained[trigger] = bool(self.journey.triggered_by(trigger))
            if follows:
                row = session.get(JourneyRow, step.journey_id)
                assert row is not None
                scheduler.fire(session, self.journey, row, trigger, now, now)

    def _stamp(self, now: datetime) -> str | None:
        """`now` as the bulk writes bind a time (SQLite's storage text, or ISO text for Postgres): written once
        for a batch's ledger rows instead of once per row."""
        return now.isoformat() if self._is_pg else _lite_time(now)

    def _fault(self, phase: str) -> None:
        if self.fault is not None:
            self.fault(phase)


# Column types for the Postgres set-based inserts below (the ledger and the decision log).
_LEDGER_COLUMNS = {
    "idempotency_key": "text", "step_id": "bigint", "journey_id": "bigint", "customer_id": "bigint",
    "order_id": "bigint", "step": "text", "purpose": "text", "channel": "text", "template": "text", "locale": "text",
    "status": "text", "reason": "text", "segments": "integer", "attempts": "integer", "created_at": "timestamptz",
    "status_at": "timestamptz", "body_digest": "text",
}
_DECISION_COLUMNS = {
    "step_id": "bigint", "journey_id": "bigint", "step": "text", "decided_at": "timestamptz", "due_at": "timestamptz",
    "outcome": "text", "reason": "text", "until": "timestamptz", "channels": "text",
}


class _Stopwatch:
    """Adds the time since the previous call to the named phase: a batch's profile at ~1 us per phase."""

    def __init__(self, into: Counter[str]) -> None:
        self.into = into
        self.last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.into[phase] += now - self.last
        self.last = now


def _recordset(rows: list[tuple[Any, ...]], columns: dict[str, str],
               texted: bool = False) -> tuple[str, dict[str, Any]]:
    """Postgres: the rows (values in the order of `columns`) as one bound JSON text, an array of arrays, and a
    `SELECT` of them typed per column (`v.<name>`), for the set-based statements below.

    One text is one parameter: psycopg adapts an array element by element in Python (a timestamp several
    microseconds each), while `json.dumps` writes the whole batch in C. Times go as ISO text with their offset,
    which timestamptz reads back exactly (a naive time is read in the session's zone, as a bound one was)."""
    values = rows if texted else _row_values(rows, columns, datetime.isoformat)
    typed = ", ".join(f'CAST(e->>{i} AS {t}) AS "{n}"' for i, (n, t) in enumerate(columns.items()))
    return f"(SELECT {typed} FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS e)", {"rows": json.dumps(values)}


def _pg_insert_many(session: Session, table: str, rows: list[tuple[Any, ...]], columns: dict[str, str],
                    suffix: str = "", texted: bool = False) -> None:
    """Postgres: insert many rows in one statement, `INSERT ... SELECT` over the rows bound as one JSON text.

    psycopg's executemany runs one INSERT per row (pipelined); one set-based INSERT lets the server do the
    work once per batch, and the SQL text is the same for every batch size, so it is parsed and planned once.
    """
    source, params = _recordset(rows, columns, texted)
    cols = ", ".join(f'"{n}"' for n in columns)
    session.connection().execute(
        text(f"INSERT INTO {table} ({cols}) SELECT * FROM {source} AS v {suffix}"), params)


def _pg_update_many(session: Session, table: str, rows: list[tuple[Any, ...]], columns: dict[str, str],
                    also: str = "", guard: str = "", texted: bool = False) -> int:
    """Postgres: update many rows by id (the column `_id`) in one statement over the rows bound as one JSON
    text; returns how many rows matched.

    The same rows and values as an executemany of `UPDATE ... WHERE id = :_id [AND guard]`, without a round
    trip and a parse per row. Columns whose name starts with `_` are only read by `guard` (e.g.
    `t.claimed_by = v._claimed_by`), never set.
    """
    source, params = _recordset(rows, columns, texted)
    sets = ", ".join([*(f"{n} = v.{n}" for n in columns if not n.startswith("_")), *([also] if also else [])])
    where = "t.id = v._id" + (f" AND {guard}" if guard else "")
    result = session.connection().execute(
        text(f"UPDATE {table} AS t SET {sets} FROM {source} AS v WHERE {where}"), params)
    return int(result.rowcount)


# SQLite: the batch's executemany statements as plain SQL on the driver, with the values in column order and
# the times already in SQLAlchemy's SQLite storage format (naive UTC, microseconds; what UTCDateTime stores).
# The same rows as the Core statements, without SQLAlchemy's per-row parameter processing: that was about a
# tenth of a batch's time on SQLite. The sweep builds its rows as tuples in the order of these columns (and
# Postgres reads them in the same order); `_id` is the row to update, read by the WHERE clause only.
_RECORD_COLUMNS = {"status": "text", "status_at": "timestamptz", "error_code": "text", "provider_message_id": "text",
                   "reason": "text", "provider": "text", "_id": "bigint"}
_SETTLE_COLUMNS = {"status": "text", "due_at": "timestamptz", "last_outcome": "text", "last_reason": "text",
                   "updated_at": "timestamptz", "_id": "bigint", "_claimed_by": "text"}


def _lite_insert(table: str, columns: dict[str, str], suffix: str = "") -> str:
    return (f"INSERT INTO {table} ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}){suffix}")


_LITE_LEDGER_INSERT = _lite_insert("messages", _LEDGER_COLUMNS, " ON CONFLICT (idempotency_key) DO NOTHING")
_LITE_DECISIONS_INSERT = _lite_insert("decisions", _DECISION_COLUMNS)
_LITE_LEDGER_RECORD = ("UPDATE messages SET status = ?, status_at = ?, error_code = ?, provider_message_id = ?, "
                       "reason = ?, provider = ? WHERE id = ?")
_LITE_SETTLE = ("UPDATE scheduled_steps SET status = ?, due_at = ?, last_outcome = ?, last_reason = ?, "
                "updated_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?")


def _lite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; use timezone-aware times")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _lite_many(conn: Any, sql: str, rows: list[tuple[Any, ...]], columns: dict[str, str], texted: bool = False) -> int:
    """SQLite: one executemany of `sql` over `rows`, values in the order of `columns`; rows matched. `texted`:
    the rows' times are already SQLite's text (`_lite_time`)."""
    return int(conn.exec_driver_sql(sql, rows if texted else _row_values(rows, columns, _lite_time)).rowcount)


def _row_values(rows: list[tuple[Any, ...]], columns: dict[str, str],
                time_text: Callable[[datetime], str | None]) -> list[tuple[Any, ...]]:
    """The rows (values in the order of `columns`) with their times (`timestamptz`) written by `time_text`."""
    times = [i for i, t in enumerate(columns.values()) if t == "timestamptz"]
    cache: dict[datetime, str | None] = {}  # most times of a batch are its `now`
    values: list[tuple[Any, ...]] = []
    for r in rows:
        row = list(r)
        for i in times:
            v = row[i]
            if v is not None:
                text_value = cache.get(v)
                if text_value is None:
                    text_value = cache[v] = time_text(v)
                row[i] = text_value
        values.append(tuple(row))
    return values


def _due_ids(now: Any, own_worker: Any = None) -> Any:
    """Ids of due, unclaimed steps (or steps `own_worker` still holds): shared by the claim and `has_due`.
    `now` and `own_worker` are values or bound parameters."""
    steps = ScheduledStep.__table__
    free = [steps.c.claimed_until.is_(None), steps.c.claimed_until < now]
    if own_worker is not None:
        free.append(steps.c.claimed_by == own_worker)
    return (
        select(steps.c.id)
        # A literal (not a bound parameter) so SQLite and Postgres use the partial index on due_at.
        .where(literal_column("status") == literal_column("'pending'"), steps.c.due_at <= now)
        .where(or_(*free))
    )


def _digest(payload: EmailMessage | SmsMessage | None) -> str | None:
    """The SMS body's digest, kept on the ledger row: how reconciliation knows the message at Twilio."""
    return body_digest(payload.body) if isinstance(payload, SmsMessage) else None


def _key(step: Row[Any], channel: Channel) -> str:
    """One message per (scope, step, occurrence, channel), whatever happens: reruns and retries hit the same key.

    A step that happens once per scope (occurrence '') keeps the key every message had before occurrences
    existed, `j<journey>:<step>:<channel>`, so an upgraded database resends nothing. An occurrence adds itself
    to the key; a per-customer occurrence is keyed by the customer, not by whichever order carried it.
    """
    occurrence = step.occurrence or ""
    if not occurrence:
        return f"j{step.journey_id}:{step.step}:{channel.value}"
    owner = f"c{step.customer_id}" if step.scope == Scope.CUSTOMER.value else f"j{step.journey_id}"
    return f"{owner}:{step.step}:{occurrence}:{channel.value}"


def _backoff(step_id: int, attempts: int) -> timedelta:
    """Exponential backoff with deterministic jitter (so simulations replay exactly)."""
    base = min(60 * 2 ** max(attempts - 1, 0), 3600)
    jitter = int(hashlib.sha256(f"{step_id}:{attempts}".encode()).hexdigest()[:4], 16) % max(base // 4, 1)
    return timedelta(seconds=base + jitter)
