"""Cancellation: the notice when an order is cancelled; the engine stops every other step of that order."""

from __future__ import annotations

from datetime import datetime

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.step import Step, days, email, step, transactional
from aftercare.settings import JourneyTimings

CANCELLATION_NOTICE = "cancellation_notice"


def _only_if_cancelled(view: StepView, now: datetime) -> Skip | None:
    return None if view.order.cancelled else Skip(Reason.NOT_NEEDED)


def cancellation_notice(t: JourneyTimings) -> Step:
    return step(CANCELLATION_NOTICE, transactional, channels=(email,), on=events.ORDER_CANCELLED,
                for_cancelled_orders=True, check=_only_if_cancelled, items=every_item, expires=days(3),
                purpose_text="the order was cancelled")


STEPS = (cancellation_notice,)
