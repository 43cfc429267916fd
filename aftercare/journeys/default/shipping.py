"""Shipping stage: shipped, a delay notice when the promise passes undelivered, delivered. Every channel.

The delay notice is one per slip: its occurrence is the promised day it is about (a later estimate is a new
occurrence), the grace counts from the end of that day in the customer's zone, and it shares the rules of
the other delay notices (aftercare/journeys/default/delays.py): never after delivery, never a second one
for a slip another notice already told.
"""

from __future__ import annotations

from datetime import datetime

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.default.delays import (
    DELAY_TAG,
    SENT_DELAY_NOTICES,
    after_day_ends,
    not_after_delivery,
    once_per_slip,
    slip_key,
    still_this_promise,
)
from aftercare.journeys.step import Step, days, email, on, sms, step, transactional
from aftercare.settings import JourneyTimings

SHIPPED = "shipped"
DELAY_NOTICE = "delay_notice"
DELIVERED_NOTICE = "delivered_notice"


def _shipped(view: StepView, now: datetime) -> Skip | None:
    """An order still unshipped past its promise hears it from the pre-dispatch notice, not this one."""
    return Skip(Reason.NOT_SHIPPED) if view.order.fulfilled_at is None else None


def _not_yet_delivered(view: StepView, now: datetime) -> Skip | None:
    """A shipped notice is superseded by delivery: once delivered, the delivered notice says it all."""
    return Skip(Reason.ALREADY_DELIVERED) if view.order.delivered_at is not None else None


def shipped(t: JourneyTimings) -> Step:
    return step(SHIPPED, transactional, channels=(email, sms), fan_out=True, on=events.FULFILLED,
                check=_not_yet_delivered, items=every_item, expires=days(2), sms_segments=3,
                purpose_text="carrier, tracking link, promised date")


def delay_notice(t: JourneyTimings) -> Step:
    triggers = [on(events.PROMISE_DUE, due=after_day_ends(t.delay_grace_hours))]
    if t.carrier_exception_notice_enabled:
        triggers.append(on(events.CARRIER_EXCEPTION))
    return step(DELAY_NOTICE, transactional, channels=(email, sms), fan_out=True, on=triggers,
                repeat_key=slip_key,
                check=(still_this_promise, not_after_delivery, _shipped, once_per_slip(DELAY_NOTICE)),
                needs=(SENT_DELAY_NOTICES,), expires=days(2), sms_segments=3, tags=(DELAY_TAG,), urgent=True,
                purpose_text="the promised day ended without delivery, or a carrier exception")


def delivered_notice(t: JourneyTimings) -> Step:
    return step(DELIVERED_NOTICE, transactional, channels=(email, sms), fan_out=True, on=events.DELIVERED,
                expires=days(2), sms_segments=2, purpose_text="the order arrived")


STEPS = (shipped, delay_notice, delivered_notice)
