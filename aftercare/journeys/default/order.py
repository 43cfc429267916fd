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


ORDER_REQUEST_NOTICE = "order_request_notice"
# The order page's notice to support goes with the order page (AFTERCARE_JOURNEY_ORDER_PAGE_ENABLED).
SWITCHES = {ORDER_REQUEST_NOTICE: "order_page_enabled"}


def _request(msg: MessageView) -> dict[str, Any]:
    """What the customer asked (no contact details, no free text: the message stays in `order_requests`)."""
    return {"request_kind": msg.payload.get("kind"), "request_topic": msg.payload.get("topic"),
            "request_status": msg.payload.get("status")}


def order_request_notice(t: JourneyTimings) -> Step:
    return step(ORDER_REQUEST_NOTICE, transactional, channels=(email,), on=events.ORDER_REQUEST, to_support=True,
                repeat_key=lambda ev: ev.request, for_cancelled_orders=True, template_data=_request,
                expires=days(7), purpose_text="to support: a cancellation or a problem reported on the order page")


STEPS = (confirmation, order_request_notice)
