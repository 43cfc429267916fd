"""A customer's state as the decision sees it: a frozen snapshot loaded in bulk for a batch of due steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aftercare.domain.vocabulary import Channel, Purpose


@dataclass(frozen=True)
class ItemState:
    """One line of an order, as a per-item step sees it."""

    product_id: str
    title: str = ""
    category: str = "general"
    quantity: int = 1
    returned: bool = False


@dataclass(frozen=True)
class OrderState:
    order_id: int
    placed_at: datetime
    cancelled: bool = False
    product_ids: tuple[str, ...] = ()
    returned_product_ids: frozenset[str] = frozenset()
    fulfilled_at: datetime | None = None
    promised_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier_exception: bool = False
    csat_score: int | None = None
    csat_answered_at: datetime | None = None
    recovery_open: bool = False
    recovery_opened_at: datetime | None = None  # this order's service-recovery case, if any
    recovery_case_id: int | None = None
    recovery_resolved_at: datetime | None = None
    items: tuple[ItemState, ...] = ()
    # Before it arrives: the promise as first made (order time, else the first carrier estimate), a later
    # estimate and when it arrived, and the shipment's latest progress.
    original_promised_at: datetime | None = None
    estimated_at: datetime | None = None
    promise_revised_at: datetime | None = None
    last_progress_at: datetime | None = None
    shipment_status: str | None = None

    @property
    def kept_product_ids(self) -> tuple[str, ...]:
        return tuple(p for p in self.product_ids if p not in self.returned_product_ids)

    def promise_current_at(self, moment: datetime) -> datetime | None:
        """The promise the customer held at `moment`: the later estimate once it had arrived, else the first."""
        if self.estimated_at is not None and self.promise_revised_at is not None and moment >= self.promise_revised_at:
            return self.estimated_at
        return self.original_promised_at


@dataclass(frozen=True)
class CustomerState:
    customer_id: int
    locale: str
    timezone: str
    order: OrderState
    email_valid: bool = True
    phone_valid: bool = False  # no phone, or a phone that is not a valid E.164 number
    consents: frozenset[tuple[Channel, Purpose]] = frozenset()
    email_unsubscribed: bool = False
    email_bounced: bool = False
    sms_stopped: bool = False
    loyalty_tier: str = "member"
    points_balance: int = 0
    points_expiring: int = 0
    points_expire_at: datetime | None = None
    recent_marketing_sends: tuple[datetime, ...] = ()
    reviews: Mapping[str, int] = field(default_factory=dict)  # product id -> stars
    newer_order_exists: bool = False
    has_phone: bool = False
    facts: Mapping[str, Any] = field(default_factory=dict)  # the batch facts the journey's steps asked for
    open_recovery_since: datetime | None = None  # the latest opened of the customer's unresolved recovery cases
    region: str | None = None  # ISO country of the customer (the order's address, else the customer's)
    subdivision: str | None = None  # state / province code of the order's address: the jurisdiction's rules
    night_marketing_consent: bool = False  # separate consent to advertising at night (Korea); none recorded yet

    @property
    def points_at_risk(self) -> int:
        """The points a reminder may speak of: never more than the customer still has (spent points don't expire)."""
        return max(0, min(self.points_expiring, self.points_balance))

    @property
    def vip(self) -> bool:
        return self.loyalty_tier.lower() in {"vip", "gold", "platinum"}

    def has_consent(self, channel: Channel, purpose: Purpose) -> bool:
        return (channel, purpose) in self.consents

    def after_marketing_send(self, at: datetime) -> CustomerState:
        """The state after one more marketing message: lets a batch honour the cap within itself."""
        return replace(self, recent_marketing_sends=(*self.recent_marketing_sends, at))
