"""Order stage: the confirmation, at once: items, totals, address, payment, cancel window, points, the
delivery estimate, the return and exchange policy, and the signed link to the order page (status, tracking,
report a problem, cancel while allowed; `AFTERCARE_JOURNEY_ORDER_PAGE_ENABLED=false` leaves it out)."""

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


def _with_order_page(msg: MessageView) -> dict[str, Any]:
    return {**_cancel_window(msg), "order_url": msg.links.order(msg.order_id, msg.now)}


def confirmation(t: JourneyTimings) -> Step:
    return step(CONFIRMATION, transactional, channels=(email,), on=events.ORDER_PLACED, items=every_item,
                template_data=_with_order_page if t.order_page_enabled else _cancel_window, expires=days(3),
                purpose_text="items, totals with discounts, address, payment, cancel window, points")


STEPS = (confirmation,)
