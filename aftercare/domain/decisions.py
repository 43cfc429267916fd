"""What to do with a step that is due: a pure function of (step, customer state, now, policy).

The step brings its own condition (`Step.condition`); everything around it is the engine's and the same
for every step: cancelled orders, consent and suppression per channel and purpose, frequency cap, quiet
hours, expiry and holdout.

`decide` returns `Send`, `Skip` (with a reason), `Defer` (until a time, with a reason), `Wait` (for an
event, with a reason) or `HoldOut`. It imports nothing from Prefect, the database or any SDK, so every
condition is a row in a table test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aftercare.domain.jurisdictions import Jurisdiction, Must, jurisdiction_of
from aftercare.domain.state import CustomerState, ItemState
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Channel, Purpose, Reason, Scope
from aftercare.domain.zones import is_zone
from aftercare.frozen import builder

if TYPE_CHECKING:
    from aftercare.journeys.step import Step


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
    # Non-urgent transactional SMS (shipped, delivered) wait for these local hours; urgent ones never wait.
    transactional_sms_start: int = 8
    transactional_sms_end: int = 21
    # What the store has configured for advertising messages' legal details (jurisdictions.Must); a
    # marketing message to a customer whose law requires a missing one is skipped with a reason.
    legal_details: frozenset[Must] = frozenset(Must)


@dataclass(frozen=True)
class Send:
    channels: tuple[Channel, ...]
    product_ids: tuple[str, ...] = ()  # the items this message is about (returned ones left out)
    referral_invite: bool = False
    skipped_channels: tuple[tuple[Channel, Reason], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # the step's own decision-time template data
    cross_sell: bool = True  # False while the customer's recovery case is open: no product pitch in the message


def _checked(reason: Reason | str) -> Reason | str:
    """Engine reasons are `Reason`s; a step's own are namespaced strings that fit the columns they land in."""
    if not isinstance(reason, Reason) and not (0 < len(reason) <= 48):
        raise ValueError(f"a reason must be 1-48 characters, e.g. 'store.reordered'; got {reason!r}")
    return reason


@dataclass(frozen=True)
class Skip:
    reason: Reason | str
    channel: Channel | None = None

    def __post_init__(self) -> None:
        _checked(self.reason)


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: Reason | str

    def __post_init__(self) -> None:
        _checked(self.reason)


@dataclass(frozen=True)
class Wait:
    reason: Reason | str

    def __post_init__(self) -> None:
        _checked(self.reason)


@dataclass(frozen=True)
class HoldOut:
    channel: Channel


Decision = Send | Skip | Defer | Wait | HoldOut


@dataclass(frozen=True)
class DueStep:
    spec: Step
    first_due_at: datetime
    due_at: datetime
    occurrence: str = ""
    item: str | None = None  # per-item steps: the product this occurrence is about
    payload: Mapping[str, Any] = field(default_factory=dict)


_new_view = builder(StepView)  # one per due step: filled in one step, not by its frozen __init__ (aftercare/frozen.py)


def view_of(step: DueStep, state: CustomerState, policy: Policy) -> StepView:
    """What the step's own functions see: the state, the facts, this occurrence and its item."""
    item: ItemState | None = None
    if step.item is not None:
        item = next((i for i in state.order.items if i.product_id == step.item), ItemState(step.item))
    return _new_view({"state": state, "policy": policy, "first_due_at": step.first_due_at, "due_at": step.due_at,
                      "expires": step.spec.expires, "occurrence": step.occurrence, "item": item,
                      "payload": step.payload, "fact_names": step.spec.fact_names})


def decide(step: DueStep, state: CustomerState, now: datetime, policy: Policy) -> Decision:
    """The engine's rules around the step's own condition; the engine never looks at a step's name.

    In order: past the step's expiry it is skipped as expired; a step for the store's support team is sent to
    it (its own checks aside) without the customer's channels; a cancelled order stops its order and item
    steps (unless the step is for cancelled orders); the step's own checks, then the recovery hold for
    promotional steps (deferrals capped at the expiry); consent and suppression per channel and purpose; for
    marketing, the frequency cap and quiet hours (deferred, and skipped as expired past the step's expiry)
    and the holdout.
    """
    spec = step.spec
    if spec.expires is not None and now >= expires_at(step):
        return Skip(Reason.EXPIRED)
    view = view_of(step, state, policy)
    if spec.to_support:
        return spec.condition(view, now) or Send((Channel.EMAIL,), product_ids=state.order.kept_product_ids,
                                                 cross_sell=False)
    if state.order.cancelled and spec.scope is not Scope.CUSTOMER and not spec.for_cancelled_orders:
        return Skip(Reason.ORDER_CANCELLED)
    gate = spec.condition(view, now) or _recovery_hold(spec, state, now, policy)
    if isinstance(gate, Defer):
        return _within_expiry(step, gate)
    if gate is not None:
        return gate
    channels, refused = _eligible_channels(spec, state, policy)
    if not channels:
        reason = refused[0][1] if refused else Reason.NO_CHANNEL
        return Skip(reason, refused[0][0] if refused else None)
    if spec.is_marketing:
        defer = _marketing_timing(channels, state, now, policy)
        if defer is not None:
            if spec.expires is not None and defer.until > expires_at(step):
                return Skip(Reason.EXPIRED, channels[0])
            return defer
        if in_holdout(state.customer_id, spec.name, policy):
            return HoldOut(channels[0])
    elif Channel.SMS in channels and not spec.urgent:
        opens = _transactional_sms_opens(state, now, policy)
        if opens is not None:
            if spec.expires is not None and opens > expires_at(step):
                return Skip(Reason.EXPIRED, Channel.SMS)
            return Defer(opens, Reason.QUIET_HOURS)
    # A customer who gave any 5-star review is invited to refer a friend in later marketing messages.
    invite = spec.is_marketing and any(stars == 5 for stars in state.reviews.values())
    return Send(channels=channels, product_ids=spec.items_of(view), referral_invite=invite,
                skipped_channels=tuple(refused), data=spec.data_of(view, now),
                cross_sell=recovery_window_end(state, now, policy) is None)


def expires_at(step: DueStep) -> datetime:
    """When a step stops making sense: its first due time + the step's expiry. From then on it is skipped."""
    assert step.spec.expires is not None
    return step.first_due_at + step.spec.expires


def _within_expiry(step: DueStep, defer: Defer) -> Defer:
    """A deferral never outlives its step: capped at the expiry, where the step is then skipped as expired."""
    if step.spec.expires is None or defer.until <= expires_at(step):
        return defer
    return Defer(expires_at(step), defer.reason)


def recovery_window_end(state: CustomerState, now: datetime, policy: Policy) -> datetime | None:
    """The end of the recovery window while the customer has an open case inside it, else None.

    A case still open after the window no longer holds anything back (it is flagged for support instead):
    an unresolved case must not gate a customer out for good.
    """
    opened = state.open_recovery_since
    if opened is None or now >= opened + policy.recovery_window:
        return None
    return opened + policy.recovery_window


def _recovery_hold(spec: Step, state: CustomerState, now: datetime, policy: Policy) -> Decision | None:
    """While the customer's service-recovery case is open, promotional steps wait for it (an engine rule for
    every step declared `promotional`).

    A deferral, not a skip, so nothing is lost: resolving the case brings held steps forward, and the window's
    end releases them anyway (capped at each step's own expiry).
    """
    if not spec.promotional:
        return None
    window_end = recovery_window_end(state, now, policy)
    return None if window_end is None else Defer(window_end, Reason.RECOVERY_OPEN)


def _eligible_channels(
    spec: Step, state: CustomerState, policy: Policy
) -> tuple[tuple[Channel, ...], list[tuple[Channel, Reason]]]:
    eligible: list[Channel] = []
    refused: list[tuple[Channel, Reason]] = []
    for channel in spec.channels:
        reason = _channel_refusal(channel, spec.purpose, state)
        if reason is None and channel is Channel.SMS and _timed_sms(spec) and not is_zone(state.timezone):
            reason = Reason.INVALID_TIMEZONE  # no clock to keep its hours by: a recorded skip, never a guess
        if reason is None and spec.is_marketing:
            reason = _missing_legal_details(channel, jurisdiction_of_state(state), policy)
        if reason is None:
            eligible.append(channel)
            if not spec.fan_out:
                break
        elif not (channel is Channel.SMS and not state.has_phone):
            refused.append((channel, reason))
    return tuple(eligible), refused


def _timed_sms(spec: Step) -> bool:
    """An SMS that keeps the customer's hours: marketing (quiet hours) and non-urgent transactional ones."""
    return spec.is_marketing or not spec.urgent


def jurisdiction_of_state(state: CustomerState) -> Jurisdiction:
    """The rules of the customer's country and state (aftercare/domain/jurisdictions.py)."""
    return jurisdiction_of(state.region, state.subdivision)


_MISSING = {Must.POSTAL_ADDRESS: Reason.NO_POSTAL_ADDRESS, Must.SENDER_CONTACT: Reason.NO_SENDER_CONTACT,
            Must.OPT_OUT_NUMBER: Reason.NO_OPT_OUT_NUMBER}


def _missing_legal_details(channel: Channel, jurisdiction: Jurisdiction, policy: Policy) -> Reason | None:
    """An advertising message the customer's law requires details in that the store has not configured
    (its postal address, its contact, a free opt-out number): not sent, and the reason says which."""
    for must in sorted(jurisdiction.must(channel.value) - policy.legal_details):
        if must in _MISSING:
            return _MISSING[must]
    return None


def _transactional_sms_opens(state: CustomerState, now: datetime, policy: Policy) -> datetime | None:
    """When a non-urgent transactional SMS may go: None now, else the next local opening."""
    return next_allowed_local_time(now, state.timezone, policy.transactional_sms_start, policy.transactional_sms_end)


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


def _marketing_timing(channels: tuple[Channel, ...], state: CustomerState, now: datetime,
                      policy: Policy) -> Defer | None:
    """The frequency cap (the store's, then the customer's law's per 24 hours) and, for SMS, the quiet hours
    narrowed to the law's hours (TCPA 8-21, Florida 8-20, Korea 8-21 without night-time consent)."""
    law = jurisdiction_of_state(state)
    window_start = now - policy.frequency_cap
    recent = sorted(t for t in state.recent_marketing_sends if t > window_start)
    if len(recent) >= policy.frequency_cap_messages:
        return Defer(recent[-policy.frequency_cap_messages] + policy.frequency_cap, Reason.FREQUENCY_CAP)
    law_cap = law.max_marketing_per_day
    if law_cap is not None:
        day = sorted(t for t in state.recent_marketing_sends if t > now - timedelta(hours=24))
        if len(day) >= law_cap:
            return Defer(day[-law_cap] + timedelta(hours=24), Reason.FREQUENCY_CAP)
    if Channel.SMS in channels:
        start, end = policy.quiet_start, policy.quiet_end
        hours = law.sms_hours(night_consent=state.night_marketing_consent)
        if hours is not None:
            start, end = max(start, hours[0]), min(end, hours[1])
        opens = next_allowed_local_time(now, state.timezone, start, end)
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
