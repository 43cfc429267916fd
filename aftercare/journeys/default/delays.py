"""Before it arrives: delay news that comes before the customer asks, one notice per slip.

- `dispatch_delay`: the order was not shipped by the end of its promised day (the promise known at order
  time): sorry, the new estimate when one is known, and a remedy (the order page: cancel, or ask support).
- `transit_stalled`: shipped, but no tracking progress for N days (`transit_stalled_days`, weekends
  optionally left out).
- `delivery_attempt_failed`, `out_for_delivery`: carrier news, each its own notice, both off by default.

A slip is one promise being broken: the promised day a notice is about. `delay_notice` (shipping.py) and
`dispatch_delay` carry that day as their occurrence; a stall is about the promise the customer held when it
was sent. Every step tagged `delay` skips when another already told this slip (`slip_already_notified`),
and none goes out once the order is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Message, ScheduledStep
from aftercare.domain.decisions import Decision, Defer, Skip, next_allowed_local_time
from aftercare.domain.promise import day_ends_at, kept, promised_day, stalled_at, start_of_day
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import MessageStatus, Reason
from aftercare.journeys import events
from aftercare.journeys.conditions import every_item
from aftercare.journeys.events import Event
from aftercare.journeys.facts import FactQuery, SentInBatch, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, hours, on, sms, step, transactional
from aftercare.settings import JourneyTimings

DISPATCH_DELAY = "dispatch_delay"
TRANSIT_STALLED = "transit_stalled"
FAILED_ATTEMPT = "delivery_attempt_failed"
OUT_FOR_DELIVERY = "out_for_delivery"
DELAY_TAG = "delay"
# Which setting switches each step off (`AFTERCARE_JOURNEY_<flag>=false`); read by `default_steps`.
SWITCHES = {DISPATCH_DELAY: "dispatch_delay_enabled", TRANSIT_STALLED: "transit_stalled_enabled",
            FAILED_ATTEMPT: "failed_attempt_notice_enabled", OUT_FOR_DELIVERY: "out_for_delivery_notice_enabled"}
_SENT_LIKE = (MessageStatus.SENDING.value, MessageStatus.SENT.value, MessageStatus.DELIVERED.value,
              MessageStatus.OPENED.value, MessageStatus.CLICKED.value, MessageStatus.UNKNOWN.value)


@dataclass(frozen=True)
class SentNotice:
    order_id: int
    step: str
    occurrence: str
    sent_at: datetime


def _load(q: FactQuery) -> Mapping[int, tuple[SentNotice, ...]]:
    """The delay notices already sent for the batch's orders (one query), by customer."""
    tagged = q.journey.tagged(DELAY_TAG)
    if not q.order_ids or not tagged:
        return {}
    out: dict[int, list[SentNotice]] = {}
    rows = q.session.connection().execute(
        select(Message.customer_id, Message.order_id, Message.step, ScheduledStep.occurrence, Message.sent_at)
        .join(ScheduledStep, ScheduledStep.id == Message.step_id)
        .where(in_param(Message.order_id, "oids", q.dialect), Message.step.in_(tagged),
               Message.status.in_(_SENT_LIKE)),
        {"oids": list(q.order_ids)},
    )
    for cid, oid, name, occurrence, sent_at in rows:
        if sent_at is not None and oid is not None:
            out.setdefault(cid, []).append(SentNotice(oid, name, occurrence or "", as_utc(sent_at)))
    return {cid: tuple(v) for cid, v in out.items()}


def _with_send(value: tuple[SentNotice, ...], sent: SentInBatch) -> tuple[SentNotice, ...]:
    """A delay notice decided earlier in the same batch counts as sent (two due in one sweep: one goes)."""
    return (*value, SentNotice(sent.order_id, sent.step, sent.occurrence, sent.at))


SENT_DELAY_NOTICES = fact("sent_delay_notices", _load, default=(), on_send=_with_send)


def current_slip(view: StepView) -> str:
    """The promised day this notice is about: its occurrence, else the promise the customer holds now."""
    if view.occurrence:
        return view.occurrence.split(":")[-1]
    promise = view.order.promised_at
    return promised_day(promise, view.state.timezone).isoformat() if promise is not None else ""


def _slip_of(notice: SentNotice, view: StepView) -> str:
    if notice.occurrence:
        return notice.occurrence.split(":")[-1]
    promise = view.order.promise_current_at(notice.sent_at)
    return promised_day(promise, view.state.timezone).isoformat() if promise is not None else ""


def not_after_delivery(view: StepView, now: datetime) -> Skip | None:
    """Never a delay notice once the order is delivered; late or on time is recorded as the reason (a delivery
    at 00:12 after the promised day is late: the day ends at midnight in the customer's zone)."""
    order = view.order
    if order.delivered_at is None:
        return None
    promise = _slip_day(view) or order.promised_at  # the day this notice is about, else the current promise
    if promise is not None and not kept(promise, order.delivered_at, view.state.timezone):
        return Skip(Reason.DELIVERED_LATE)
    return Skip(Reason.DELIVERED_ON_TIME)


def _slip_day(view: StepView) -> datetime | None:
    """The promised day an occurrence is about (`2026-12-11`), as the start of that day in the customer's zone."""
    try:
        day = date.fromisoformat(view.occurrence.split(":")[-1]) if view.occurrence else None
    except ValueError:
        return None
    return start_of_day(day, view.state.timezone) if day is not None else None


def once_per_slip(name: str) -> Any:
    """Skip when another delay notice already told the customer about this slip (its own other channel, the
    same step and occurrence, is the ledger's business, not a second notice)."""
    def check(view: StepView, now: datetime) -> Skip | None:
        slip = current_slip(view)
        sent: tuple[SentNotice, ...] = view.facts.sent_delay_notices
        for notice in sent:
            if notice.order_id != view.order.order_id:
                continue
            if notice.step == name and notice.occurrence == view.occurrence:
                continue
            if _slip_of(notice, view) == slip:
                return Skip(Reason.SLIP_NOTIFIED)
        return None
    return check


def still_this_promise(view: StepView, now: datetime) -> Skip | None:
    """A notice about a promise a later estimate replaced is not sent: the new day has its own."""
    if not view.occurrence:
        return None
    promise = view.order.promised_at
    if promise is not None and promised_day(promise, view.state.timezone).isoformat() > current_slip(view):
        return Skip(Reason.PROMISE_REVISED)
    return None


def unshipped(view: StepView, now: datetime) -> Skip | None:
    return Skip(Reason.ALREADY_SHIPPED) if view.order.fulfilled_at is not None else None


def after_day_ends(grace: float) -> Any:
    """Due `grace` hours after the promised day ended in the customer's zone (the event carries it)."""
    def due(ev: Event) -> datetime:
        ends: datetime | None = ev.data.get("day_ends_at")
        return (ends if ends is not None else ev.at) + hours(grace)
    return due


def slip_key(ev: Event) -> str:
    return str(ev.data.get("promised_day") or "none")


def order_page(msg: MessageView) -> dict[str, Any]:
    """The remedy: the signed order page (cancel while unshipped, or report a problem) and support."""
    return {"order_url": msg.links.order(msg.order_id, msg.now)}


def _new_estimate(view: StepView, now: datetime) -> dict[str, Any]:
    order = view.order
    estimate = order.estimated_at if order.estimated_at and order.estimated_at > now else None
    return {"new_estimate": estimate, "original_promised_at": order.original_promised_at}


def dispatch_delay(t: JourneyTimings) -> Step:
    return step(DISPATCH_DELAY, transactional, channels=(email, sms), fan_out=True,
                on=on(events.ORDER_PROMISED, due=after_day_ends(t.delay_grace_hours)), repeat_key=slip_key,
                check=(unshipped, not_after_delivery, once_per_slip(DISPATCH_DELAY)), items=every_item,
                data=_new_estimate, template_data=order_page, needs=(SENT_DELAY_NOTICES,), expires=days(5),
                sms_segments=3,
                tags=(DELAY_TAG,),
                purpose_text="not shipped by the end of the promised day: new estimate, cancel or ask support")


def _stalled(t: JourneyTimings) -> Any:
    def check(view: StepView, now: datetime) -> Decision | None:
        last = view.order.last_progress_at
        if last is None:
            return None
        stalled = stalled_at(last, t.transit_stalled_days, view.state.timezone,
                             skip_weekends=t.transit_stalled_skip_weekends)
        return Defer(stalled, Reason.TRACKING_MOVED) if now < stalled else None
    return check


def _promise_still_ahead(view: StepView, now: datetime) -> dict[str, Any]:
    """The stall notice says "we still aim for <day>" only while that day has not ended."""
    promise = view.order.promised_at
    ahead = promise is not None and now < day_ends_at(promise, view.state.timezone)
    return {"promised_at": promise if ahead else None}


def transit_stalled(t: JourneyTimings) -> Step:
    return step(TRANSIT_STALLED, transactional, channels=(email, sms), fan_out=True,
                on=on(events.FULFILLED, days(t.transit_stalled_days)),
                check=(not_after_delivery, _stalled(t), once_per_slip(TRANSIT_STALLED), waking_hours),
                needs=(SENT_DELAY_NOTICES,),
                data=_promise_still_ahead, template_data=order_page, expires=days(45), sms_segments=3,
                tags=(DELAY_TAG,),
                purpose_text=f"no tracking progress for {t.transit_stalled_days:g} days")


def waking_hours(view: StepView, now: datetime) -> Defer | None:
    """News that keeps till morning (a stall, a missed attempt, the van on its way) is not sent at night in the
    customer's zone: deferred to the start of the quiet-hours window (AFTERCARE_QUIET_HOURS_START)."""
    opens = next_allowed_local_time(now, view.state.timezone, view.policy.quiet_start, view.policy.quiet_end)
    return Defer(opens, Reason.QUIET_HOURS) if opens is not None else None


def _undelivered(view: StepView, now: datetime) -> Skip | None:
    return Skip(Reason.ALREADY_DELIVERED) if view.order.delivered_at is not None else None


def failed_attempt(t: JourneyTimings) -> Step:
    return step(FAILED_ATTEMPT, transactional, channels=(sms, email), on=events.FAILED_ATTEMPT,
                check=(_undelivered, waking_hours), expires=days(1), sms_segments=3,
                purpose_text="the carrier tried to deliver and could not")


def out_for_delivery(t: JourneyTimings) -> Step:
    return step(OUT_FOR_DELIVERY, transactional, channels=(sms, email), on=events.OUT_FOR_DELIVERY,
                check=(_undelivered, waking_hours), expires=hours(12), sms_segments=3, purpose_text="arriving today")


STEPS = (dispatch_delay, transit_stalled, failed_attempt, out_for_delivery)
