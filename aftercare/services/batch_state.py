"""Loading everything a batch of due steps needs, in a fixed number of queries per batch.

One query per table for the whole batch (never per step): this is what keeps a sweep's cost proportional
to the due work. The result feeds both the pure decisions (`CustomerState`) and the templates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from aftercare.db.binds import in_param
from aftercare.db.models import (
    Consent,
    CsatAnswer,
    Customer,
    Message,
    Order,
    OrderItem,
    Product,
    RecoveryCase,
    ReturnItem,
    Review,
    Shipment,
)
from aftercare.db.records import records
from aftercare.db.types import UTCDateTime
from aftercare.domain.state import CustomerState, ItemState, OrderState
from aftercare.domain.vocabulary import Channel, MessageStatus, Purpose
from aftercare.frozen import builder
from aftercare.journeys.facts import Fact, FactQuery, SentInBatch

# The per-step state objects, filled in one step rather than by their frozen __init__ (aftercare/frozen.py): the
# same instances, a fifth of the cost.
_new_customer_state = builder(CustomerState)
_new_order_state = builder(OrderState)

_CHANNELS = {c.value: c for c in Channel}  # a dict lookup, not an Enum call per consent row
_PURPOSES = {p.value: p for p in Purpose}

_SENT_LIKE = (
    MessageStatus.SENDING.value, MessageStatus.SENT.value, MessageStatus.DELIVERED.value,
    MessageStatus.OPENED.value, MessageStatus.CLICKED.value, MessageStatus.UNKNOWN.value,
)


@dataclass
class BatchState:
    customers: dict[int, Row[Any]] = field(default_factory=dict)
    consents: dict[int, set[tuple[Channel, Purpose]]] = field(default_factory=lambda: defaultdict(set))
    orders: dict[int, Row[Any]] = field(default_factory=dict)
    items: dict[int, list[Row[Any]]] = field(default_factory=lambda: defaultdict(list))
    products: dict[str, Row[Any]] = field(default_factory=dict)
    shipments: dict[int, Row[Any]] = field(default_factory=dict)
    csat: dict[int, Row[Any]] = field(default_factory=dict)
    recovery: dict[int, Row[Any]] = field(default_factory=dict)
    returned: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    reviews: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    recent_marketing: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    last_order_at: dict[int, datetime] = field(default_factory=dict)
    facts: dict[str, dict[int, Any]] = field(default_factory=dict)  # fact name -> customer id -> value
    fact_defaults: dict[str, Any] = field(default_factory=dict)
    open_recovery: dict[int, datetime] = field(default_factory=dict)  # customer -> latest open case's opened_at
    # order id -> (its OrderState, its address's country and province codes, placed_at): see customer_state
    _order_states: dict[int, tuple[OrderState, str | None, str | None, datetime]] = field(
        default_factory=dict, init=False, repr=False)

    def record_send(self, needs: Sequence[Fact], customer_id: int, sent: SentInBatch) -> None:
        """A Send decided in this batch, shown to the facts that watch sends (`Fact.on_send`)."""
        for f in needs:
            if f.on_send is not None and f.name in self.facts:
                values = self.facts[f.name]
                values[customer_id] = f.on_send(values.get(customer_id, f.default), sent)

    def customer_state(self, customer_id: int, order_id: int) -> CustomerState:
        """What the decision sees for one step. The order's part is built once per order and batch (an order's
        steps share it); the customer's part is read at each call, since earlier sends of the batch change it."""
        c = self.customers[customer_id]
        known = self._order_states.get(order_id)
        if known is None:
            known = self._order_states[order_id] = self._order_state(order_id)
        order, region, subdivision, placed_at = known
        last = self.last_order_at.get(customer_id)
        defaults = self.fact_defaults
        return _new_customer_state({
            "customer_id": c.id,
            "locale": c.locale,
            "timezone": c.timezone,
            "order": order,
            "email_valid": bool(c.email_valid),
            "phone_valid": bool(c.phone_valid),
            "has_phone": bool(c.phone),
            "consents": frozenset(self.consents.get(customer_id, ())),
            "email_unsubscribed": c.email_unsubscribed_at is not None,
            "email_bounced": c.email_bounced_at is not None,
            "sms_stopped": c.sms_stopped_at is not None,
            "loyalty_tier": c.loyalty_tier,
            "points_balance": c.points_balance,
            "points_expiring": c.points_expiring,
            "points_expire_at": c.points_expire_at,
            "recent_marketing_sends": tuple(self.recent_marketing.get(customer_id, ())),
            "reviews": self.reviews.get(customer_id, {}),
            "newer_order_exists": last is not None and last > placed_at,
            "facts": {name: values.get(customer_id, defaults.get(name)) for name, values in self.facts.items()}
            if self.facts else {},
            "open_recovery_since": self.open_recovery.get(customer_id),
            "region": region or c.region,
            "subdivision": subdivision,
        })

    def _order_state(self, order_id: int) -> tuple[OrderState, str | None, str | None, datetime]:
        """One order's `OrderState`, its address's country and province codes, and when it was placed."""
        o = self.orders[order_id]
        ship = self.shipments.get(order_id)
        csat = self.csat.get(order_id)
        case = self.recovery.get(order_id)
        returned = self.returned.get(order_id, set())
        lines = self.items.get(order_id, ())
        product_ids = tuple(dict.fromkeys(i.product_id for i in lines))
        if "*" in returned:  # a whole-order refund without line items
            returned = set(product_ids)
        items = tuple(ItemState(i.product_id, i.title, i.category, i.quantity, i.product_id in returned)
                      for i in lines)
        order = _new_order_state({
            "order_id": o.id,
            "placed_at": o.placed_at,
            "cancelled": o.status == "cancelled",
            "product_ids": product_ids,
            "returned_product_ids": frozenset(returned),
            "fulfilled_at": ship.shipped_at if ship else None,
            "promised_at": o.estimated_at or o.promised_at or (ship.promised_at if ship else None),
            "delivered_at": ship.delivered_at if ship else None,
            "carrier_exception": bool(ship and ship.exception_at),
            "csat_score": csat.score if csat else None,
            "csat_answered_at": csat.answered_at if csat else None,
            "recovery_open": bool(case and case.resolved_at is None),
            "recovery_opened_at": case.opened_at if case else None,
            "recovery_case_id": case.id if case else None,
            "recovery_resolved_at": case.resolved_at if case else None,
            "items": items,
            "original_promised_at": o.promised_at or (ship.promised_at if ship else None),
            "estimated_at": o.estimated_at,
            "promise_revised_at": o.promise_revised_at,
            "last_progress_at": (ship.last_event_at or ship.shipped_at) if ship else None,
            "shipment_status": ship.status if ship else None,
        })
        address = o.shipping_address
        return (order, address_part(address, "country_code"), address_part(address, "province_code"),
                o.placed_at)


def address_part(address: Any, key: str) -> str | None:
    """A code from an order's stored address (a JSON object), upper-cased; None when absent or odd."""
    value = address.get(key) if isinstance(address, dict) else None
    return str(value).strip().upper() or None if value else None


# The columns the decisions (`customer_state`), the message contexts (`message_context.build_context`) and
# the sweep read; nothing else of these rows is loaded: SQLAlchemy processes each column of each row, and a
# loaded time costs a parse. tests/integration/test_batch_state_columns.py checks that the state and the
# context built from these columns are those built from whole rows.
CUSTOMER_COLUMNS = (
    "id", "email", "phone", "email_valid", "phone_valid", "first_name", "locale", "timezone", "region",
    "loyalty_tier", "points_balance", "points_expiring", "points_expire_at", "email_unsubscribed_at",
    "email_bounced_at", "sms_stopped_at",
)
ORDER_COLUMNS = (
    "id", "number", "customer_id", "placed_at", "currency", "subtotal", "discount_total", "discount_codes",
    "shipping_total", "tax_total", "total", "shipping_address", "payment_summary", "status", "points_earned",
    "promised_at", "estimated_at", "promise_revised_at",
)
SHIPMENT_COLUMNS = (
    "id", "order_id", "carrier", "tracking_number", "tracking_url", "promised_at", "status", "shipped_at",
    "delivered_at", "exception_at", "last_event_at",
)


def _cols(model: Any, names: Sequence[str] | None = None) -> Any:
    columns = model.__table__.c
    return select(*(columns[n] for n in names) if names is not None else columns)


@lru_cache(maxsize=4)
def _statements(dialect: str) -> dict[str, Any]:
    """The batch's queries, built once per dialect: constructing a SQLAlchemy statement costs more than
    running it against SQLite, and a sweep runs these for every batch, however small."""
    cid = lambda column: in_param(column, "cids", dialect)  # noqa: E731
    oid = lambda column: in_param(column, "oids", dialect)  # noqa: E731
    return {
        "customers": _cols(Customer, CUSTOMER_COLUMNS).where(cid(Customer.id)),
        "consents": select(Consent.customer_id, Consent.channel, Consent.purpose).where(
            cid(Consent.customer_id), Consent.granted.is_(True)),
        "orders": _cols(Order, ORDER_COLUMNS).where(oid(Order.id)),
        "items": _cols(OrderItem).where(oid(OrderItem.order_id)).order_by(OrderItem.id),
        "products": _cols(Product).where(in_param(Product.id, "pids", dialect)),
        "shipments": _cols(Shipment, SHIPMENT_COLUMNS).where(oid(Shipment.order_id)).order_by(Shipment.id),
        "csat": _cols(CsatAnswer).where(oid(CsatAnswer.order_id)),
        "recovery": _cols(RecoveryCase).where(oid(RecoveryCase.order_id)),
        # Any order's open case holds the customer's promotions, not only the order being decided.
        "open_recovery": select(RecoveryCase.customer_id, func.max(RecoveryCase.opened_at).label("opened"))
        .where(cid(RecoveryCase.customer_id), RecoveryCase.resolved_at.is_(None)).group_by(RecoveryCase.customer_id),
        "returns": select(ReturnItem.order_id, ReturnItem.product_id).where(oid(ReturnItem.order_id)),
        "reviews": select(Review.customer_id, Review.product_id, Review.rating).where(cid(Review.customer_id)),
        # Only (customer_id, sent_at) in SQL, so the planner reads ix_messages_customer_sent: the ledger grows
        # forever, and a filter on status could make it pick ix_messages_status and read every sent message.
        # Purpose and status are filtered in Python, over the few messages these customers got in the window.
        "recent": select(Message.customer_id, Message.sent_at, Message.purpose, Message.status).where(
            cid(Message.customer_id), Message.sent_at > bindparam("since", type_=UTCDateTime())),
        "last_order": select(Order.customer_id, func.max(Order.placed_at).label("last"))
        .where(cid(Order.customer_id)).group_by(Order.customer_id),
    }


def load_batch_state(
    session: Session, *, customer_ids: Iterable[int], order_ids: Iterable[int], cap_since: datetime,
    facts: Sequence[Fact] = (), now: datetime | None = None, journey: Any = None,
) -> BatchState:
    """The batch's state in a fixed number of queries, plus one loader call per fact the journey's steps need."""
    cids: list[int] = sorted(set(customer_ids))
    oids: list[int] = sorted(set(order_ids))
    state = BatchState()
    if not cids:
        return state
    dialect = session.get_bind().dialect.name
    q = _statements(dialect)
    ids = {"cids": cids, "oids": oids}
    # Core statements on the session's connection: the ORM's result machinery has nothing to add to
    # plain rows, and skipping it was a tenth of a batch's load time.
    conn = session.connection()
    for row in records(conn.execute(q["customers"], ids)):
        state.customers[row.id] = row
    consents = state.consents
    for customer_id, channel, purpose in conn.execute(q["consents"], ids).all():
        consents[customer_id].add((_CHANNELS.get(channel) or Channel(channel),
                                   _PURPOSES.get(purpose) or Purpose(purpose)))
    for row in records(conn.execute(q["orders"], ids)):
        state.orders[row.id] = row
    product_ids: set[str] = set()
    for row in records(conn.execute(q["items"], ids)):
        state.items[row.order_id].append(row)
        product_ids.add(row.product_id)
    if product_ids:
        for row in records(conn.execute(q["products"], {"pids": sorted(product_ids)})):
            state.products[row.id] = row
    for row in records(conn.execute(q["shipments"], ids)):
        state.shipments[row.order_id] = row  # the latest shipment of an order wins
    for row in records(conn.execute(q["csat"], ids)):
        state.csat[row.order_id] = row
    for row in records(conn.execute(q["recovery"], ids)):
        state.recovery[row.order_id] = row
    for customer_id, opened in conn.execute(q["open_recovery"], ids).all():
        state.open_recovery[customer_id] = _aware(opened)
    for order_id, product_id in conn.execute(q["returns"], ids).all():
        state.returned[order_id].add(product_id)
    for customer_id, product_id, rating in conn.execute(q["reviews"], ids).all():
        state.reviews[customer_id][product_id] = rating
    for customer_id, sent_at, purpose, status in conn.execute(q["recent"], {"cids": cids, "since": cap_since}).all():
        if purpose == Purpose.MARKETING.value and status in _SENT_LIKE:
            state.recent_marketing[customer_id].append(sent_at)
    for customer_id, last in conn.execute(q["last_order"], ids).all():
        state.last_order_at[customer_id] = _aware(last)
    query = FactQuery(session=session, customer_ids=cids, order_ids=oids, now=now or cap_since, since=cap_since,
                      journey=journey)
    for f in facts:
        state.facts[f.name] = dict(f.load(query))
        state.fact_defaults[f.name] = f.default
    return state


def _aware(value: Any) -> datetime:
    """`max()` over a UTC column loses the column type on SQLite; restore UTC awareness."""
    from aftercare.clock import as_utc

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)
