"""Shipping stage: shipped, a delay notice when the promise passes undelivered, delivered. Every channel."""

from __future__ import annotations

from datetime import datetime

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.step import Step, days, email, hours, on, sms, step, transactional
from aftercare.settings import JourneyTimings

SHIPPED = "shipped"
DELAY_NOTICE = "delay_notice"
DELIVERED_NOTICE = "delivered_notice"


def _still_undelivered(view: StepView, now: datetime) -> Skip | None:
    return Skip(Reason.DELIVERED_ON_TIME) if view.order.delivered_at is not None else None


def _not_yet_delivered(view: StepView, now: datetime) -> Skip | None:
    """A shipped notice is superseded by delivery: once delivered, the delivered notice says it all."""
    return Skip(Reason.ALREADY_DELIVERED) if view.order.delivered_at is not None else None


def shipped(t: JourneyTimings) -> Step:
    return step(SHIPPED, transactional, channels=(email, sms), fan_out=True, on=events.FULFILLED,
                check=_not_yet_delivered, items=every_item, expires=days(2), sms_segments=3,
                purpose_text="carrier, tracking link, promised date")


def delay_notice(t: JourneyTimings) -> Step:
    return step(DELAY_NOTICE, transactional, channels=(email, sms), fan_out=True,
                on=(on(events.PROMISE_DUE, hours(t.delay_grace_hours)), on(events.CARRIER_EXCEPTION)),
                check=_still_undelivered, expires=days(2), sms_segments=3, urgent=True,
                purpose_text="the promised date passed without delivery, or a carrier exception")


def delivered_notice(t: JourneyTimings) -> Step:
    return step(DELIVERED_NOTICE, transactional, channels=(email, sms), fan_out=True, on=events.DELIVERED,
                expires=days(2), sms_segments=2, purpose_text="the order arrived")


STEPS = (shipped, delay_notice, delivered_notice)
