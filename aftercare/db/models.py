"""The database schema: what we know about customers and orders, and the journey's durable state.

Waiting is data here: a journey step is a row with a due time, claimed by a sweep; a message is a row in
the send ledger with a unique idempotency key, reserved before any provider call.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aftercare.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on Postgres, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164 when phone_valid
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    region: Mapped[str | None] = mapped_column(String(8))  # ISO country, for phone parsing and quiet hours
    loyalty_tier: Mapped[str] = mapped_column(String(32), default="member")
    points_balance: Mapped[int] = mapped_column(Integer, default=0)
    points_expiring: Mapped[int] = mapped_column(Integer, default=0)
    points_expire_at: Mapped[datetime | None]
    email_unsubscribed_at: Mapped[datetime | None]
    email_bounced_at: Mapped[datetime | None]
    sms_stopped_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Consent(Base):
    """The current consent per (customer, channel, purpose): derived from `consent_events` on every change
    (aftercare.services.consent_ledger), kept as a row so a sweep's batch load reads it in one query.
    `source` is the holding statement's detail and `recorded_at` its own time."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "purpose", name="uq_consents_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class ConsentEvent(Base):
    """Every consent statement we received, append-only: the evidence that consent was given (GDPR Art. 7(1)).

    Never updated or deleted; the current state (`consents`) is derived from these rows.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_customer", "customer_id", "channel", "purpose"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(24))  # aftercare.domain.consent.ConsentSource
    detail: Mapped[str] = mapped_column(String(64))  # e.g. "shopify", "sms:stop", "link:one_click"
    explicit: Mapped[bool] = mapped_column(Boolean, default=True)
    stated_at: Mapped[datetime]  # the statement's own time
    received_at: Mapped[datetime]  # when it reached us
    text_version: Mapped[str | None] = mapped_column(String(32))  # our own page's copy, when shown


class Product(Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64), default="general")
    setup_instructions: Mapped[str | None] = mapped_column(Text)
    video_url: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(500))
    # How many days one unit lasts (a consumable's use cycle), for the replenishment reminder; None: not one.
    use_cycle_days: Mapped[int | None] = mapped_column(Integer)
    in_stock: Mapped[bool | None] = mapped_column(Boolean)  # False: never cross-sold; None: not known (in stock)
    # Filled by the catalog (Shopify product webhooks and `aftercare catalog import`, services/catalog.py).
    image_url: Mapped[str | None] = mapped_column(String(500))
    review_url: Mapped[str | None] = mapped_column(String(500))
    localized: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # locale -> {title, setup_instructions, video_url}
    updated_at: Mapped[datetime | None]  # the platform's own time: an older body never overwrites a newer one
    deleted_at: Mapped[datetime | None]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    placed_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    subtotal: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    discount_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    discount_codes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    shipping_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    payment_summary: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, fulfilled, delivered, cancelled
    cancelled_at: Mapped[datetime | None]
    points_earned: Mapped[int] = mapped_column(Integer, default=0)
    # The promise known at order time (a note attribute, a metafield, or the shipping method's), as the start
    # of the promised day in the customer's zone; a later estimate (orders/updated, the carrier) is kept apart.
    promised_at: Mapped[datetime | None]
    estimated_at: Mapped[datetime | None]
    promise_revised_at: Mapped[datetime | None]  # when the latest estimate arrived: a new slip starts there


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64), default="general")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


class Shipment(Base):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    promised_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default="fulfilled")
    shipped_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    exception_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]


class OrderRequest(Base):
    """What a customer asked for on the order page: a problem report or a cancellation (done through
    Shopify's Admin API when configured, else left for support). Support works from this table."""

    __tablename__ = "order_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))  # cancel | problem
    topic: Mapped[str | None] = mapped_column(String(32))  # a problem's kind: damaged, missing, wrong_item, other
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24))  # open | cancelled_in_shopify | refused
    created_at: Mapped[datetime]


class CsatAnswer(Base):
    __tablename__ = "csat_answers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    answered_at: Mapped[datetime]


class RecoveryCase(Base):
    """Service recovery after an unhappy CSAT: goodwill points, and a flag for support to follow up."""

    __tablename__ = "recovery_cases"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    opened_at: Mapped[datetime]
    goodwill_points: Mapped[int] = mapped_column(Integer, default=0)
    needs_follow_up: Mapped[bool] = mapped_column(Boolean, default=True)
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(255))


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("customer_id", "product_id", name="uq_reviews_customer_product"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    rating: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class ReturnItem(Base):
    """A returned or refunded item: no setup guide, review request or cross-sell for it."""

    __tablename__ = "returns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16), default="refund")  # return | refund
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    created_at: Mapped[datetime]


class Journey(Base):
    __tablename__ = "journeys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    started_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="active")


# Pending steps that were ever claimed (a lease, live or run out): what the claim's "customer is free" check reads.
_HELD = "status = 'pending' AND claimed_until IS NOT NULL"


class ScheduledStep(Base):
    """One journey step waiting for its due time. A sweep claims it with a lease (claimed_by/until)."""

    __tablename__ = "scheduled_steps"
    __table_args__ = (
        # One row per occurrence: '' for a step that happens once per scope (every row before 0002).
        UniqueConstraint("journey_id", "step", "occurrence", name="uq_scheduled_steps_journey_step_occurrence"),
        # The sweep reads only due, pending rows: cost grows with due work, not with all pending work.
        Index("ix_scheduled_steps_due", "due_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index("ix_scheduled_steps_customer_step", "customer_id", "step"),
        # The claim skips a customer another batch holds: this finds the live leases (a few batches' worth)
        # without reading every pending row, which Postgres otherwise did once per claim (0010).
        Index("ix_scheduled_steps_held", "customer_id", "claimed_until",
              postgresql_where=text(_HELD), sqlite_where=text(_HELD)),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    step: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16), default="order", server_default="order")
    occurrence: Mapped[str] = mapped_column(String(64), default="", server_default="")
    item: Mapped[str | None] = mapped_column(String(64))  # per-item steps: the product
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the triggering store event's data
    status: Mapped[str] = mapped_column(String(16), default="pending")
    trigger: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    first_due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_reason: Mapped[str | None] = mapped_column(String(48))
    updated_at: Mapped[datetime]


class Message(Base):
    """The send ledger: one row per message, reserved (committed) before the provider is called."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_customer_sent", "customer_id", "sent_at"),
        Index("ix_messages_provider_id", "provider_message_id"),
        Index("ix_messages_status", "status"),
        Index("ix_messages_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_steps.id"))
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    step: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    template: Mapped[str | None] = mapped_column(String(96))
    locale: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    segments: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Reconciliation (aftercare/services/reconcile.py): how often an `unknown` outcome was sent again on this
    # row, and a SHA-256 of the SMS body as sent, to find the message in the provider's records.
    resends: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime]


class DecisionLog(Base):
    """Every decision taken for a step, with its reason: what `aftercare explain` prints."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("scheduled_steps.id"), index=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime]
    due_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # send, skip, defer, wait, holdout
    reason: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[datetime | None]
    channels: Mapped[str | None] = mapped_column(String(32))


class InboxEvent(Base):
    """Every accepted webhook, stored raw before it is applied; idempotent on its de-duplication key."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_unapplied", "received_at", postgresql_where=text("applied_at IS NULL"),
                            sqlite_where=text("applied_at IS NULL")),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # What applying it had to change, e.g. ["first_name_truncated", "tracking_url_dropped"]: the event was
    # applied, and the raw body above still holds the original values.
    warnings: Mapped[list[Any] | None] = mapped_column(JSON)


class ImportRun(Base):
    """One history import (`aftercare import shopify|csv`) and where it got to: the checkpoint a re-run resumes.

    `key` names what is imported (the source, the shop, the start date); an unfinished run with the same key is
    continued from `cursor` (the next page's URL) in `phase`. Each page is applied and the cursor moved in one
    transaction, so a crash repeats at most the page it was in, and applying is idempotent by platform ids.
    """

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # shopify, csv
    key: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, done
    phase: Mapped[str] = mapped_column(String(16), default="customers")  # customers, orders, done
    cursor: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # imported, unchanged, rejected, ...
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
