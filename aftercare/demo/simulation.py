"""Advancing a simulated clock through the store's life, with customers who react to what they receive.

Each tick applies the store's events that have come due (orders, shipments, answers, opt-outs) through the
same `Ingest` service the webhooks use, runs the sweep, then lets customers react to the messages sent
in that tick (answer CSAT, leave a review, reply STOP, come back after a win-back). Seeded: the same seed
gives the same store, the same sends and the same funnel.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.clock import FrozenClock
from aftercare.db.models import Customer, Message, Order, Product
from aftercare.demo.catalog import shopify_bodies
from aftercare.demo.moments import OUT_OF_STOCK, Moments
from aftercare.demo.population import SyntheticCustomer, make_customers, make_order
from aftercare.domain.promise import zone_of
from aftercare.journeys.store_events import REVIEW_CREATED
from aftercare.services import catalog
from aftercare.services.commands import FulfillmentIn, RefundIn, StoreEventIn
from aftercare.services.ingest import UnknownOrder
from aftercare.services.reports import SweepReport

CARRIERS = (("UPS", "https://www.ups.com/track?tracknum={}"), ("FedEx", "https://www.fedex.com/fedextrack/?trknbr={}"),
            ("DHL", "https://www.dhl.com/track?id={}"))
ON_TIME_CSAT = (0.03, 0.04, 0.08, 0.30, 0.55)  # P(score 1..5): mean 4.3
LATE_CSAT = (0.28, 0.25, 0.20, 0.15, 0.12)  # mean 2.6


@dataclass(frozen=True)
class TrueEffect:
    """What sending one step really does in the synthetic store, in `aftercare lift`'s own terms.

    `delta` is added to the chance of `outcome` (a name from `aftercare.analytics.lift.OUTCOMES`) for a
    customer who is sent the step, compared with one held out. `aftercare lift` on a simulation should
    recover it within its interval; the test in tests/integration/test_lift_recovers_effects.py checks it.
    """

    step: str
    outcome: str
    delta: float
    how: str


# The store's built-in true effects, defined once. Everything else customers do (CSAT answers, repeat
# orders, refunds) happens whether or not a marketing message is sent.
TRUE_EFFECTS: tuple[TrueEffect, ...] = (
    TrueEffect("winback_1", "repeat_30d", 0.08, "an extra order 6 h to 7 days after the message"),
    TrueEffect("winback_2", "repeat_30d", 0.06, "an extra order 6 h to 7 days after the message"),
    TrueEffect("winback_3", "repeat_30d", 0.05, "an extra order 6 h to 7 days after the message"),
    TrueEffect("review_request", "review", 0.25, "a review of the order's first item within 3 days"),
    TrueEffect("setup_guide", "refund_60d", -0.03,
               "half of the planned refunds (6% of orders, 3-8 days after delivery) are called off"),
)
EFFECTS: dict[str, TrueEffect] = {e.step: e for e in TRUE_EFFECTS}


def expected_lift(step: str, holdout_share: float) -> float:
    """The difference `aftercare lift` should find for `step`'s effect, given the holdout share.

    For most steps that is the step's own `delta`. The win-back messages are a sequence: winback_2 is
    scheduled only when winback_1 was sent, winback_3 only when winback_2 was, and each later message has
    its own holdout draw. So a customer held out of winback_1 gets none of the three, and one sent
    winback_1 gets winback_2 with chance (1 - h) and winback_3 with chance (1 - h)^2: the lift of a
    win-back step is the effect of the rest of the sequence it starts,
    ``1 - prod(1 - reach_i * delta_i)``. (Every message's extra order lands within 7 days and the
    sequence spans 21 days, so all of it falls inside the 30-day window; a customer who comes back gets
    no further win-back, which the product already accounts for.)
    """
    effect = EFFECTS[step]
    if not step.startswith("winback_"):
        return effect.delta
    sequence = [e for e in TRUE_EFFECTS if e.step.startswith("winback_")]
    start = [e.step for e in sequence].index(step)
    stay_away = 1.0
    for offset, later in enumerate(sequence[start:]):
        stay_away *= 1.0 - (1.0 - holdout_share) ** offset * later.delta
    return 1.0 - stay_away


# Kept for callers of the win-back part alone: the chance a win-back message brings the customer back.
WINBACK_RETURN = {e.step: e.delta for e in TRUE_EFFECTS if e.step.startswith("winback_")}


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 7
    customers: int = 1800
    order_days: int = 90
    days: int = 180
    tick: timedelta = timedelta(hours=3)
    start: datetime = datetime.fromisoformat("2026-01-05T00:00:00+00:00")
    late_share: float = 0.08
    csat_answer_share: float = 0.30
    cancel_share: float = 0.03
    refund_share: float = 0.06
    repeat_share: float = 0.25
    # Before it arrives: a promise at order time for a share of orders; some of those not shipped by it
    # (a quarter never ship), some shipments that stall in transit. Drawn from their own seeded stream, so
    # the rest of the store is the same store.
    promise_share: float = 0.5
    unshipped_late_share: float = 0.06
    stalled_share: float = 0.04
    failed_attempt_share: float = 0.03


@dataclass
class Simulation:
    services: Services
    clock: FrozenClock
    config: DemoConfig
    sweep: Callable[[], SweepReport]
    rng: random.Random = field(init=False)
    queue: list[tuple[datetime, int, str, tuple[Any, ...]]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    customers: dict[str, SyntheticCustomer] = field(default_factory=dict)
    answers_csat: set[str] = field(default_factory=set)
    late_orders: set[str] = field(default_factory=set)
    guided_orders: set[int] = field(default_factory=set)  # order ids that were sent the setup guide
    order_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    report: SweepReport = field(default_factory=SweepReport)
    moments: Moments = field(init=False)  # issue 14: subscriptions, exchanges, tiers, referrals (own stream)
    ordered: set[str] = field(default_factory=set)  # customers with an order planned
    before_rng: random.Random = field(init=False)  # issue 13: promises, late and stalled orders (own stream)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.moments = Moments(self.config.seed)
        self.before_rng = random.Random(self.config.seed * 7919 + 13)

    # Set-up -------------------------------------------------------------------------------------------
    def seed_store(self) -> None:
        now = self.clock.now()
        settings = self.services.settings
        with self.services.session_factory() as session, session.begin():
            for body in shopify_bodies(now.isoformat()):  # as products/create would bring them
                catalog.upsert(session, catalog.map_product(
                    body, namespace=settings.catalog_metafield_namespace, keys=settings.catalog_metafield_keys,
                    shop_url="https://shop.example.com"))
            session.flush()
            for pid in OUT_OF_STOCK:  # never cross-sold while out of stock
                product = session.get(Product, pid)
                if product is not None:
                    product.in_stock = False
        for customer in make_customers(self.rng, self.config.customers, now):
            self.customers[customer.data.external_id] = customer
            if self.rng.random() < self.config.csat_answer_share:
                self.answers_csat.add(customer.data.external_id)
            first = now + timedelta(minutes=self.rng.randint(0, self.config.order_days * 24 * 60))
            self._plan_order(customer, first)
            if self.rng.random() < self.config.repeat_share:
                gap = timedelta(days=min(self.rng.lognormvariate(3.5, 0.6), 150))  # median ~34 days
                self._plan_order(customer, first + gap)

    def _at(self, when: datetime, kind: str, *args: Any) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), kind, args))

    def _plan_order(self, customer: SyntheticCustomer, placed: datetime) -> None:
        order = make_order(self.rng, customer, next(self.order_numbers), placed)
        scenario, promise = self._before_it_arrives(customer, placed)
        if promise is not None:
            order = replace(order, promise=promise)
        self._at(placed, "order", order)
        if self.rng.random() < self.config.cancel_share:
            self._at(placed + timedelta(minutes=self.rng.randint(5, 90)), "cancel", order.external_id)
            return
        shipped = placed + timedelta(hours=self.rng.randint(12, 48))
        promised = shipped + timedelta(days=3)
        carrier, url = self.rng.choice(CARRIERS)
        tracking = f"TRK{self.rng.randint(10**9, 10**10 - 1)}"
        ship_id = f"ship-{order.external_id}"
        if scenario in ("late_dispatch", "never_shipped"):  # not shipped by the end of the promised day
            self.late_orders.add(order.external_id)
            if scenario == "never_shipped":
                return
            shipped = placed + timedelta(days=6 + self.before_rng.randint(0, 4), hours=self.before_rng.randint(0, 20))
            promised = shipped + timedelta(days=3)  # the carrier's estimate: a new, later day
        # An order promised at checkout keeps that promise; only a late dispatch brings the carrier's new day.
        estimate = promised if promise is None or scenario == "late_dispatch" else None
        self._at(shipped, "fulfill", FulfillmentIn(ship_id, order.external_id, shipped, carrier, tracking,
                                                   url.format(tracking), estimate))
        self._at(shipped + timedelta(hours=20), "track", ship_id, order.external_id, "in_transit")
        if self.rng.random() < self.config.late_share:
            self.late_orders.add(order.external_id)
            delivered = promised + timedelta(hours=self.rng.randint(24, 120))
            if self.rng.random() < 0.5:
                self._at(promised - timedelta(hours=6), "track", ship_id, order.external_id, "delayed")
        else:
            delivered = promised - timedelta(hours=self.rng.randint(0, 40))
        if scenario == "stalled":  # no scan after the first one for 4-7 days
            self.late_orders.add(order.external_id)
            delivered = shipped + timedelta(hours=20, days=4 + self.before_rng.randint(0, 3))
        elif scenario == "failed_attempt":
            self._at(delivered - timedelta(hours=2), "track", ship_id, order.external_id, "attempted_delivery")
            delivered += timedelta(days=1)
        self._at(delivered - timedelta(hours=4), "track", ship_id, order.external_id, "out_for_delivery")
        self._at(delivered, "track", ship_id, order.external_id, "delivered")
        first = customer.data.external_id not in self.ordered
        self.ordered.add(customer.data.external_id)
        end = self.config.start + timedelta(days=self.config.days)
        for when, kind, args in self.moments.after_order(customer.data.external_id, order, delivered, first, end):
            self._at(when, kind, *args)
        if self.rng.random() < self.config.refund_share:
            product = order.items[0].product_id
            # After the setup guide (due a day after delivery), so the guide can prevent it: see TRUE_EFFECTS.
            refund_at = delivered + timedelta(days=self.rng.randint(3, 8))
            self._at(refund_at, "refund", RefundIn(f"refund-{order.external_id}", order.external_id, refund_at,
                                                   (product,)))

    def _before_it_arrives(self, customer: SyntheticCustomer, placed: datetime) -> tuple[str, str | None]:
        """This order's scenario and the promise written on it (a day, as a note attribute would carry it):
        4 days after the order day in the customer's zone, for `promise_share` of orders."""
        rng, config = self.before_rng, self.config
        promise = None
        if rng.random() < config.promise_share:
            local_day = placed.astimezone(zone_of(customer.data.timezone)).date()
            promise = (local_day + timedelta(days=4)).isoformat()
        draw = rng.random()
        if promise is not None and draw < config.unshipped_late_share:
            return ("never_shipped" if rng.random() < 0.25 else "late_dispatch"), promise
        draw -= config.unshipped_late_share
        if 0 <= draw < config.stalled_share:
            return "stalled", promise
        draw -= config.stalled_share
        if 0 <= draw < config.failed_attempt_share:
            return "failed_attempt", promise
        return "normal", promise

    # The loop -----------------------------------------------------------------------------------------
    def run(self, on_tick: Callable[[int, int], None] | None = None) -> SweepReport:
        ticks = int(timedelta(days=self.config.days) / self.config.tick)
        for index in range(ticks):
            now = self.clock.advance(self.config.tick)
            self._apply_due_events(now)
            swept = self.sweep()
            self.report.merge(swept)
            if swept.total_sent:
                self._react(now)
            if on_tick:
                on_tick(index + 1, ticks)
        return self.report

    def _apply_due_events(self, now: datetime) -> None:
        if not self.queue or self.queue[0][0] > now:
            return
        ingest = self.services.ingest
        with self.services.session_factory() as session, session.begin():
            while self.queue and self.queue[0][0] <= now:
                when, _, kind, args = heapq.heappop(self.queue)
                try:
                    self._apply(session, ingest, kind, args, when, now)
                except UnknownOrder:
                    pass  # e.g. a tracking event for an order cancelled before it was stored

    def _apply(self, session: Any, ingest: Any, kind: str, args: tuple[Any, ...], when: datetime,
               now: datetime) -> None:
        if kind == "order":
            ingest.record_order(session, args[0], now)
        elif kind == "cancel":
            ingest.cancel_order(session, args[0], when, now)
        elif kind == "fulfill":
            ingest.record_fulfillment(session, args[0], now)
        elif kind == "track":
            ingest.record_tracking(session, shipment_external_id=args[0], order_external_id=args[1],
                                   status=args[2], at=when, now=now)
        elif kind == "refund":
            if self._refund_prevented(session, args[0]):
                return
            ingest.record_refund(session, args[0], now)
        elif kind == "csat":
            ingest.record_csat(session, order_id=args[0], score=args[1], channel=args[2], at=when, now=now)
        elif kind == "resolve":
            ingest.resolve_recovery(session, order_id=args[0], at=when, now=now, resolution="refund issued")
        elif kind == "review":  # reported by the review destination, as the store's own event
            customer, order = session.get(Customer, args[0]), session.get(Order, args[3])
            ingest.record_store_event(session, StoreEventIn(
                REVIEW_CREATED, customer.external_id, when, f"review-{args[0]}-{args[1]}", order.external_id,
                {"product": args[1], "rating": args[2]}), now)
        elif kind == "store":
            ingest.record_store_event(session, args[0], now)
        elif kind == "return_refund":
            if args[0].order_external_id not in self.moments.exchanged:
                ingest.record_refund(session, args[0], now)
        elif kind == "order_request":  # the order page: a cancellation request, or a problem report
            ingest.record_order_request(session, order_id=args[0], kind=args[1], topic=args[2], at=when, now=now)
        elif kind in ("stop", "unsub"):
            customer = session.get(Customer, args[0])
            if kind == "stop":
                ingest.sms_stopped(session, customer, when, source="sms:STOP")
            else:
                ingest.email_unsubscribed(session, customer, when, source="email:unsubscribe-link")

    def _react(self, now: datetime) -> None:
        """Customers react to what they received in this tick."""
        with self.services.session_factory() as session:
            sent = session.execute(
                select(Message.step, Message.channel, Message.purpose, Message.order_id, Message.customer_id,
                       Order.external_id.label("order_ext"), Customer.external_id.label("customer_ext"))
                .join(Order, Order.id == Message.order_id)
                .join(Customer, Customer.id == Message.customer_id)
                .where(Message.sent_at == now, Message.status == "sent")
                .order_by(Message.id)
            ).all()
        rng = self.rng
        for m in sent:
            late = m.order_ext in self.late_orders
            if m.step == "csat" and m.customer_ext in self.answers_csat:
                weights = LATE_CSAT if late else ON_TIME_CSAT
                score = rng.choices(range(1, 6), weights=weights)[0]
                self._at(now + timedelta(hours=rng.randint(1, 30)), "csat", m.order_id, score, m.channel)
            elif m.step == "service_recovery" and rng.random() < 0.85:
                self._at(now + timedelta(days=rng.randint(1, 3)), "resolve", m.order_id)
            elif m.step == "setup_guide":
                self.guided_orders.add(m.order_id)
            elif m.step == "review_request" and rng.random() < EFFECTS["review_request"].delta:
                weights = LATE_CSAT if late else ON_TIME_CSAT
                product = self._first_product(m.order_id)
                if product:
                    self._at(now + timedelta(hours=rng.randint(2, 72)), "review", m.customer_id, product,
                             rng.choices(range(1, 6), weights=weights)[0], m.order_id)
            elif m.step in ("dispatch_delay", "transit_stalled") and m.channel == "email":
                self._order_page(now, m.order_id, m.step)
            elif m.step in WINBACK_RETURN and rng.random() < WINBACK_RETURN[m.step]:
                customer = self.customers[m.customer_ext]
                self._plan_order(customer, now + timedelta(hours=rng.randint(6, 7 * 24)))
            for when, kind, args in self.moments.react(m.step, m.customer_ext, m.order_ext, now):
                self._at(when, kind, *args)
            if m.purpose == "marketing":
                if m.channel == "sms" and rng.random() < 0.02:
                    self._at(now + timedelta(minutes=30), "stop", m.customer_id)
                elif m.channel == "email" and rng.random() < 0.01:
                    self._at(now + timedelta(hours=2), "unsub", m.customer_id)

    def _order_page(self, now: datetime, order_id: int, step: str) -> None:
        """A delay notice's remedy, used: some cancel an unshipped order, some report the stalled parcel
        (their own seeded stream, like the rest of the before-it-arrives store)."""
        if self.before_rng.random() < 0.3:
            kind, topic = ("cancel", None) if step == "dispatch_delay" else ("problem", "late")
            self._at(now + timedelta(hours=self.before_rng.randint(1, 12)), "order_request", order_id, kind, topic)

    def _refund_prevented(self, session: Any, refund: RefundIn) -> bool:
        """A guided customer calls off a planned refund with chance |delta| / refund_share."""
        order_id = session.scalar(select(Order.id).where(Order.external_id == refund.order_external_id))
        if order_id not in self.guided_orders:
            return False
        share = -EFFECTS["setup_guide"].delta / self.config.refund_share
        return self.rng.random() < share

    def _first_product(self, order_id: int) -> str | None:
        from aftercare.db.models import OrderItem

        with self.services.session_factory() as session:
            return session.scalar(select(OrderItem.product_id).where(OrderItem.order_id == order_id)
                                  .order_by(OrderItem.id).limit(1))
