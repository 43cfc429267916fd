"""Subscriptions: a renewal reminder before each renewal, and a notice when a renewal payment fails.

Subscription apps publish the practice this follows: remind about 3 days before a renewal
(`renewal_reminder_days`), by SMS first, with a passwordless link to manage it. Subscribers who cannot
skip, swap, reschedule or cancel when they need to cancel the whole subscription (or dispute the charge).

The store (its subscription app) reports `subscription.renewal_upcoming` (data: subscription, renews_at),
`subscription.payment_failed` (data: subscription) and `subscription.cancelled` through
`POST /webhooks/events`. Each link is signed for one customer, one subscription and one action, and lands
(`/subscription?t=`) on the store's portal (`subscription_portal_url_template`): the signature is the
sign-in. A reminder for a renewal the store has since moved (a newer `renewal_upcoming` for the same
subscription) is skipped as rescheduled; a cancellation stops the customer's pending reminders and notices.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import ScheduledStep
from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.journeys.events import Event
from aftercare.journeys.facts import FactQuery, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Cancel, Step, days, email, per_customer, sms, step, transactional
from aftercare.settings import JourneyTimings

RENEWAL_REMINDER = "renewal_reminder"
PAYMENT_FAILED = "payment_failed_notice"
RENEWAL_UPCOMING = "subscription.renewal_upcoming"
PAYMENT_FAILED_EVENT = "subscription.payment_failed"
CANCELLED = "subscription.cancelled"
STOPPED = Cancel(CANCELLED, reason="subscription.cancelled")
ACTIONS = ("manage", "skip", "swap", "reschedule", "cancel")


def _renews_at(data: Mapping[str, Any]) -> datetime | None:
    value = data.get("renews_at")
    try:
        return as_utc(datetime.fromisoformat(str(value))) if value else None
    except ValueError:
        return None


def _renewal_key(data: Mapping[str, Any]) -> str:
    renews = _renews_at(data)
    return f"{renews:%Y-%m-%dT%H:%MZ}" if renews is not None else str(data.get("renews_at"))[:20]


def _subscription(data: Mapping[str, Any]) -> str:
    return str(data.get("subscription") or "")[:40]


def _latest_renewals(q: FactQuery) -> Mapping[int, dict[str, str]]:
    """Per customer: each subscription's latest announced renewal (from the newest reminder row)."""
    if not q.customer_ids:
        return {}
    out: dict[int, dict[str, str]] = {}
    for cid, payload in q.session.execute(
            select(ScheduledStep.customer_id, ScheduledStep.payload)
            .where(in_param(ScheduledStep.customer_id, "cids", q.dialect), ScheduledStep.step == RENEWAL_REMINDER)
            .order_by(ScheduledStep.id), {"cids": list(q.customer_ids)}):
        data = payload or {}
        out.setdefault(cid, {})[_subscription(data)] = str(data.get("renews_at"))
    return out


LATEST_RENEWALS = fact("latest_renewals", _latest_renewals, default={})


def _still_this_renewal(view: StepView, now: datetime) -> Skip | None:
    """Not for a renewal that has been moved since (skipped or rescheduled in the portal), nor one past."""
    latest = view.facts.latest_renewals.get(_subscription(view.payload))
    if latest is not None and latest != str(view.payload.get("renews_at")):
        return Skip("subscription.rescheduled")
    renews = _renews_at(view.payload)
    if renews is None or renews <= now:
        return Skip("subscription.renewal_passed")
    return None


def _links(actions: tuple[str, ...]) -> Any:
    def data(msg: MessageView) -> dict[str, Any]:
        sub = _subscription(msg.payload)
        urls = {a: msg.links.url("/subscription", {"k": "subscription", "c": msg.customer_id, "s": sub, "a": a},
                                 msg.now) for a in actions}
        return {"subscription_links": urls, "renews_at": _renews_at(msg.payload),
                "subscription_name": str(msg.payload.get("product") or "")[:60]}
    return data


def renewal_reminder(t: JourneyTimings) -> Step | None:
    if not t.renewal_reminder_enabled:
        return None
    before = days(t.renewal_reminder_days)

    def due(ev: Event) -> datetime | None:
        renews = _renews_at(ev.data)
        return None if renews is None or not _subscription(ev.data) else renews - before

    return step(RENEWAL_REMINDER, transactional, channels=(sms, email), scope=per_customer,
                sample=_SAMPLE_RENEWAL_REMINDER,
                on=RENEWAL_UPCOMING, due=due, cancelled_by=(STOPPED,), needs=(LATEST_RENEWALS,),
                repeat_key=lambda ev: f"{_subscription(ev.data)}:{_renewal_key(ev.data)}",
                check=_still_this_renewal, template_data=_links(ACTIONS), expires=before, sms_segments=3,
                purpose_text="days before each renewal: skip, swap, reschedule or cancel (signed, no password)")


def payment_failed_notice(t: JourneyTimings) -> Step | None:
    if not t.payment_failed_notice_enabled:
        return None
    return step(PAYMENT_FAILED, transactional, channels=(email, sms), scope=per_customer,
                sample=_SAMPLE_PAYMENT_FAILED,
                on=PAYMENT_FAILED_EVENT, when=lambda ev: bool(_subscription(ev.data)), cancelled_by=(STOPPED,),
                repeat_key=lambda ev: f"{_subscription(ev.data)}:{ev.at:%Y-%m-%d}",
                template_data=_links(("payment",)), expires=days(3), sms_segments=3,
                purpose_text="a renewal payment failed: a signed link to update the payment method")


STEPS = (renewal_reminder, payment_failed_notice)


# What each step's template data gives a real message, for `aftercare preview`.
_SAMPLE_RENEWAL_REMINDER = {"subscription_links": {a: f"https://example.com/subscription?t={a}"
                                          for a in ("manage", "skip", "swap", "reschedule", "cancel")},
                    "renews_at": datetime(2026, 4, 3, 15, 30, tzinfo=UTC), "subscription_name": "House Blend monthly"}
_SAMPLE_PAYMENT_FAILED = {"subscription_links": {"payment": "https://example.com/subscription?t=payment"},
                  "renews_at": None, "subscription_name": "House Blend monthly"}
