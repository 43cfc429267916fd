"""The post-purchase journey, defined as data.

Each step names the events ("triggers") that schedule it and the offset after each. When an event
arrives, every step it triggers gets a due time; a different trigger later moves that due time (a
happy CSAT answer brings the review request forward, a resolved service-recovery case releases it).
Changing the journey is changing this table, and every offset comes from `JourneyTimings`.

Every step expires: past its first due time + `expires_after` it is skipped as expired, so a sweep that
catches up after an outage sends nothing stale (a "shipped" notice a week late, a reminder for points that
are gone). Promotional steps (`promotional`) are held while the customer has an open service-recovery case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from aftercare.domain.vocabulary import Channel, Purpose


class Trigger:
    """Event names that schedule steps."""

    ORDER_PLACED = "order_placed"
    ORDER_CANCELLED = "order_cancelled"
    FULFILLED = "fulfilled"
    PROMISE_DUE = "promise_due"  # fired with the shipment's promised delivery time
    CARRIER_EXCEPTION = "carrier_exception"
    DELIVERED = "delivered"
    CSAT_HAPPY = "csat_happy"
    CSAT_UNHAPPY = "csat_unhappy"
    RECOVERY_RESOLVED = "recovery_resolved"
    POINTS_EXPIRY = "points_expiry"  # fired with the time the customer's points expire

    @staticmethod
    def sent(step: str) -> str:
        """Fired when a step's message has been sent: chains sequences such as win-back."""
        return f"{step}_sent"


@dataclass(frozen=True)
class StepSpec:
    name: str
    purpose: Purpose
    channels: tuple[Channel, ...]  # in order of preference
    triggers: Mapping[str, timedelta]
    expires_after: timedelta  # past first due + this, the step is skipped as expired (never sent stale)
    all_channels: bool = False  # transactional fan-out: every eligible channel, not the first
    per_customer: bool = False  # one per customer at a time (win-back), not one per order
    promotional: bool = False  # sells something: held while the customer has an open recovery case
    to_support: bool = False  # goes to the store's support team (support_email), not to the customer

    @property
    def is_marketing(self) -> bool:
        return self.purpose is Purpose.MARKETING


@dataclass(frozen=True)
class Journey:
    steps: tuple[StepSpec, ...]
    _by_name: dict[str, StepSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name: s for s in self.steps})

    def step(self, name: str) -> StepSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown journey step {name!r}; known: {sorted(self._by_name)}") from None

    def triggered_by(self, trigger: str) -> list[tuple[StepSpec, timedelta]]:
        return [(s, s.triggers[trigger]) for s in self.steps if trigger in s.triggers]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]


CONFIRMATION = "confirmation"
SHIPPED = "shipped"
DELAY_NOTICE = "delay_notice"
DELIVERED_NOTICE = "delivered_notice"
SETUP_GUIDE = "setup_guide"
CSAT = "csat"
SERVICE_RECOVERY = "service_recovery"
RECOVERY_NOTICE = "recovery_notice"  # to support: a case opened, with a signed link that resolves it
REVIEW_REQUEST = "review_request"
WINBACK_1 = "winback_1"
WINBACK_2 = "winback_2"
WINBACK_3 = "winback_3"
CANCELLATION_NOTICE = "cancellation_notice"
POINTS_EXPIRY_30 = "points_expiry_30"
POINTS_EXPIRY_7 = "points_expiry_7"
WINBACK_STEPS = (WINBACK_1, WINBACK_2, WINBACK_3)


def build_journey(
    *,
    delay_grace_hours: float = 12.0,
    setup_guide_days: float = 1.0,
    csat_days: float = 3.0,
    review_after_happy_csat_days: float = 2.0,
    review_without_csat_days: float = 14.0,
    review_after_recovery_days: float = 1.0,
    winback_lapse_days: float = 90.0,
    winback_sequence_days: tuple[float, float, float] = (0.0, 7.0, 21.0),
    points_expiry_reminder_days: tuple[float, float] = (30.0, 7.0),
    **_ignored: object,
) -> Journey:
    """The default journey; every offset is a keyword so settings can tune it."""
    days = lambda n: timedelta(days=n)  # noqa: E731
    email_sms = (Channel.EMAIL, Channel.SMS)
    sms_first = (Channel.SMS, Channel.EMAIL)
    w0, w1, w2 = winback_sequence_days
    transactional = Purpose.TRANSACTIONAL
    marketing = Purpose.MARKETING
    return Journey(
        steps=(
            StepSpec(CONFIRMATION, transactional, (Channel.EMAIL,), {Trigger.ORDER_PLACED: days(0)}, days(3)),
            StepSpec(SHIPPED, transactional, email_sms, {Trigger.FULFILLED: days(0)}, days(2), all_channels=True),
            StepSpec(
                DELAY_NOTICE,
                transactional,
                email_sms,
                {
                    Trigger.PROMISE_DUE: timedelta(hours=delay_grace_hours),
                    Trigger.CARRIER_EXCEPTION: days(0),
                },
                days(2),
                all_channels=True,
            ),
            StepSpec(DELIVERED_NOTICE, transactional, email_sms, {Trigger.DELIVERED: days(0)}, days(2),
                     all_channels=True),
            StepSpec(SETUP_GUIDE, marketing, (Channel.EMAIL,), {Trigger.DELIVERED: days(setup_guide_days)}, days(7)),
            StepSpec(CSAT, marketing, sms_first, {Trigger.DELIVERED: days(csat_days)}, days(7)),
            StepSpec(SERVICE_RECOVERY, transactional, (Channel.EMAIL,), {Trigger.CSAT_UNHAPPY: days(0)}, days(3)),
            StepSpec(RECOVERY_NOTICE, transactional, (Channel.EMAIL,), {Trigger.CSAT_UNHAPPY: days(0)}, days(7),
                     to_support=True),
            StepSpec(
                REVIEW_REQUEST,
                marketing,
                email_sms,
                {
                    Trigger.DELIVERED: days(review_without_csat_days),
                    Trigger.CSAT_HAPPY: days(review_after_happy_csat_days),
                    Trigger.RECOVERY_RESOLVED: days(review_after_recovery_days),
                },
                days(30),
            ),
            StepSpec(
                WINBACK_1, marketing, email_sms, {Trigger.DELIVERED: days(winback_lapse_days + w0)}, days(14),
                per_customer=True, promotional=True,
            ),
            StepSpec(
                WINBACK_2, marketing, email_sms, {Trigger.sent(WINBACK_1): days(w1 - w0)}, days(14),
                per_customer=True, promotional=True,
            ),
            StepSpec(
                WINBACK_3, marketing, email_sms, {Trigger.sent(WINBACK_2): days(w2 - w1)}, days(14),
                per_customer=True, promotional=True,
            ),
            StepSpec(CANCELLATION_NOTICE, transactional, (Channel.EMAIL,), {Trigger.ORDER_CANCELLED: days(0)},
                     days(3)),
            StepSpec(
                POINTS_EXPIRY_30, marketing, sms_first,
                {Trigger.POINTS_EXPIRY: -days(points_expiry_reminder_days[0])}, days(7),
                per_customer=True, promotional=True,
            ),
            StepSpec(
                POINTS_EXPIRY_7, marketing, sms_first,
                {Trigger.POINTS_EXPIRY: -days(points_expiry_reminder_days[1])}, days(5),
                per_customer=True, promotional=True,
            ),
        )
    )
