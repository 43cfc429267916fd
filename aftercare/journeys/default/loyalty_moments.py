"""Loyalty moments: a notice per new tier, a monthly points statement, a referral invitation after a 5-star
review, the referral bonus, and the points a review earned.

Loyalty apps publish the statement's rule: monthly, only to customers with an order in the last 6 months
(`points_statement_active_days`) and no loyalty email in the past 7 days (`points_statement_quiet_days`; a
statement due sooner waits until then, inside its expiry). Tier changes, reviews and referral orders are the
store's own events (`loyalty.tier_changed`, `review.created`, `referral.ordered`, through
`POST /webhooks/events`); the engine records the review and credits the review and referral points before
these steps are scheduled, so the messages show the balance that includes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Message, Order
from aftercare.domain.decisions import Decision, Defer, Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Channel, MessageStatus
from aftercare.journeys import events
from aftercare.journeys.events import Event
from aftercare.journeys.facts import FactQuery, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, marketing, on, per_customer, step, transactional
from aftercare.journeys.store_events import LOYALTY_TIER_CHANGED, REFERRAL_ORDERED, REVIEW_CREATED
from aftercare.settings import JourneyTimings

TIER_UP_NOTICE = "tier_up_notice"
POINTS_STATEMENT = "points_statement"
REFERRAL_INVITE = "referral_invite"
REFERRAL_BONUS = "referral_bonus"
REVIEW_POINTS = "review_points"
LOYALTY_TAG = "loyalty"  # loyalty emails: a statement waits a week after any of them
INACTIVE = "loyalty.no_recent_order"
NO_POINTS = "loyalty.no_points"
_SENT_LIKE = (MessageStatus.SENDING.value, MessageStatus.SENT.value, MessageStatus.DELIVERED.value,
              MessageStatus.OPENED.value, MessageStatus.CLICKED.value, MessageStatus.UNKNOWN.value)


# Tier changes ------------------------------------------------------------------------------------------
def _rank_change(ev: Event) -> int:
    return int(ev.data.get("new_rank", 0)) - int(ev.data.get("old_rank", 0))


def _tier_data(msg: MessageView) -> dict[str, Any]:
    return {"new_tier": str(msg.payload.get("new_tier") or ""), "tier_went_up": msg.occurrence.startswith("up:")}


def tier_up_notice(t: JourneyTimings) -> Step | None:
    """One notice per new tier (per customer, repeating: a second tier-up is a second notice; a replayed or
    repeated event for the same tier is not). A tier drop gets none unless `tier_down_notice`."""
    if not t.tier_up_notice_enabled:
        return None

    def wanted(ev: Event) -> bool:
        return _rank_change(ev) > 0 or (t.tier_down_notice and _rank_change(ev) < 0)

    def occurrence(ev: Event) -> str:
        return f"{'up' if _rank_change(ev) > 0 else 'down'}:{str(ev.data.get('new_tier', ''))[:48]}"

    return step(TIER_UP_NOTICE, marketing, channels=(email,), scope=per_customer, on=LOYALTY_TIER_CHANGED,
                sample=_SAMPLE_TIER_UP_NOTICE,
                when=wanted, repeat_key=occurrence, template_data=_tier_data, expires=days(7),
                tags=(LOYALTY_TAG,), purpose_text="the customer reached a new loyalty tier (once per tier)")


# The monthly statement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoyaltyActivity:
    last_order_at: datetime | None = None
    last_loyalty_email_at: datetime | None = None


def _load_activity(q: FactQuery) -> Mapping[int, LoyaltyActivity]:
    """The customers' latest order and latest loyalty email (two grouped queries per batch)."""
    if not q.customer_ids:
        return {}
    conn, cids = q.session.connection(), {"cids": list(q.customer_ids)}
    orders = {cid: _utc(at) for cid, at in conn.execute(
        select(Order.customer_id, func.max(Order.placed_at)).where(
            in_param(Order.customer_id, "cids", q.dialect), Order.status != "cancelled").group_by(Order.customer_id),
        cids)}
    loyalty = q.journey.tagged(LOYALTY_TAG)
    emails = {cid: _utc(at) for cid, at in conn.execute(
        select(Message.customer_id, func.max(Message.sent_at)).where(
            in_param(Message.customer_id, "cids", q.dialect), Message.step.in_(loyalty),
            Message.channel == Channel.EMAIL.value, Message.status.in_(_SENT_LIKE)).group_by(Message.customer_id),
        cids)} if loyalty else {}
    return {cid: LoyaltyActivity(orders.get(cid), emails.get(cid)) for cid in set(orders) | set(emails)}


LOYALTY_ACTIVITY = fact("loyalty_activity", _load_activity, default=LoyaltyActivity())


def next_statement(at: datetime) -> datetime:
    """The first of the month after `at`, 15:00 UTC (morning in the Americas, evening in Asia)."""
    at = as_utc(at)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return datetime(year, month, 1, 15, tzinfo=UTC)


def _statement_gate(t: JourneyTimings) -> Any:
    active, quiet = days(t.points_statement_active_days), days(t.points_statement_quiet_days)

    def gate(view: StepView, now: datetime) -> Decision | None:
        activity: LoyaltyActivity = view.facts.loyalty_activity
        if activity.last_order_at is None or activity.last_order_at < now - active:
            return Skip(INACTIVE)
        if view.state.points_balance <= 0:
            return Skip(NO_POINTS)
        last = activity.last_loyalty_email_at
        if last is not None and last > now - quiet:
            return Defer(last + quiet, "loyalty.recent_loyalty_email")
        return None

    return gate


def _statement_data(msg: MessageView) -> dict[str, Any]:
    return {"reward_threshold": max(msg.settings.reward_threshold, 1)}


def points_statement(t: JourneyTimings) -> Step | None:
    if not t.points_statement_enabled:
        return None

    def due(ev: Event) -> datetime:
        return next_statement(ev.at)

    return step(POINTS_STATEMENT, marketing, channels=(email,), scope=per_customer,
                sample=_SAMPLE_POINTS_STATEMENT,
                on=(on(events.ORDER_PLACED, due=due), on(events.sent(POINTS_STATEMENT), due=due)),
                repeat_key=lambda ev: f"{next_statement(ev.at):%Y-%m}", check=_statement_gate(t),
                needs=(LOYALTY_ACTIVITY,), template_data=_statement_data, expires=days(10), tags=(LOYALTY_TAG,),
                purpose_text="monthly: balance, unclaimed rewards, points to the next reward (active customers)")


# Reviews and referrals ---------------------------------------------------------------------------------
def _referral_link(msg: MessageView) -> dict[str, Any]:
    return {"referral_url": msg.links.url("/refer", {"k": "refer", "c": msg.customer_id}, msg.now)}


def referral_invite(t: JourneyTimings) -> Step | None:
    if not t.referral_invite_enabled:
        return None
    return step(REFERRAL_INVITE, marketing, channels=(email,), scope=per_customer, on=REVIEW_CREATED,
                after=timedelta(hours=1), when=lambda ev: ev.data.get("rating") == 5,
                template_data=_referral_link, expires=days(7), tags=(LOYALTY_TAG,),
                purpose_text="after a 5-star review: the customer's own referral link")


def _points_earned(msg: MessageView) -> dict[str, Any]:
    return {"points_awarded": int(msg.payload.get("points") or 0)}


def _has_points(ev: Event) -> bool:
    return int(ev.data.get("points") or 0) > 0


def referral_bonus(t: JourneyTimings) -> Step | None:
    if not t.referral_bonus_enabled:
        return None
    return step(REFERRAL_BONUS, transactional, channels=(email,), scope=per_customer, on=REFERRAL_ORDERED,
                sample=_SAMPLE_REFERRAL_BONUS,
                when=_has_points, repeat_key=lambda ev: str(ev.data.get("referred_order", ""))[:64],
                template_data=_points_earned, expires=days(7), tags=(LOYALTY_TAG,),
                purpose_text="someone the customer referred ordered: the bonus points")


def review_points(t: JourneyTimings) -> Step | None:
    if not t.review_points_enabled:
        return None
    return step(REVIEW_POINTS, transactional, channels=(email,), scope=per_customer, on=REVIEW_CREATED,
                sample=_SAMPLE_REVIEW_POINTS,
                when=_has_points, repeat_key=lambda ev: str(ev.data.get("product", ""))[:64],
                template_data=_points_earned, expires=days(7), tags=(LOYALTY_TAG,),
                purpose_text="thanks for a review: the points it earned")


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # aggregates lose the column type on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return as_utc(value)


STEPS = (tier_up_notice, points_statement, review_points, referral_invite, referral_bonus)


# What each step's template data gives a real message, for `aftercare preview`.
_SAMPLE_TIER_UP_NOTICE = {"new_tier": "Gold", "tier_went_up": True}
_SAMPLE_POINTS_STATEMENT = {"reward_threshold": 100}
_SAMPLE_REFERRAL_BONUS = {"points_awarded": 250}
_SAMPLE_REVIEW_POINTS = {"points_awarded": 50}
