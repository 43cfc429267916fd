"""`JourneyKit`: a store's journey on a temporary SQLite database, a frozen clock and recording fakes.

Everything goes through the real surfaces: orders, shipments and CSAT answers through `Ingest` (what
the webhooks call), store events through `send_event` (what `POST /webhooks/events` calls), time through
the one clock, and every sweep through the real `Sweeper`. Assertions read the ledger and the decision log,
so "why was this not sent" is answered with the reason the engine recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock, as_utc
from aftercare.db.models import DecisionLog, Message, Order, Product, ScheduledStep
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.journeys.journey import Journey
from aftercare.journeys.store_events import send_event
from aftercare.providers.base import EmailMessage, SmsMessage
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.commands import ConsentIn, CustomerIn, FulfillmentIn, ItemIn, OrderIn
from aftercare.settings import Settings

_SENT = ("sent", "delivered", "opened", "clicked")
ALL_CONSENTS = (
    ConsentIn(Channel.EMAIL, Purpose.MARKETING, True, "checkout"),
    ConsentIn(Channel.SMS, Purpose.TRANSACTIONAL, True, "checkout"),
    ConsentIn(Channel.SMS, Purpose.MARKETING, True, "checkout"),
)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in a named zone, as UTC: `local("America/New_York", 2026, 3, 8, 9)` (after DST began)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class Sent:
    """One message that went out: from the ledger (when, key) and the fake provider (what)."""

    step: str
    channel: str
    locale: str
    to: str
    at: datetime
    marketing: bool
    key: str  # the ledger's idempotency key: scope, step, occurrence, channel
    subject: str  # email subject ('' for SMS)
    body: str  # email text part, or the SMS body
    html: str = ""

    def local_time(self, zone: str) -> datetime:
        return self.at.astimezone(ZoneInfo(zone))


class JourneyKit:
    def __init__(self, services: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender) -> None:
        self.services, self.clock, self.email, self.sms = services, clock, email, sms

    @classmethod
    def start(cls, home: Path, *, journey: Journey | None = None, start: datetime | None = None,
              **settings: Any) -> JourneyKit:
        values: dict[str, Any] = {"home": home, "database_url": f"sqlite:///{(home / 'kit.db').as_posix()}",
                                  "outbox_dir": home / "outbox", "holdout_share": 0.0,
                                  "environment": "development"}  # a test: the built-in link secret is fine
        values.update(settings)
        clock = FrozenClock(start or datetime(2026, 3, 2, 15, 0, tzinfo=ZoneInfo("UTC")))
        email, sms = FakeEmailSender(), FakeSmsSender()
        services = build_services(Settings(**values), clock=clock, email=email, sms=sms, journey=journey)
        return cls(services, clock, email, sms)

    def close(self) -> None:
        self.services.engine.dispose()

    @property
    def now(self) -> datetime:
        return self.clock.now()

    # What happens in the store -------------------------------------------------------------------------
    def add_product(self, product_id: str, title: str, *, category: str = "general",
                    setup_instructions: str | None = None, video_url: str | None = None,
                    url: str | None = None) -> None:
        """A catalog entry: what the setup guide shows (instructions, video) and cross-sell links to."""
        with self.services.session_factory() as session, session.begin():
            session.merge(Product(id=product_id, title=title, category=category,
                                  setup_instructions=setup_instructions, video_url=video_url, url=url))

    def customer(self, n: int = 1, **overrides: Any) -> CustomerIn:
        values: dict[str, Any] = dict(external_id=f"c{n}", email=f"c{n}@example.com", phone=f"+1212555{n:04d}",
                                      first_name="Alex", locale="en", timezone="America/New_York", region="US",
                                      consents=ALL_CONSENTS)
        values.update(overrides)
        return CustomerIn(**values)

    def place_order(self, n: int = 1, *, customer: CustomerIn | None = None,
                    items: tuple[ItemIn, ...] | None = None, **overrides: Any) -> int:
        """Order `o<n>` (number #100n) for `customer` (default: customer `c<n>`); returns our order id."""
        items = items or (ItemIn("sku-a", "Espresso Machine", 1, Decimal("349.00"), "appliances"),)
        total = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
        values: dict[str, Any] = dict(
            external_id=f"o{n}", number=f"#{1000 + n}", customer=customer or self.customer(n), placed_at=self.now,
            items=items, subtotal=total, total=total, payment_summary="Visa ending 4242",
            shipping_address={"name": "Alex", "address1": "1 Main St", "city": "Springfield", "zip": "1",
                              "country_code": "US"},
        )
        values.update(overrides)
        with self.services.session_factory() as session, session.begin():
            return self.services.ingest.record_order(session, OrderIn(**values), self.now).id

    def fulfil(self, n: int = 1, *, promised_in: timedelta = timedelta(days=3)) -> None:
        now = self.now
        with self.services.session_factory() as session, session.begin():
            self.services.ingest.record_fulfillment(session, FulfillmentIn(
                f"s{n}", f"o{n}", now, "UPS", f"1Z{n:06d}", f"https://ups.example/{n}", now + promised_in), now)

    def track(self, status: str, n: int = 1) -> None:
        now = self.now
        with self.services.session_factory() as session, session.begin():
            self.services.ingest.record_tracking(session, shipment_external_id=f"s{n}", order_external_id=f"o{n}",
                                                 status=status, at=now, now=now)

    def deliver(self, n: int = 1) -> None:
        self.track("delivered", n)

    def answer_csat(self, order_id: int, score: int, channel: str = "sms") -> None:
        now = self.now
        with self.services.session_factory() as session, session.begin():
            self.services.ingest.record_csat(session, order_id=order_id, score=score, channel=channel, at=now,
                                             now=now)

    def resolve_recovery(self, order_id: int) -> None:
        now = self.now
        with self.services.session_factory() as session, session.begin():
            self.services.ingest.resolve_recovery(session, order_id=order_id, at=now, now=now)

    def send_event(self, name: str, *, customer: str = "c1", data: Mapping[str, Any] | None = None,
                   idempotency_key: str | None = None, order: str | None = None) -> str:
        key = idempotency_key or f"{name}:{customer}:{self.now.isoformat()}"
        return send_event(self.services, name, customer=customer, order=order, data=data, idempotency_key=key)

    # Time ------------------------------------------------------------------------------------------------
    def sweep(self) -> None:
        self.services.sweeper.run()

    def advance(self, *, to: datetime | None = None, days: float = 0, hours: float = 0,
                tick: timedelta = timedelta(hours=1)) -> None:
        """Move the clock forward (by `days`/`hours`, or `to` a moment), sweeping every `tick` as the
        scheduled deployment would; a sweep runs first, at the current time."""
        until = to if to is not None else self.now + timedelta(days=days, hours=hours)
        self.sweep()
        while self.now < until:
            self.clock.advance(min(tick, until - self.now))
            self.sweep()

    # What went out, and why not ------------------------------------------------------------------------
    def sent(self, step: str | None = None, *, channel: str | None = None) -> list[Sent]:
        payloads: dict[str, EmailMessage | SmsMessage] = {m.message_id: m for m in (*self.email.sent, *self.sms.sent)}
        with self.services.session_factory() as session:
            query = select(Message).where(Message.status.in_(_SENT)).order_by(Message.sent_at, Message.id)
            if step is not None:
                query = query.where(Message.step == step)
            if channel is not None:
                query = query.where(Message.channel == channel)
            rows = list(session.scalars(query))
        out = []
        for m in rows:
            p = payloads.get(str(m.id))
            if p is None:
                continue
            if isinstance(p, EmailMessage):
                out.append(Sent(m.step, m.channel, p.locale, p.to, as_utc(m.sent_at), p.marketing, m.idempotency_key,
                                p.subject, p.text, p.html))
            else:
                out.append(Sent(m.step, m.channel, p.locale, p.to, as_utc(m.sent_at), p.marketing, m.idempotency_key,
                                "", p.body))
        return out

    def why_not(self, step: str, *, order_id: int | None = None) -> list[str]:
        """The reasons recorded for `step` (skips, deferrals, waits, cancellations), oldest first."""
        with self.services.session_factory() as session:
            decisions = select(DecisionLog.reason).where(DecisionLog.step == step, DecisionLog.reason.is_not(None))
            cancelled = select(ScheduledStep.last_reason).where(ScheduledStep.step == step,
                                                                ScheduledStep.status == "cancelled")
            skipped = select(Message.reason).where(Message.step == step, Message.status == "skipped")
            if order_id is not None:
                decisions = decisions.join(ScheduledStep, ScheduledStep.id == DecisionLog.step_id).where(
                    ScheduledStep.order_id == order_id)
                cancelled = cancelled.where(ScheduledStep.order_id == order_id)
                skipped = skipped.where(Message.order_id == order_id)
            reasons = [*session.scalars(decisions.order_by(DecisionLog.id)), *session.scalars(cancelled),
                       *session.scalars(skipped)]
        return list(dict.fromkeys(r for r in reasons if r))

    def assert_sent(self, step: str, *, channel: str | None = None, locale: str | None = None,
                    at: datetime | None = None, count: int = 1) -> list[Sent]:
        found = self.sent(step, channel=channel)
        assert len(found) == count, f"{step}: {len(found)} sent, expected {count}; why not: {self.why_not(step)}"
        if locale is not None:
            assert all(s.locale == locale for s in found), [s.locale for s in found]
        if at is not None:
            assert all(s.at == at for s in found), [s.at for s in found]
        return found

    def assert_not_sent(self, step: str, *, reason: str | None = None) -> None:
        found = self.sent(step)
        assert not found, f"{step} was sent: {found}"
        if reason is not None:
            reasons = self.why_not(step)
            assert reason in reasons, f"{step}: reasons {reasons}, expected {reason!r}"

    def order_id(self, n: int = 1) -> int:
        with self.services.session_factory() as session:
            found = session.scalar(select(Order.id).where(Order.external_id == f"o{n}"))
        assert found is not None, f"no order o{n}"
        return found
