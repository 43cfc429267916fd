"""What to do with a step that is due: a pure function of (step, customer state, now, policy).

`decide` returns `Send`, `Skip` (with a reason), `Defer` (until a time, with a reason), `Wait` (for an
event, with a reason; no step produces it any more: a service-recovery case holds steps until a time, the end
of the recovery window, so an unresolved case cannot hold them forever) or `HoldOut`. Past a step's expiry
`decide` skips it as expired, whatever else holds. It imports nothing from Prefect, the database or any SDK,
so every condition is a row in a table test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aftercare.domain import journey as j
from aftercare.domain.journey import StepSpec
from aftercare.domain.state import CustomerState, OrderState
from aftercare.domain.vocabulary import Channel, Purpose, Reason


@dataclass(frozen=True)
class Policy:
    frequency_cap: timedelta = timedelta(hours=24)
    frequency_cap_messages: int = 1
    quiet_start: int = 8
    quiet_end: int = 21
    strict_csat_only: bool = False
    holdout_share: float = 0.0
    holdout_salt: str = "aftercare"
    happy_min_score: int = 4
    unhappy_max_score: int = 2
    recovery_window: timedelta = timedelta(days=7)  # an open case holds reviews and promotions this long at most


@dataclass(frozen=True)
class Send:
    channels: tuple[Channel, ...]
    product_ids: tuple[str, ...] = ()  # the items this message is about (returned ones left out)
    referral_invite: bool = False
    skipped_channels: tuple[tuple[Channel, Reason], ...] = ()
    carries_points_expiry: bool = False  # a win-back that also carries the points-expiry reminder
    cross_sell: bool = True  # False while the customer's recovery case is open: no product pitch in the message


@dataclass(frozen=True)
class Skip:
    reason: Reason
    channel: Channel | None = None


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: Reason


@dataclass(frozen=True)
class Wait:
    reason: Reason


@dataclass(frozen=True)
class HoldOut:
    channel: Channel


Decision = Send | Skip | Defer | Wait | HoldOut


@dataclass(frozen=True)
class DueStep:
    spec: StepSpec
    first_due_at: datetime
    due_at: datetime


def decide(step: DueStep, state: CustomerState, now: datetime, policy: Policy) -> Decision:
    if now >= expires_at(step):
        return Skip(Reason.EXPIRED)
    if step.spec.to_support:
        return _support_notice(state)
    gate = (_step_gate(step.spec, state, now, policy) or _recovery_hold(step.spec, state, now, policy)
            or _points_merge_gate(step, state, now, policy))
    if isinstance(gate, Defer):
        return _within_expiry(step, gate)
    if gate is not None:
        return gate
    channels, refused = _eligible_channels(step.spec, state)
    if not channels:
        reason = refused[0][1] if refused else Reason.NO_CHANNEL
        return Skip(reason, refused[0][0] if refused else None)
    if step.spec.is_marketing:
        defer = _marketing_timing(channels[0], state, now, policy)
        if defer is not None:
            if defer.until > expires_at(step):
                return Skip(Reason.EXPIRED, channels[0])
            return defer
        if in_holdout(state.customer_id, step.spec.name, policy):
            return HoldOut(channels[0])
    products = state.order.kept_product_ids
    # A customer who gave any 5-star review is invited to refer a friend in later marketing messages.
    invite = step.spec.is_marketing and any(stars == 5 for stars in state.reviews.values())
    carries_points = _winback_carries_points(step.spec, state, now, policy)
    return Send(channels=channels, product_ids=products, referral_invite=invite,
                skipped_channels=tuple(refused), carries_points_expiry=carries_points,
                cross_sell=_recovery_window_end(state, now, policy) is None)


def _support_notice(state: CustomerState) -> Decision:
    """The recovery notice goes to the store's own support address: the customer's channels and consents do not
    apply. Not needed once the case is resolved (support closed it before the sweep came round)."""
    if state.order.recovery_resolved_at is not None:
        return Skip(Reason.NOT_NEEDED)
    return Send((Channel.EMAIL,), product_ids=state.order.kept_product_ids, cross_sell=False)


def expires_at(step: DueStep) -> datetime:
    """When a step stops making sense: its first due time + the step's expiry. From then on it is skipped."""
    return step.first_due_at + step.spec.expires_after


def _within_expiry(step: DueStep, defer: Defer) -> Defer:
    """A deferral never outlives its step: capped at the expiry, where the step is then skipped as expired."""
    return defer if defer.until <= expires_at(step) else Defer(expires_at(step), defer.reason)


def _recovery_window_end(state: CustomerState, now: datetime, policy: Policy) -> datetime | None:
    """The end of the recovery window while the customer has an open case inside it, else None.

    A case still open after the window no longer holds anything back (it is flagged for support instead):
    an unresolved case must not gate a customer out for good.
    """
    opened = state.open_recovery_since
    if opened is None or now >= opened + policy.recovery_window:
        return None
    return opened + policy.recovery_window


def _recovery_hold(spec: StepSpec, state: CustomerState, now: datetime, policy: Policy) -> Decision | None:
    """While the customer's service-recovery case is open, promotions (win-back, points) wait for it.

    A deferral, not a skip, so nothing is lost: resolving the case brings held steps forward, and the window's
    end releases them anyway (capped at each step's own expiry).
    """
    if not spec.promotional:
        return None
    window_end = _recovery_window_end(state, now, policy)
    return None if window_end is None else Defer(window_end, Reason.RECOVERY_OPEN)


# How long a points reminder waits past a win-back's due time before deciding again (by then it is sent).
MERGE_RECHECK = timedelta(minutes=10)


def _points_merge_gate(step: DueStep, state: CustomerState, now: datetime, policy: Policy) -> Decision | None:
    """A points reminder folds into a win-back sent, or due, inside the frequency-cap window.

    Sent inside the window: the win-back carried the points (see `_winback_carries_points`), so the reminder
    is skipped as merged. Due inside the window: the reminder waits until just after the win-back's due time
    and decides again; if the win-back was then held out, skipped or pushed past the window, the reminder
    goes out on its own, so a reminder is never lost to a merge that did not happen (nor waits past its
    own expiry for one).
    """
    spec = step.spec
    if spec.name not in (j.POINTS_EXPIRY_30, j.POINTS_EXPIRY_7):
        return None
    merge = state.merge
    if merge.winback_sent_at is not None and merge.winback_sent_at > now - policy.frequency_cap:
        return Skip(Reason.MERGED)
    if merge.winback_due_at is not None and merge.winback_due_at <= now + policy.frequency_cap:
        until = max(merge.winback_due_at, now) + MERGE_RECHECK
        if spec.expires_after is None or until <= step.first_due_at + spec.expires_after:
            return Defer(until, Reason.MERGED)
    return None


def _winback_carries_points(spec: StepSpec, state: CustomerState, now: datetime, policy: Policy) -> bool:
    """A win-back carries the points reminder when one is due inside the cap window.

    Not for a customer held out of that reminder: carrying it would send them what the holdout withholds.
    """
    merge = state.merge
    return (
        spec.name in j.WINBACK_STEPS
        and state.points_at_risk > 0
        and not _points_expired(state, now)
        and merge.points_step is not None
        and merge.points_due_at is not None
        and merge.points_due_at <= now + policy.frequency_cap
        and not in_holdout(state.customer_id, merge.points_step, policy)
    )


def _step_gate(spec: StepSpec, state: CustomerState, now: datetime, policy: Policy) -> Decision | None:
    """Conditions that belong to one step: cancellation, delivery, returns, reviews, the CSAT gate."""
    order = state.order
    name = spec.name
    if name == j.CANCELLATION_NOTICE:
        return None if order.cancelled else Skip(Reason.NOT_NEEDED)
    if order.cancelled and not spec.per_customer:
        return Skip(Reason.ORDER_CANCELLED)
    if spec.per_customer and name in j.WINBACK_STEPS and state.newer_order_exists:
        return Skip(Reason.NEW_ORDER)
    if name == j.DELAY_NOTICE and order.delivered_at is not None:
        return Skip(Reason.DELIVERED_ON_TIME)
    if name == j.SHIPPED:
        return _shipped_gate(order)
    if name in (j.SETUP_GUIDE, j.CSAT, j.REVIEW_REQUEST) and order.delivered_at is None:
        return Skip(Reason.NOT_DELIVERED)
    if name in (j.SETUP_GUIDE, j.REVIEW_REQUEST) and not order.kept_product_ids:
        return Skip(Reason.ITEMS_RETURNED)
    if name == j.CSAT and order.csat_answered_at is not None:
        return Skip(Reason.CSAT_ALREADY_ANSWERED)
    if name == j.REVIEW_REQUEST:
        return _review_gate(state, now, policy)
    if name in (j.POINTS_EXPIRY_30, j.POINTS_EXPIRY_7):
        return _points_reminder_gate(state, now)
    return None


def _shipped_gate(order: OrderState) -> Decision | None:
    """A shipped notice is superseded by delivery: once delivered, the delivered notice says it all."""
    return Skip(Reason.ALREADY_DELIVERED) if order.delivered_at is not None else None


def _points_expired(state: CustomerState, now: datetime) -> bool:
    return state.points_expire_at is not None and state.points_expire_at <= now


def _points_reminder_gate(state: CustomerState, now: datetime) -> Decision | None:
    """A points reminder needs points still at risk: none expiring (or none left to expire) is not needed,
    and once the points have expired a reminder would announce a loss as a warning."""
    if state.points_at_risk <= 0:
        return Skip(Reason.NOT_NEEDED)
    if _points_expired(state, now):
        return Skip(Reason.POINTS_EXPIRED)
    return None


def _review_gate(state: CustomerState, now: datetime, policy: Policy) -> Decision | None:
    """Routing and timing by CSAT, never who is ever asked (unless strict mode is set explicitly).

    Unhappy customers wait for their service-recovery case to be resolved, or for the recovery window to end
    (a case nobody closed must not gate them out), then are asked like everyone else. `strict_csat_only`
    (off by default) asks only customers who answered happy: that is review gating, which FTC guidance and
    Google's review policy forbid; it exists only as an explicit choice.
    """
    order = state.order
    if all(p in state.reviews for p in order.kept_product_ids):
        return Skip(Reason.ALREADY_REVIEWED)
    score = order.csat_score
    if policy.strict_csat_only and (score is None or score < policy.happy_min_score):
        return Skip(Reason.STRICT_CSAT_GATE)
    if score is not None and score <= policy.unhappy_max_score and order.recovery_resolved_at is None:
        opened = order.recovery_opened_at or order.csat_answered_at
        if opened is not None and now < opened + policy.recovery_window:
            return Defer(opened + policy.recovery_window, Reason.AWAITING_RECOVERY)
    return None


def _eligible_channels(
    spec: StepSpec, state: CustomerState
) -> tuple[tuple[Channel, ...], list[tuple[Channel, Reason]]]:
    eligible: list[Channel] = []
    refused: list[tuple[Channel, Reason]] = []
    for channel in spec.channels:
        reason = _channel_refusal(channel, spec.purpose, state)
        if reason is None:
            eligible.append(channel)
            if not spec.all_channels:
                break
        elif not (channel is Channel.SMS and not state.has_phone):
            refused.append((channel, reason))
    return tuple(eligible), refused


def _channel_refusal(channel: Channel, purpose: Purpose, state: CustomerState) -> Reason | None:
    if channel is Channel.EMAIL:
        if not state.email_valid:
            return Reason.INVALID_EMAIL
        if state.email_bounced:
            return Reason.EMAIL_BOUNCED
        if purpose is Purpose.MARKETING:
            if state.email_unsubscribed:
                return Reason.UNSUBSCRIBED
            if not state.has_consent(Channel.EMAIL, Purpose.MARKETING):
                return Reason.NO_MARKETING_CONSENT
        return None
    if not state.has_phone:
        return Reason.NO_CHANNEL
    if not state.phone_valid:
        return Reason.INVALID_PHONE
    if state.sms_stopped:
        return Reason.SMS_STOPPED
    if not state.has_consent(Channel.SMS, purpose):
        return Reason.NO_MARKETING_CONSENT if purpose is Purpose.MARKETING else Reason.NO_TRANSACTIONAL_CONSENT
    return None


def _marketing_timing(channel: Channel, state: CustomerState, now: datetime, policy: Policy) -> Defer | None:
    window_start = now - policy.frequency_cap
    recent = sorted(t for t in state.recent_marketing_sends if t > window_start)
    if len(recent) >= policy.frequency_cap_messages:
        return Defer(recent[-policy.frequency_cap_messages] + policy.frequency_cap, Reason.FREQUENCY_CAP)
    if channel is Channel.SMS:
        opens = next_allowed_local_time(now, state.timezone, policy.quiet_start, policy.quiet_end)
        if opens is not None:
            return Defer(opens, Reason.QUIET_HOURS)
    return None


def next_allowed_local_time(now: datetime, timezone: str, start_hour: int, end_hour: int) -> datetime | None:
    """None when `now` is inside [start, end) in the customer's zone, else the next start in UTC."""
    zone = _zone(timezone)
    local = now.astimezone(zone)
    if start_hour <= local.hour < end_hour:
        return None
    day = local.date() if local.hour < start_hour else local.date() + timedelta(days=1)
    opens = datetime.combine(day, time(hour=start_hour), tzinfo=zone)
    return opens.astimezone(now.tzinfo)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # an unknown zone must not crash a batch: treat it as UTC
        return ZoneInfo("UTC")


def in_holdout(customer_id: int, step: str, policy: Policy) -> bool:
    """Deterministic: the same customer, step and salt always land in the same group."""
    if policy.holdout_share <= 0:
        return False
    digest = hashlib.sha256(f"{policy.holdout_salt}:{step}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < policy.holdout_share
