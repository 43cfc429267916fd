"""One order's journey as a timeline: every step, when it was due, each decision with its reason, each message,
and the customer's consent with the statements behind it.

Returns plain data; `aftercare.ops.cli` renders it. No email address or phone number leaves this module:
the customer is shown by id, with masked contact details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Customer, DecisionLog, Message, Order, OrderRequest, ScheduledStep, Shipment
from aftercare.db.models import Journey as JourneyRow
from aftercare.services.consent_history import ConsentHistory, consent_history


class OrderNotFound(LookupError):
    pass


@dataclass(frozen=True)
class DecisionLine:
    decided_at: datetime
    due_at: datetime
    outcome: str  # send, skip, defer, wait, holdout, retry, busy, backfill (an import's history)
    reason: str | None
    until: datetime | None
    channels: str | None


@dataclass(frozen=True)
class MessageLine:
    ledger_id: int
    channel: str
    template: str | None
    locale: str | None
    status: str
    reason: str | None
    provider: str | None
    provider_message_id: str | None
    sent_at: datetime | None
    status_at: datetime


@dataclass
class StepLine:
    step: str
    status: str
    trigger: str
    first_due_at: datetime
    due_at: datetime
    attempts: int
    last_outcome: str | None
    last_reason: str | None
    decisions: list[DecisionLine] = field(default_factory=list)
    messages: list[MessageLine] = field(default_factory=list)
    scope: str = "order"  # order, customer or item
    occurrence: str = ""  # per-item and repeating steps: which occurrence (the product, the tier)


@dataclass
class Timeline:
    order_id: int
    order_number: str
    order_external_id: str
    order_status: str
    placed_at: datetime
    journey_id: int
    journey_status: str
    customer_id: int
    customer_timezone: str
    email_masked: str | None
    phone_masked: str | None
    steps: list[StepLine]
    consent: ConsentHistory | None = None  # the customer's consent now and every statement behind it
    # Before it arrives: the promise (as made, a later estimate and when it came), the shipment's progress,
    # and what the customer asked on the order page (kind, status, when).
    promised_at: datetime | None = None
    estimated_at: datetime | None = None
    promise_revised_at: datetime | None = None
    shipment_status: str | None = None
    last_progress_at: datetime | None = None
    requests: list[tuple[str, str, datetime]] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.customer_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


def mask_email(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    local, domain = address.rsplit("@", 1)
    return f"{local[:1]}***@{domain[:1]}***"


def mask_phone(number: str | None) -> str | None:
    return f"***{number[-2:]}" if number and len(number) > 4 else None


def find_order(session: Session, ref: str) -> Order:
    """Our order id ("17"), the store's order number ("#1042" or "1042") or the store's external id."""
    ref = ref.strip()
    conditions = [Order.external_id == ref, Order.number == ref]
    if not ref.startswith("#"):
        conditions.append(Order.number == f"#{ref}")
    if ref.isdigit():
        order = session.get(Order, int(ref))
        if order is not None:
            return order
    order = session.scalars(select(Order).where(or_(*conditions)).order_by(Order.id).limit(1)).first()
    if order is None:
        raise OrderNotFound(f"no order matches {ref!r} (our id, order number or external id)")
    return order


def explain(session: Session, ref: str) -> Timeline:
    order = find_order(session, ref)
    journey = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order.id))
    if journey is None:
        raise OrderNotFound(f"order {order.id} has no journey")
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    steps = {
        s.id: StepLine(s.step, s.status, s.trigger, as_utc(s.first_due_at), as_utc(s.due_at), s.attempts,
                       s.last_outcome, s.last_reason, scope=s.scope, occurrence=s.occurrence or "")
        for s in session.scalars(select(ScheduledStep).where(ScheduledStep.journey_id == journey.id))
    }
    for d in session.scalars(select(DecisionLog).where(DecisionLog.journey_id == journey.id)
                             .order_by(DecisionLog.decided_at, DecisionLog.id)):
        if d.step_id in steps:
            steps[d.step_id].decisions.append(DecisionLine(as_utc(d.decided_at), as_utc(d.due_at), d.outcome,
                                                           d.reason, as_utc(d.until) if d.until else None,
                                                           d.channels))
    for m in session.scalars(select(Message).where(Message.journey_id == journey.id).order_by(Message.id)):
        if m.step_id in steps:
            steps[m.step_id].messages.append(MessageLine(
                m.id, m.channel, m.template, m.locale, m.status, m.reason, m.provider, m.provider_message_id,
                as_utc(m.sent_at) if m.sent_at else None, as_utc(m.status_at)))
    ordered = sorted(steps.values(), key=lambda s: (s.first_due_at, s.step, s.occurrence))
    ship = session.scalar(select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id.desc()).limit(1))
    return Timeline(
        order_id=order.id, order_number=order.number, order_external_id=order.external_id,
        order_status=order.status, placed_at=as_utc(order.placed_at), journey_id=journey.id,
        journey_status=journey.status, customer_id=customer.id, customer_timezone=customer.timezone or "UTC",
        email_masked=mask_email(customer.email), phone_masked=mask_phone(customer.phone), steps=ordered,
        consent=consent_history(session, customer.id),
        promised_at=_utc(order.promised_at), estimated_at=_utc(order.estimated_at),
        promise_revised_at=_utc(order.promise_revised_at),
        shipment_status=ship.status if ship else None,
        last_progress_at=_utc(ship.last_event_at or ship.shipped_at) if ship else None,
        requests=[(r.kind, r.status, as_utc(r.created_at)) for r in session.scalars(
            select(OrderRequest).where(OrderRequest.order_id == order.id).order_by(OrderRequest.id))],
    )


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
