"""Conditions several steps share, written as step checks: `check=(delivered, kept_items)`.

Each is a pure function of (view, now) returning None or a Skip / Wait / Defer with a reason.
"""

from __future__ import annotations

from datetime import datetime

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason


def delivered(view: StepView, now: datetime) -> Skip | None:
    """Only once the order has been delivered."""
    return Skip(Reason.NOT_DELIVERED) if view.order.delivered_at is None else None


def kept_items(view: StepView, now: datetime) -> Skip | None:
    """Only while the customer kept at least one item (returned or refunded items get nothing)."""
    return Skip(Reason.ITEMS_RETURNED) if not view.order.kept_product_ids else None


def no_newer_order(view: StepView, now: datetime) -> Skip | None:
    """Not once the customer has ordered again."""
    return Skip(Reason.NEW_ORDER) if view.state.newer_order_exists else None


def every_item(view: StepView) -> tuple[str, ...]:
    """A step about the whole order (returned items included): confirmation, shipping, cancellation."""
    return view.order.product_ids
