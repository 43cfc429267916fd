"""Applying what happened (orders, shipments, answers, opt-outs) to state, and scheduling what follows.

Every method is idempotent: the same order, shipment event or answer applied twice changes nothing the
second time, which is what makes webhook replays and the stored-event flow safe. Methods take the caller's
session and never commit, so one inbox event is applied in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.contact import normalise_email, normalise_phone
from aftercare.db.limits import clip
from aftercare.db.models import (
    CsatAnswer,
    Customer,
    Order,
    OrderItem,
    OrderRequest,
    RecoveryCase,
    ReturnItem,
    Review,
    Shipment,
)
from aftercare.db.models import (
    Journey as JourneyRow,
)
from aftercare.domain.consent import ConsentSource
from aftercare.domain.points import PointsTable
from aftercare.domain.promise import day_ends_at, parse_promise, promise_by_method, promised_day
from aftercare.domain.vocabulary import Channel, Purpose, Reason
from aftercare.domain.zones import is_zone, resolve_zone
from aftercare.journeys import events
from aftercare.journeys.events import Event
from aftercare.journeys.journey import Journey
from aftercare.journeys.store_events import REFERRAL_ORDERED, REVIEW_CREATED
from aftercare.services import consent_ledger, order_requests, scheduler
from aftercare.services.commands import (
    EXCEPTION_STATUSES,
    FAILED_ATTEMPT_STATUSES,
    OUT_FOR_DELIVERY_STATUSES,
    TRACKING_PROGRESS,
    ConsentIn,
    CustomerIn,
    FulfillmentIn,
    OrderIn,
    RefundIn,
    StoreEventIn,
)
from aftercare.winback.rules import LapseRule
from aftercare.winback.store import winback_due


def _zone_of(data: CustomerIn, phone: str | None, known: str | None) -> str:
    """A stated zone if it is a real one; else the zone of the address, then the phone (zones.resolve_zone);
    else the one we had. A stated zone that is no zone, with nothing to derive one from, is kept as stated:
    a step timed to the customer's clock then records a skip with its reason, never a guess."""
    if is_zone(data.timezone):
        return str(data.timezone)
    guess = resolve_zone(country=data.region, region=data.subdivision, postal_code=data.postal_code, phone=phone)
    if guess.source != "default":
        return guess.zone
    if data.timezone:
        return clip(data.timezone, Customer.timezone) or "UTC"
    return known or "UTC"


class UnknownOrder(LookupError):
    """An event names an order we have not seen (yet): the caller keeps it to apply later."""


class UnknownStoreCustomer(UnknownOrder):
    """A store event names a customer we have no order of (yet): kept to apply later, like an early event."""


@dataclass
class Ingest:
    journey: Journey
    points: PointsTable = field(default_factory=PointsTable)  # earn rate, goodwill, threshold per currency
    happy_min_score: int = 4
    unhappy_max_score: int = 2
    # Win-back timed to the customer (AFTERCARE_WINBACK_RULE); None keeps the journey's fixed window.
    lapse_rule: LapseRule | None = None
    winback_offset: timedelta = timedelta(0)  # the sequence's first offset (winback_sequence_days[0])
    # A promise per shipping method (code or title, case-insensitive) in days, when the order has none.
    promise_days_by_method: Mapping[str, float] = field(default_factory=dict)
    review_points: int = 0  # credited once per (customer, product) when a review is reported
    referral_bonus_points: int = 0  # credited to the referrer once per referred order
    # Set by a history import (`importing`): steps due by then are recorded `backfilled`, never sent.
    backfill_until: datetime | None = None

    def importing(self, now: datetime) -> Ingest:
        """The same ingestion for history: what was due before `now` is recorded as backfilled, not sent."""
        return replace(self, backfill_until=now)

    # Customers and consent -------------------------------------------------------------------------
    def upsert_customer(self, session: Session, data: CustomerIn, now: datetime) -> Customer:
        customer = session.scalar(select(Customer).where(Customer.external_id == data.external_id))
        email = normalise_email(data.email)
        phone = normalise_phone(data.phone, data.region)
        if customer is None:
            customer = Customer(external_id=data.external_id, created_at=now, points_balance=0, points_expiring=0,
                                loyalty_tier="member")
            session.add(customer)
        customer.email = email
        customer.email_valid = email is not None
        customer.phone = phone or clip(data.phone or None, Customer.phone)  # an unparseable raw number, for reference
        customer.phone_valid = phone is not None
        customer.first_name = data.first_name or customer.first_name or ""
        customer.locale = (data.locale or "en").split("-")[0].lower()
        customer.timezone = _zone_of(data, phone, customer.timezone)
        customer.region = data.region or customer.region
        if data.loyalty_tier is not None:
            customer.loyalty_tier = data.loyalty_tier
        if data.points_balance is not None:
            customer.points_balance = data.points_balance
        if data.points_expiring is not None:
            customer.points_expiring = data.points_expiring
            customer.points_expire_at = data.points_expire_at
        # Never more points expiring than the customer holds: spent points do not expire.
        customer.points_expiring = max(0, min(customer.points_expiring or 0, customer.points_balance or 0))
        session.flush()
        consent_ledger.record(session, customer, data.consents, now)
        return customer

    def record_consent(self, session: Session, customer: Customer, statements: Sequence[ConsentIn],
                       received_at: datetime) -> None:
        """Keep consent statements as evidence; the newest statement per (channel, purpose) holds."""
        consent_ledger.record(session, customer, statements, received_at)

    def email_unsubscribed(self, session: Session, customer: Customer, at: datetime, source: str, *,
                           kind: ConsentSource = ConsentSource.UNSUBSCRIBE_LINK, received_at: datetime | None = None,
                           text_version: str | None = None) -> None:
        """An opt-out from email marketing, said at `at` (`source` says where, e.g. "link:one_click")."""
        self._said(session, customer, [Purpose.MARKETING], Channel.EMAIL, False, kind, source, at, received_at,
                   text_version)

    def email_resubscribed(self, session: Session, customer: Customer, at: datetime, source: str, *,
                           kind: ConsentSource, received_at: datetime | None = None,
                           text_version: str | None = None) -> None:
        self._said(session, customer, [Purpose.MARKETING], Channel.EMAIL, True, kind, source, at, received_at,
                   text_version)

    def email_bounced(self, session: Session, customer: Customer, at: datetime) -> None:
        """Not a consent statement: the address does not work. Blocks every email, whatever consent says."""
        customer.email_bounced_at = customer.email_bounced_at or at

    def sms_stopped(self, session: Session, customer: Customer, at: datetime, source: str, *,
                    kind: ConsentSource = ConsentSource.SMS_KEYWORD, received_at: datetime | None = None) -> None:
        """STOP (or a provider's 21610): no SMS of any purpose until START."""
        self._said(session, customer, list(Purpose), Channel.SMS, False, kind, source, at, received_at, None)

    def sms_started(self, session: Session, customer: Customer, at: datetime, source: str, *,
                    received_at: datetime | None = None) -> None:
        """START (UNSTOP, YES): lifts a STOP, restoring what it removed; it never creates consent."""
        self._said(session, customer, list(Purpose), Channel.SMS, True, ConsentSource.SMS_KEYWORD, source, at,
                   received_at, None)

    def _said(self, session: Session, customer: Customer, purposes: list[Purpose], channel: Channel, granted: bool,
              kind: ConsentSource, detail: str, at: datetime, received_at: datetime | None,
              text_version: str | None) -> None:
        statements = [ConsentIn(channel, purpose, granted, kind, detail, stated_at=at, text_version=text_version)
                      for purpose in purposes]
        consent_ledger.record(session, customer, statements, received_at or at)

    # Orders ------------------------------------------------------------------------------------------
    def record_order(self, session: Session, data: OrderIn, now: datetime) -> Order:
        """Store a new order and start its journey; a repeat of a known order only refreshes the customer."""
        customer = self.upsert_customer(session, data.customer, now)
        order = session.scalar(select(Order).where(Order.external_id == data.external_id))
        if order is not None:
            promised = self._order_promise(data, customer.timezone)
            if promised is not None and order.status != "cancelled":  # orders/updated with a (new) promise
                journey_row = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order.id))
                assert journey_row is not None
                self._promise(session, order, journey_row, promised, customer.timezone, now, now)
            if data.cancelled_at is not None:
                self.cancel_order(session, data.external_id, data.cancelled_at, now)
            return order
        # Points are earned, never charged: a negative or zero total (a credit, a test order) earns none, and
        # nothing anywhere takes back more than `points_earned`.
        points = self.points.earned(data.total, data.currency)
        order = Order(
            external_id=data.external_id, number=data.number, customer_id=customer.id, placed_at=data.placed_at,
            currency=data.currency, subtotal=data.subtotal, discount_total=data.discount_total,
            discount_codes=list(data.discount_codes), shipping_total=data.shipping_total,
            tax_total=data.tax_total, total=data.total, shipping_address=data.shipping_address,
            payment_summary=data.payment_summary, status="open", points_earned=points,
        )
        session.add(order)
        session.flush()
        session.add_all(
            OrderItem(order_id=order.id, product_id=i.product_id, title=i.title, category=i.category,
                      quantity=i.quantity, unit_price=i.unit_price)
            for i in data.items
        )
        customer.points_balance = (customer.points_balance or 0) + points
        journey_row = JourneyRow(order_id=order.id, customer_id=customer.id, started_at=now, status="active")
        session.add(journey_row)
        session.flush()
        # A new order stops at once the steps it cancels (win-back), and their decisions re-check it when due.
        # An imported order older than one we hold is no new order: the newer order's steps stay.
        if self.backfill_until is None or not self._has_newer_order(session, order):
            scheduler.cancel_for(session, self.journey, events.ORDER_PLACED, customer_id=customer.id, now=now,
                                 except_journey_id=journey_row.id)
        self._fire(session, journey_row, events.ORDER_PLACED, data.placed_at, now)
        if customer.points_expiring and customer.points_expire_at is not None:
            self._fire(session, journey_row, events.POINTS_EXPIRY, customer.points_expire_at, now)
        promised = self._order_promise(data, customer.timezone)
        if promised is not None:
            self._promise(session, order, journey_row, promised, customer.timezone, data.placed_at, now)
        if data.cancelled_at is not None:
            self.cancel_order(session, data.external_id, data.cancelled_at, now)
        return order

    def cancel_order(self, session: Session, order_external_id: str, at: datetime, now: datetime) -> Order:
        order, journey_row = self._order(session, order_external_id)
        if order.status != "cancelled":
            order.status = "cancelled"
            order.cancelled_at = at
            journey_row.status = "cancelled"
            self._fire(session, journey_row, events.ORDER_CANCELLED, at, now)
        return order

    def record_refund(self, session: Session, data: RefundIn, now: datetime) -> None:
        order, _ = self._order(session, data.order_external_id)
        known = set(session.scalars(select(ReturnItem.external_id).where(ReturnItem.order_id == order.id)))
        for index, product_id in enumerate(data.product_ids or ("*",)):
            key = f"{data.external_id}:{index}"
            if key in known:
                continue
            session.add(ReturnItem(external_id=key, order_id=order.id, product_id=product_id, kind=data.kind,
                                   amount=data.amount if index == 0 else Decimal("0"), created_at=data.created_at))
        session.flush()

    # Shipping ----------------------------------------------------------------------------------------
    def record_fulfillment(self, session: Session, data: FulfillmentIn, now: datetime) -> Shipment:
        order, journey_row = self._order(session, data.order_external_id)
        shipment = session.scalar(select(Shipment).where(Shipment.external_id == data.external_id))
        if shipment is None:
            shipment = Shipment(external_id=data.external_id, order_id=order.id, status="fulfilled",
                                shipped_at=data.shipped_at, last_event_at=data.shipped_at)
            session.add(shipment)
        shipment.carrier = data.carrier or shipment.carrier
        shipment.tracking_number = data.tracking_number or shipment.tracking_number
        shipment.tracking_url = data.tracking_url or shipment.tracking_url
        shipment.promised_at = data.promised_at or shipment.promised_at
        if order.status == "open":
            order.status = "fulfilled"
        session.flush()
        self._fire(session, journey_row, events.FULFILLED, data.shipped_at, now)
        zone = self._zone(session, order)
        if data.promised_at is not None:
            self._promise(session, order, journey_row, data.promised_at, zone, data.shipped_at, now)
        elif order.promised_at is not None:  # the order's own promise now holds the shipment to it
            self._fire_promise(session, journey_row, order.estimated_at or order.promised_at, zone, now)
        return shipment

    def record_tracking(
        self, session: Session, *, shipment_external_id: str, order_external_id: str, status: str,
        at: datetime, now: datetime, estimated_delivery_at: datetime | None = None,
    ) -> Shipment:
        """A carrier event. Statuses only move forward; `delivered` wins whenever it arrives."""
        order, journey_row = self._order(session, order_external_id)
        shipment = session.scalar(select(Shipment).where(Shipment.external_id == shipment_external_id))
        if shipment is None:  # the event beat its fulfilment webhook: create the shipment from it
            shipment = self.record_fulfillment(
                session, FulfillmentIn(shipment_external_id, order_external_id, shipped_at=at), now
            )
        status = status.lower()
        if estimated_delivery_at is not None:
            shipment.promised_at = shipment.promised_at or estimated_delivery_at
            self._promise(session, order, journey_row, estimated_delivery_at, self._zone(session, order), at, now)
        if TRACKING_PROGRESS.get(status, 0) >= TRACKING_PROGRESS.get(shipment.status, 0):
            shipment.status = status
            shipment.last_event_at = at
        if status == "delivered" and shipment.delivered_at is None:
            shipment.delivered_at = at
            if order.status != "cancelled":
                order.status = "delivered"
            session.flush()
            lapse = self._predicted_lapse(session, order, at) if self.lapse_rule is not None else None
            data = {"predicted_lapse_at": lapse} if lapse is not None else {}
            self._fire(session, journey_row, Event(events.DELIVERED, at, data), now=now)
        elif status in EXCEPTION_STATUSES and shipment.delivered_at is None and shipment.exception_at is None:
            shipment.exception_at = at
            session.flush()
            self._fire(session, journey_row, self._slip_event(
                session, order, events.CARRIER_EXCEPTION, at), now=now)
        elif status in FAILED_ATTEMPT_STATUSES and shipment.delivered_at is None:
            self._fire(session, journey_row, events.FAILED_ATTEMPT, at, now)
        elif status in OUT_FOR_DELIVERY_STATUSES and shipment.delivered_at is None:
            self._fire(session, journey_row, events.OUT_FOR_DELIVERY, at, now)
        session.flush()
        return shipment

    # The promise ----------------------------------------------------------------------------------------
    def _order_promise(self, data: OrderIn, zone: str) -> datetime | None:
        """The promise an order carries (its note attribute or metafield), else its shipping method's."""
        written = parse_promise(data.promise, zone)
        if written is not None:
            return written
        method = (data.shipping_method or "").strip().lower()
        days = {k.lower(): v for k, v in self.promise_days_by_method.items()}.get(method) if method else None
        return promise_by_method(data.placed_at, days, zone) if days is not None else None

    def _promise(self, session: Session, order: Order, journey_row: JourneyRow, promised: datetime, zone: str,
                 at: datetime, now: datetime) -> None:
        """A promise learned (the first one is the promise; a later day is a new estimate and a new slip; an
        earlier or the same day changes nothing: a carrier's optimism does not move what we promised)."""
        if order.promised_at is None:
            order.promised_at = promised
            session.flush()
            if order.status == "open":  # not shipped yet: the pre-dispatch promise starts here
                self._fire(session, journey_row, self._promise_event(
                    events.ORDER_PROMISED, promised, zone), now=now)
            self._fire_promise(session, journey_row, promised, zone, now)
            return
        current = order.estimated_at or order.promised_at
        if promised_day(promised, zone) > promised_day(current, zone):
            order.estimated_at, order.promise_revised_at = promised, at
            session.flush()
            self._fire_promise(session, journey_row, promised, zone, now)

    def _fire_promise(self, session: Session, journey_row: JourneyRow, promised: datetime, zone: str,
                      now: datetime) -> None:
        self._fire(session, journey_row, self._promise_event(events.PROMISE_DUE, promised, zone),
                       now=now)

    @staticmethod
    def _promise_event(name: str, promised: datetime, zone: str) -> Event:
        return Event(name, promised, {"day_ends_at": day_ends_at(promised, zone),
                                      "promised_day": promised_day(promised, zone).isoformat()})

    def _slip_event(self, session: Session, order: Order, name: str, at: datetime) -> Event:
        """A carrier event that threatens the current promise: it carries that promise's day, so a notice
        about it and the notice when the day passes are one occurrence (one notice per slip)."""
        current = order.estimated_at or order.promised_at
        zone = self._zone(session, order)
        return Event(name, at, {"promised_day": promised_day(current, zone).isoformat()} if current else {})

    @staticmethod
    def _zone(session: Session, order: Order) -> str:
        customer = session.get(Customer, order.customer_id)
        return customer.timezone if customer is not None else "UTC"

    # The order page -------------------------------------------------------------------------------------
    def record_order_request(self, session: Session, *, order_id: int, kind: str, at: datetime, now: datetime,
                             topic: str | None = None, message: str | None = None,
                             shopify: str | None = None) -> OrderRequest:
        """A problem report or cancellation from the order page: kept for support, who are told (the request's
        id is the notice's occurrence); a cancellation Shopify carried out cancels the order here too."""
        row = order_requests.record(session, order_id=order_id, kind=kind, at=at, topic=topic, message=message,
                                    shopify=shopify)
        if row is None:
            raise UnknownOrder(str(order_id))
        order = session.get(Order, order_id)
        journey_row = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order_id))
        assert order is not None and journey_row is not None
        if row.status == "cancelled_in_shopify":
            self.cancel_order(session, order.external_id, at, now)
        self._fire(session, journey_row, Event(events.ORDER_REQUEST, at, {
            "request": row.id, "kind": row.kind, "topic": row.topic, "status": row.status}), now=now)
        return row

    # Feedback ----------------------------------------------------------------------------------------
    def record_csat(self, session: Session, *, order_id: int, score: int, channel: str, at: datetime,
                    now: datetime) -> CsatAnswer | None:
        """The first answer for an order counts; later ones are ignored (a replay changes nothing)."""
        if not 1 <= score <= 5:
            raise ValueError("CSAT score must be 1-5")
        existing = session.scalar(select(CsatAnswer).where(CsatAnswer.order_id == order_id))
        if existing is not None:
            return None
        journey_row = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order_id))
        if journey_row is None:
            raise UnknownOrder(str(order_id))
        answer = CsatAnswer(order_id=order_id, customer_id=journey_row.customer_id, score=score, channel=channel,
                            answered_at=at)
        session.add(answer)
        session.flush()
        if score >= self.happy_min_score:
            self._fire(session, journey_row, events.CSAT_HAPPY, at, now)
        elif score <= self.unhappy_max_score:
            customer = session.get(Customer, journey_row.customer_id)
            order = session.get(Order, order_id)
            assert customer is not None and order is not None
            goodwill = self.points.rule(order.currency).goodwill
            customer.points_balance = (customer.points_balance or 0) + goodwill
            session.add(RecoveryCase(order_id=order_id, customer_id=customer.id, opened_at=at,
                                     goodwill_points=goodwill, needs_follow_up=True))
            session.flush()
            self._fire(session, journey_row, events.CSAT_UNHAPPY, at, now)
        return answer

    def resolve_recovery(self, session: Session, *, order_id: int, at: datetime, now: datetime,
                         resolution: str = "resolved") -> bool:
        case = session.scalar(select(RecoveryCase).where(RecoveryCase.order_id == order_id))
        if case is None or case.resolved_at is not None:
            return False
        case.resolved_at, case.resolution, case.needs_follow_up = at, resolution, False
        journey_row = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order_id))
        assert journey_row is not None
        self._fire(session, journey_row, events.RECOVERY_RESOLVED, at, now)
        scheduler.release_held(session, customer_id=case.customer_id, reason=Reason.RECOVERY_OPEN.value, at=at,
                               now=now)
        return True

    def record_review(self, session: Session, *, customer_id: int, product_id: str, rating: int, at: datetime,
                      order_id: int | None = None) -> Review | None:
        if not 1 <= rating <= 5:
            raise ValueError("review rating must be 1-5")
        existing = session.scalar(
            select(Review).where(Review.customer_id == customer_id, Review.product_id == product_id)
        )
        if existing is not None:
            return None
        review = Review(customer_id=customer_id, product_id=product_id, order_id=order_id, rating=rating,
                        created_at=at)
        session.add(review)
        session.flush()
        return review

    def _predicted_lapse(self, session: Session, order: Order, delivered_at: datetime) -> datetime | None:
        """The customer's own lapse day by the configured rule (None: too few purchase days, the journey's
        fixed window stays). Carried on the delivered event as `predicted_lapse_at` for steps that use it."""
        placed = session.scalars(select(Order.placed_at).where(Order.customer_id == order.customer_id,
                                                                Order.status != "cancelled"))
        assert self.lapse_rule is not None
        days = [as_utc(p).date() for p in placed]
        return winback_due(self.lapse_rule, days, delivered_at, self.winback_offset)

    # Store events ------------------------------------------------------------------------------------
    def record_store_event(self, session: Session, data: StoreEventIn, now: datetime) -> list[str]:
        """Apply one of the store's own events: cancel the steps it stops, schedule the steps it triggers.

        A per-order step hangs off the named order (or the customer's latest); a per-customer step is one per
        customer and occurrence whichever order carries it (its ledger key names the customer). Returns the
        steps scheduled or moved. Idempotency is the inbox's: the event's key is stored before it is applied.
        """
        customer = session.scalar(select(Customer).where(Customer.external_id == data.customer_external_id))
        if customer is None:
            raise UnknownStoreCustomer(data.customer_external_id)
        if data.order_external_id:
            _, journey_row = self._order(session, data.order_external_id)
        else:
            journey_row = session.scalar(
                select(JourneyRow).join(Order, Order.id == JourneyRow.order_id)
                .where(JourneyRow.customer_id == customer.id)
                .order_by(Order.placed_at.desc(), JourneyRow.id.desc()).limit(1))
            if journey_row is None:
                raise UnknownStoreCustomer(data.customer_external_id)
        payload = dict(data.data)
        if data.name == REVIEW_CREATED:
            payload["points"] = self._review_reported(session, customer, data, journey_row.order_id)
        elif data.name == REFERRAL_ORDERED:
            payload["points"] = self.referral_bonus_points
            customer.points_balance = (customer.points_balance or 0) + self.referral_bonus_points
        scheduler.cancel_for(session, self.journey, data.name, customer_id=customer.id, now=now)
        event = Event(data.name, data.occurred_at, payload)
        return self._fire(session, journey_row, event, now=now)

    def _review_reported(self, session: Session, customer: Customer, data: StoreEventIn, order_id: int) -> int:
        """A review left at the review destination: recorded once per (customer, product), with its points.
        Returns the points credited (none for a product already reviewed)."""
        review = self.record_review(session, customer_id=customer.id, product_id=str(data.data["product"]),
                                    rating=int(data.data["rating"]), at=data.occurred_at, order_id=order_id)
        if review is None:
            return 0
        customer.points_balance = (customer.points_balance or 0) + self.review_points
        return self.review_points

    # -------------------------------------------------------------------------------------------------
    def _fire(self, session: Session, row: JourneyRow, trigger: str | Event, at: datetime | None = None,
              now: datetime | None = None) -> list[str]:
        return scheduler.fire(session, self.journey, row, trigger, at, now, backfill_until=self.backfill_until)

    def _has_newer_order(self, session: Session, order: Order) -> bool:
        return session.scalar(select(Order.id).where(Order.customer_id == order.customer_id, Order.id != order.id,
                                                     Order.placed_at > order.placed_at).limit(1)) is not None

    def _order(self, session: Session, external_id: str) -> tuple[Order, JourneyRow]:
        order = session.scalar(select(Order).where(Order.external_id == external_id))
        if order is None:
            raise UnknownOrder(external_id)
        journey_row = session.scalar(select(JourneyRow).where(JourneyRow.order_id == order.id))
        assert journey_row is not None, "every order has a journey"
        return order, journey_row
