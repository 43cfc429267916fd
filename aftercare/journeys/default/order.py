"""Order stage: the confirmation at once, and the cancellation notice (a cancelled order gets nothing else)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, email, step, transactional
from aftercare.settings import JourneyTimings

CONFIRMATION = "confirmation"
CANCELLATION_NOTICE = "cancellation_notice"


def _cancel_window(msg: MessageView) -> dict[str, Any]:
    return {"cancel_until": msg.order_placed_at + msg.settings.cancel_window}


def _only_if_cancelled(view: StepView, now: datetime) -> Skip | None:
    return None if view.order.cancelled else Skip(Reason.NOT_NEEDED)


def confirmation(t: JourneyTimings) -> Step:
    return step(CONFIRMATION, transactional, channels=(email,), on=events.ORDER_PLACED, items=every_item,
                template_data=_cancel_window,
                purpose_text="items, totals with discounts, address, payment, cancel window, points")


def cancellation_notice(t: JourneyTimings) -> Step:
    return step(CANCELLATION_NOTICE, transactional, channels=(email,), on=events.ORDER_CANCELLED,
                for_cancelled_orders=True, check=_only_if_cancelled, items=every_item,
                purpose_text="the order was cancelled")
