"""Win-back: three messages from the customer's lapse day, stopped at once by a new order.

`winback_1` is due the lapse window after the latest delivery (or the customer's own lapse day when a
lapse rule is configured: `predicted_lapse_at` on the delivered event); 2 and 3 follow it once it is sent.
A daily scan re-creates a missing `winback_1` (`backfill`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aftercare.journeys import events
from aftercare.journeys.conditions import no_newer_order
from aftercare.journeys.default.merge import LOYALTY_MERGE, WINBACK_TAG, carries_points
from aftercare.journeys.events import Event
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Cancel, Step, days, email, marketing, on, per_customer, sms, step
from aftercare.settings import JourneyTimings

WINBACK_1 = "winback_1"
WINBACK_2 = "winback_2"
WINBACK_3 = "winback_3"
OFFERS: dict[str, str | None] = {WINBACK_1: None, WINBACK_2: "WELCOMEBACK10", WINBACK_3: "LASTCHANCE15"}
# What each code is worth and how long it works from the message, so the message can say so.
OFFER_TERMS: dict[str, tuple[int, timedelta]] = {"WELCOMEBACK10": (10, timedelta(days=14)),
                                                  "LASTCHANCE15": (15, timedelta(days=7))}
NEW_ORDER = Cancel(events.ORDER_PLACED, reason="new_order")


def _offer(msg: MessageView) -> dict[str, Any]:
    code = OFFERS.get(msg.step)
    percent, valid = OFFER_TERMS.get(code or "", (None, None))
    return {"offer_code": code, "offer_percent": percent,
            "offer_expires_at": msg.now + valid if valid is not None else None}


def _winback(name: str, trigger: Any, segments: int, backfill: bool = False) -> Step:
    return step(name, marketing, channels=(email, sms), scope=per_customer, on=trigger, cancelled_by=(NEW_ORDER,),
                check=no_newer_order, data=carries_points, needs=(LOYALTY_MERGE,), template_data=_offer,
                expires=days(14), sms_segments=segments, cross_sell=True, backfill=backfill, tags=(WINBACK_TAG,),
                promotional=True,
                purpose_text="the customer lapsed: come back (with the expiring points, if any)")


def winback_1(t: JourneyTimings) -> Step:
    lapse = days(t.winback_lapse_days + t.winback_sequence_days[0])

    def due(ev: Event) -> datetime:
        predicted: datetime | None = ev.data.get("predicted_lapse_at")
        return predicted if predicted is not None else ev.at + lapse

    return _winback(WINBACK_1, on(events.DELIVERED, lapse, due=due), 3, backfill=True)  # 3: room for the shop link


def winback_2(t: JourneyTimings) -> Step:
    w0, w1, _ = t.winback_sequence_days
    return _winback(WINBACK_2, on(events.sent(WINBACK_1), days(w1 - w0)), 3)


def winback_3(t: JourneyTimings) -> Step:
    _, w1, w2 = t.winback_sequence_days
    return _winback(WINBACK_3, on(events.sent(WINBACK_2), days(w2 - w1)), 3)


STEPS = (winback_1, winback_2, winback_3)
