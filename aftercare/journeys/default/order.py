"""Order stage: the confirmation, at once: items, totals, address, payment, cancel window, points."""

from __future__ import annotations

from typing import Any

from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, step, transactional
from aftercare.settings import JourneyTimings

CONFIRMATION = "confirmation"


def _cancel_window(msg: MessageView) -> dict[str, Any]:
    return {"cancel_until": msg.order_placed_at + msg.settings.cancel_window}


def confirmation(t: JourneyTimings) -> Step:
    return step(CONFIRMATION, transactional, channels=(email,), on=events.ORDER_PLACED, items=every_item,
                template_data=_cancel_window, expires=days(3),
                purpose_text="items, totals with discounts, address, payment, cancel window, points")


STEPS = (confirmation,)
