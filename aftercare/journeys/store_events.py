"""The store's own named events, from Python: `send_event(services, "loyalty.tier_changed", ...)`.

The same path as the signed endpoint `POST /webhooks/events`: the event is stored in the inbox under its
idempotency key first (a second send with the same key is a no-op answered "duplicate"), then applied in
the same transaction: the steps it cancels stop, the steps it triggers are scheduled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftercare.clock import as_utc

if TYPE_CHECKING:
    from aftercare.bootstrap import Services

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")  # namespaced: "loyalty.tier_changed"

# Store events the engine also applies to state before the steps they trigger are scheduled (issue 14):
# a review left at the review destination (recorded once per customer and product, with the review points),
# and an order placed by someone the customer referred (the referral bonus, once per referred order).
REVIEW_CREATED = "review.created"  # data: product (id), rating (1-5)
REFERRAL_ORDERED = "referral.ordered"  # data: referred_order (the new order's external id)
LOYALTY_TIER_CHANGED = "loyalty.tier_changed"  # data: new_tier, new_rank, old_rank


@dataclass(frozen=True)
class StoreEvent:
    name: str
    customer: str  # the customer's external id (as the store knows them)
    idempotency_key: str
    occurred_at: datetime
    order: str | None = None  # an order's external id, for per-order steps
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > 64:
            raise ValueError(f"event name {self.name!r}: namespaced lower case, e.g. 'loyalty.tier_changed'")
        if not self.idempotency_key or len(self.idempotency_key) > 180:
            raise ValueError("idempotency_key: 1-180 characters")
        if not self.customer:
            raise ValueError("customer: the customer's external id")
        if self.name == REVIEW_CREATED:
            rating, product = self.data.get("rating"), self.data.get("product")
            if not isinstance(product, str) or not 0 < len(product) <= 64:
                raise ValueError("review.created: data.product, the reviewed product's id")
            if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
                raise ValueError("review.created: data.rating, a whole number 1-5")
        if self.name == REFERRAL_ORDERED:
            referred = self.data.get("referred_order")
            if not isinstance(referred, str) or not 0 < len(referred) <= 64:
                raise ValueError("referral.ordered: data.referred_order, the referred order's id")

    def body(self) -> str:
        return json.dumps({"name": self.name, "customer": self.customer, "order": self.order,
                           "idempotency_key": self.idempotency_key, "occurred_at": self.occurred_at.isoformat(),
                           "data": dict(self.data)}, sort_keys=True, separators=(",", ":"), default=str)

    def inbox_item(self) -> dict[str, Any]:
        key = self.idempotency_key
        if self.name == REFERRAL_ORDERED:  # its bonus is credited once per referred order, whatever the key
            key = f"{REFERRAL_ORDERED}:{self.customer[:64]}:{self.data['referred_order']}"
        return {"source": "store", "dedup_key": f"store:{key}", "topic": self.name, "headers": {},
                "body": self.body()}

    @classmethod
    def parse(cls, body: Mapping[str, Any], now: datetime) -> StoreEvent:
        """From the endpoint's JSON: name, customer, idempotency_key, and optionally order, occurred_at, data."""
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError("data must be a JSON object")
        occurred = body.get("occurred_at")
        at = as_utc(datetime.fromisoformat(str(occurred))) if occurred else now
        order = body.get("order")
        return cls(name=str(body["name"]), customer=str(body["customer"]),
                   idempotency_key=str(body["idempotency_key"]), occurred_at=at,
                   order=str(order) if order else None, data=data)


def send_event(services: Services, name: str, *, customer: str, idempotency_key: str, order: str | None = None,
               data: Mapping[str, Any] | None = None, at: datetime | None = None) -> str:
    """Store and apply one store event; returns "duplicate", "pending" (its customer has no order yet: the
    stored-event flow applies it later), or what applying it did."""
    from aftercare.webhooks import inbox

    event = StoreEvent(name=name, customer=customer, idempotency_key=idempotency_key,
                       occurred_at=as_utc(at or services.clock.now()), order=order, data=dict(data or {}))
    [note] = inbox.store_and_apply(services, [event.inbox_item()])
    return note
