"""The built-in journey, one module per stage; this module only puts the stages in order.

Order matters for the funnel and for which step of a batch is decided first: order, shipping, after
delivery, reviews, win-back, cancellation, loyalty; within a stage, the order of its `STEPS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from aftercare.journeys.default import (
    after_delivery,
    cancellation,
    delays,
    loyalty,
    loyalty_moments,
    order,
    replenishment,
    returns,
    reviews,
    shipping,
    subscriptions,
    winback,
)
from aftercare.journeys.default.after_delivery import CSAT, RECOVERY_NOTICE, SERVICE_RECOVERY, SETUP_GUIDE
from aftercare.journeys.default.cancellation import CANCELLATION_NOTICE
from aftercare.journeys.default.delays import DISPATCH_DELAY, FAILED_ATTEMPT, OUT_FOR_DELIVERY, TRANSIT_STALLED
from aftercare.journeys.default.loyalty import POINTS_EXPIRY_7, POINTS_EXPIRY_30
from aftercare.journeys.default.order import CONFIRMATION
from aftercare.journeys.default.reviews import REVIEW_REQUEST
from aftercare.journeys.default.shipping import DELAY_NOTICE, DELIVERED_NOTICE, SHIPPED
from aftercare.journeys.default.winback import WINBACK_1, WINBACK_2, WINBACK_3
from aftercare.journeys.journey import Journey
from aftercare.journeys.step import Step
from aftercare.settings import JourneyTimings, Settings

WINBACK_STEPS = (WINBACK_1, WINBACK_2, WINBACK_3)

# The stages in journey order: each stage module lists its own steps (`STEPS`), so a new built-in step is
# written in its stage's module and nowhere else.
# `delays` (before it arrives: pre-dispatch, stalled, carrier news) follows shipping in the funnel.
STAGES = (order, shipping, delays, after_delivery, reviews, winback, cancellation, loyalty)
STAGES += (loyalty_moments, replenishment, subscriptions, returns)  # issue 14: after it arrives


def default_steps(timings: JourneyTimings | None = None, *, except_: Iterable[str] = ()) -> list[Step]:
    """The built-in steps (timings from `AFTERCARE_JOURNEY_*` unless given), leaving out `except_`."""
    t = timings or JourneyTimings()
    built = [s for stage in STAGES for build in stage.STEPS if (s := build(t)) is not None]
    leave_out = set(except_)
    unknown = leave_out - {s.name for s in built} - _switched_off(t)
    if unknown:
        raise KeyError(f"no built-in steps named {sorted(unknown)}")
    # A stage's `SWITCHES` name the setting that switches a step off (AFTERCARE_JOURNEY_<flag>=false).
    switched_off = {name for stage in STAGES for name, flag in getattr(stage, "SWITCHES", {}).items()
                    if not getattr(t, flag)}
    return [s for s in built if s.name not in leave_out | switched_off]


def _switched_off(t: JourneyTimings) -> set[str]:
    """The names of the built-in steps a setting switched off (a store may still name them in `except_`)."""
    switches = {name: True for name in JourneyTimings.model_fields if name.endswith("_enabled")}
    every = t.model_copy(update=switches)
    return {s.name for stage in STAGES for build in stage.STEPS if (s := build(every)) is not None} - {
        s.name for stage in STAGES for build in stage.STEPS if (s := build(t)) is not None}


def default_journey(timings: JourneyTimings | None = None) -> Journey:
    return Journey("default", default_steps(timings))


def build(settings: Settings) -> Journey:
    """What `AFTERCARE_JOURNEY` selects by default: the built-in journey with the settings' timings."""
    return default_journey(settings.journey)


__all__ = [
    "CANCELLATION_NOTICE", "CONFIRMATION", "CSAT", "DELAY_NOTICE", "DELIVERED_NOTICE", "POINTS_EXPIRY_30",
    "POINTS_EXPIRY_7", "RECOVERY_NOTICE", "REVIEW_REQUEST", "SERVICE_RECOVERY", "SETUP_GUIDE", "SHIPPED",
    "WINBACK_1", "WINBACK_2", "WINBACK_3", "WINBACK_STEPS", "build", "default_journey", "default_steps",
    "DISPATCH_DELAY", "FAILED_ATTEMPT", "OUT_FOR_DELIVERY", "TRANSIT_STALLED",
]
