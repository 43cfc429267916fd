"""The events that schedule steps: the engine's built-in ones, and the store's own named events.

A built-in event is fired by the engine when something happens to an order (placed, fulfilled,
delivered, ...). A store event (`loyalty.tier_changed`) arrives through the signed endpoint
`POST /webhooks/events` or `aftercare.journeys.send_event(...)`. Steps trigger on either by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aftercare.domain.state import ItemState

ORDER_PLACED = "order_placed"
ORDER_CANCELLED = "order_cancelled"
FULFILLED = "fulfilled"
PROMISE_DUE = "promise_due"  # fired with the shipment's promised delivery time
CARRIER_EXCEPTION = "carrier_exception"
DELIVERED = "delivered"  # data: `predicted_lapse_at` when a win-back lapse rule is configured
CSAT_HAPPY = "csat_happy"
CSAT_UNHAPPY = "csat_unhappy"
RECOVERY_RESOLVED = "recovery_resolved"
POINTS_EXPIRY = "points_expiry"  # fired with the time the customer's points expire

# Before it arrives: the promise known at order time (data: `day_ends_at`, `promised_day`, as PROMISE_DUE's),
# a failed delivery attempt and the parcel out for delivery (carrier events).
ORDER_PROMISED = "order_promised"
ORDER_REQUEST = "order_request"  # the order page: data `request` (id), `kind` (cancel, problem), `topic`, `status`
FAILED_ATTEMPT = "failed_attempt"
OUT_FOR_DELIVERY = "out_for_delivery"

BUILT_IN = frozenset({ORDER_PLACED, ORDER_CANCELLED, FULFILLED, PROMISE_DUE, CARRIER_EXCEPTION, DELIVERED,
                      CSAT_HAPPY, CSAT_UNHAPPY, RECOVERY_RESOLVED, POINTS_EXPIRY,
                      ORDER_PROMISED, FAILED_ATTEMPT, OUT_FOR_DELIVERY, ORDER_REQUEST})


def sent(step: str) -> str:
    """Fired when a step's message has been sent: chains sequences such as win-back."""
    return f"{step}_sent"


@dataclass(frozen=True)
class Event:
    """One event as a trigger's `due` and `when` functions see it. `ev.new_tier` reads `ev.data["new_tier"]`."""

    name: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    item: ItemState | None = None  # per-item steps: one event per order line

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data") or {}
        if name in data:
            return data[name]
        raise AttributeError(f"event {self.__dict__.get('name')!r} has no field {name!r}")
