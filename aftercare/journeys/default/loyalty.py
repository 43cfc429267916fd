"""Loyalty: reminders 30 and 7 days before the customer's points expire (per customer, SMS first)."""

from __future__ import annotations

from datetime import datetime

from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import events
from aftercare.journeys.default.merge import LOYALTY_MERGE, POINTS_TAG, points_expired, points_merge
from aftercare.journeys.step import Step, days, email, marketing, per_customer, sms, step
from aftercare.settings import JourneyTimings

POINTS_EXPIRY_30 = "points_expiry_30"
POINTS_EXPIRY_7 = "points_expiry_7"


def _points_at_risk(view: StepView, now: datetime) -> Skip | None:
    """Points still at risk: none expiring (or none left to expire) is not needed, and once the points have
    expired a reminder would announce a loss as a warning."""
    if view.state.points_at_risk <= 0:
        return Skip(Reason.NOT_NEEDED)
    if points_expired(view, now):
        return Skip(Reason.POINTS_EXPIRED)
    return None


def _reminder(name: str, before_days: float, expires_days: float) -> Step:
    return step(name, marketing, channels=(sms, email), scope=per_customer, on=events.POINTS_EXPIRY,
                after=-days(before_days), check=(_points_at_risk, points_merge), needs=(LOYALTY_MERGE,),
                expires=days(expires_days), sms_segments=3, tags=(POINTS_TAG, "loyalty"), promotional=True,  # shop link
                purpose_text=f"{before_days:g} days before the customer's points expire")


def points_expiry_30(t: JourneyTimings) -> Step:
    return _reminder(POINTS_EXPIRY_30, t.points_expiry_reminder_days[0], 7)


def points_expiry_7(t: JourneyTimings) -> Step:
    return _reminder(POINTS_EXPIRY_7, t.points_expiry_reminder_days[1], 5)


STEPS = (points_expiry_30, points_expiry_7)
