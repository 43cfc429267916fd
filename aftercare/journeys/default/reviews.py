"""Reviews: the review request, routed and timed by the CSAT answer, never gated on it by default; one
reminder a week later; one request per product per 12 months across orders.

FTC guidance and Google's review policy forbid soliciting reviews only from customers expected to be
happy. Unhappy customers wait for their service-recovery case to be resolved, or for the recovery window to
end, then are asked like everyone else. `strict_csat_only` (off by default) asks only customers who
answered happy: that is review gating, which exists only as an explicit choice.

Review apps publish the cadence this follows: a product is asked about at most once per 12 months whichever
order it came in (`review_request_per_product_days`), and one reminder about 7 days after the request goes
out only while the customer has left no review, and, where the email provider reports opens, only if the
request was opened (a request delivered and never opened is not chased).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Message, OrderItem
from aftercare.domain.decisions import Decision, Defer, Skip
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Channel, MessageStatus, Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import delivered, kept_items
from aftercare.journeys.facts import Fact, FactQuery, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, marketing, on, sms, step
from aftercare.settings import JourneyTimings

REVIEW_REQUEST = "review_request"
REVIEW_REMINDER = "review_reminder"
REVIEW_TAG = "review"
ASKED_RECENTLY = "reviews.asked_within_window"  # every product was asked about recently, in another order
NOT_OPENED = "reviews.request_not_opened"
_ASKED = (MessageStatus.SENDING.value, MessageStatus.SENT.value, MessageStatus.DELIVERED.value,
          MessageStatus.OPENED.value, MessageStatus.CLICKED.value, MessageStatus.UNKNOWN.value)
_OPENED = frozenset({MessageStatus.OPENED.value, MessageStatus.CLICKED.value})


@dataclass(frozen=True)
class ReviewAsks:
    """A customer's review requests: when each product was last asked about (and in which order), and how far
    each order's request got at the provider (opened, or only delivered)."""

    asked: Mapping[str, tuple[int, datetime]] = field(default_factory=dict)  # product -> (order, sent at)
    progress: Mapping[int, frozenset[str]] = field(default_factory=dict)  # order -> its request emails' statuses


def review_asks(window: timedelta) -> Fact:
    """The batch fact: review requests sent to the batch's customers inside `window` (one query)."""

    def load(q: FactQuery) -> Mapping[int, ReviewAsks]:
        requests = q.journey.tagged(REVIEW_TAG)
        if not q.customer_ids or not requests:
            return {}
        rows = q.session.execute(
            select(Message.customer_id, Message.order_id, Message.sent_at, Message.status, Message.channel,
                   OrderItem.product_id)
            .join(OrderItem, OrderItem.order_id == Message.order_id)
            .where(in_param(Message.customer_id, "cids", q.dialect), Message.step.in_(requests),
                   Message.status.in_(_ASKED)),
            {"cids": list(q.customer_ids)})
        asked: dict[int, dict[str, tuple[int, datetime]]] = {}
        progress: dict[int, dict[int, set[str]]] = {}
        since = q.now - window
        for cid, oid, sent_at, status, channel, pid in rows:
            if channel == Channel.EMAIL.value:  # opens are known only for email, and only with events
                progress.setdefault(cid, {}).setdefault(oid, set()).add(status)
            if sent_at is None or as_utc(sent_at) <= since:
                continue
            at = as_utc(sent_at)
            mine = asked.setdefault(cid, {})
            if pid not in mine or at > mine[pid][1]:
                mine[pid] = (oid, at)
        return {cid: ReviewAsks(asked.get(cid, {}), {o: frozenset(s) for o, s in progress.get(cid, {}).items()})
                for cid in set(asked) | set(progress)}

    return fact("review_asks", load, default=ReviewAsks())


def unreviewed(view: StepView) -> tuple[str, ...]:
    """The order's kept products the customer has not reviewed."""
    return tuple(p for p in view.order.kept_product_ids if p not in view.state.reviews)


def to_ask(view: StepView) -> tuple[str, ...]:
    """Kept, not reviewed, and not asked about inside the window in another order."""
    asks: ReviewAsks = view.facts.review_asks
    return tuple(p for p in unreviewed(view)
                 if p not in asks.asked or asks.asked[p][0] == view.order.order_id)


def _review_gate(view: StepView, now: datetime) -> Decision | None:
    order, policy = view.order, view.policy
    if not unreviewed(view):
        return Skip(Reason.ALREADY_REVIEWED)
    if not to_ask(view):
        return Skip(ASKED_RECENTLY)
    score = order.csat_score
    if policy.strict_csat_only and (score is None or score < policy.happy_min_score):
        return Skip(Reason.STRICT_CSAT_GATE)
    if score is not None and score <= policy.unhappy_max_score and order.recovery_resolved_at is None:
        # Until the case is resolved, or the recovery window ends (a case nobody closed must not gate them out).
        opened = order.recovery_opened_at or order.csat_answered_at
        if opened is not None and now < opened + policy.recovery_window:
            return Defer(opened + policy.recovery_window, Reason.AWAITING_RECOVERY)
    return None


def _reminder_gate(view: StepView, now: datetime) -> Decision | None:
    """Only while nothing was reviewed since the request; where opens are known (the provider reported the
    request delivered, or opened), only if it was opened."""
    if any(p in view.state.reviews for p in view.order.kept_product_ids):
        return Skip(Reason.ALREADY_REVIEWED)
    asks: ReviewAsks = view.facts.review_asks
    statuses = asks.progress.get(view.order.order_id, frozenset())
    if MessageStatus.DELIVERED.value in statuses and not statuses & _OPENED:
        return Skip(NOT_OPENED)
    return None


def _review_links(msg: MessageView) -> dict[str, Any]:
    items = tuple(replace(i, review_url=msg.links.review(msg.order_id, i.product_id, msg.now)) for i in msg.items)
    return {"items": items, "review_url": msg.links.review(msg.order_id, None, msg.now)}


def _photo_prompt(t: JourneyTimings) -> Any:
    def data(view: StepView, now: datetime) -> dict[str, Any]:
        return {"photo_prompt": bool(t.review_photo_prompt_vip and view.state.vip)}
    return data


def review_request(t: JourneyTimings) -> Step:
    return step(
        REVIEW_REQUEST, marketing, channels=(email, sms),
        on=(on(events.DELIVERED, days(t.review_without_csat_days)),
            on(events.CSAT_HAPPY, days(t.review_after_happy_csat_days)),
            on(events.RECOVERY_RESOLVED, days(t.review_after_recovery_days))),
        check=(delivered, kept_items, _review_gate), items=to_ask, data=_photo_prompt(t),
        needs=(review_asks(days(t.review_request_per_product_days)),), template_data=_review_links,
        expires=days(30), sms_segments=3, tags=(REVIEW_TAG,),
        purpose_text="CSAT 4-5: 2 days after; 1-2: after recovery; no answer: 14 days; a product once a year",
    )


def review_reminder(t: JourneyTimings) -> Step | None:
    if not t.review_reminder_enabled:
        return None
    return step(
        REVIEW_REMINDER, marketing, channels=(email, sms), on=events.sent(REVIEW_REQUEST),
        after=days(t.review_reminder_days), check=(kept_items, _reminder_gate), items=unreviewed,
        data=_photo_prompt(t), needs=(review_asks(days(t.review_request_per_product_days)),),
        template_data=_review_links, expires=days(7), sms_segments=3, tags=("review_reminder",),
        purpose_text="7 days after the request: no review yet (and, where opens are known, it was opened)",
    )


STEPS = (review_request, review_reminder)
