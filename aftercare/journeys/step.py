"""A step in one place: its name, purpose, channels, scope, triggers, condition, items, data, expiry, budget.

`step(...)` declares everything that belongs to one step. The engine (decisions, sweep, message context,
renderer, funnel, explain) applies the cross-cutting rules to every step without the step asking: consent
per channel and purpose, suppression, quiet hours, frequency cap, holdout, expiry, the exactly-once
ledger and the decision log. It never looks at a step's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aftercare.domain.decisions import Decision, Defer, Skip, Wait
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import Channel, Purpose, Scope
from aftercare.journeys.events import Event
from aftercare.journeys.facts import Fact

if TYPE_CHECKING:
    from aftercare.journeys.message import MessageView

transactional = Purpose.TRANSACTIONAL
marketing = Purpose.MARKETING
per_order = Scope.ORDER
per_customer = Scope.CUSTOMER
per_item = Scope.ITEM
email, sms = Channel.EMAIL, Channel.SMS

# A step's own condition: nothing (go on), or a Skip / Wait / Defer with a reason. `unless=` functions
# may return a plain reason string instead, read as a Skip with that reason.
Check = Callable[[StepView, datetime], "Decision | str | None"]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@dataclass(frozen=True)
class On:
    """A trigger: the event that schedules the step, and when it falls due after it.

    `after` is a fixed offset from the event's time; `due`, if given, computes the due time from the event
    (None: not scheduled by this event). `when` filters events (only when the tier rank goes up).
    """

    event: str
    after: timedelta = timedelta(0)
    due: Callable[[Event], datetime | None] | None = None
    when: Callable[[Event], bool] | None = None

    def due_at(self, event: Event) -> datetime | None:
        if self.when is not None and not self.when(event):
            return None
        return self.due(event) if self.due is not None else event.at + self.after


def on(event: str, after: timedelta = timedelta(0), *, due: Callable[[Event], datetime | None] | None = None,
       when: Callable[[Event], bool] | None = None) -> On:
    return On(event, after, due, when)


@dataclass(frozen=True)
class Cancel:
    """An event that stops the step's open occurrences at once (a new order stops win-back)."""

    event: str
    reason: str
    other_orders_only: bool = True  # the new order's own journey keeps its steps


@dataclass(frozen=True)
class Step:
    name: str
    purpose: Purpose
    channels: tuple[Channel, ...]  # in order of preference, or every eligible one with fan_out
    triggers: tuple[On, ...]
    fan_out: bool = False
    scope: Scope = Scope.ORDER
    repeat: bool = False  # a new occurrence key makes a new occurrence (per-customer tier-up notices)
    occurrence: Callable[[Event], str] | None = None
    cancel_on: tuple[Cancel, ...] = ()
    checks: tuple[Check, ...] = ()
    for_cancelled_orders: bool = False  # the engine stops order steps of a cancelled order, except these
    items: Callable[[StepView], tuple[str, ...]] | None = None
    data: Callable[[StepView, datetime], Mapping[str, Any]] | None = None
    template_data: Callable[[MessageView], Mapping[str, Any]] | None = None
    needs: tuple[Fact, ...] = ()
    expires: timedelta | None = None
    sms_segments: int | None = None
    templates: Path | None = None
    cross_sell: bool = False
    backfill: bool = False  # the daily scan creates it for customers whose newest order is delivered
    promotional: bool = False  # sells something: held (deferred) while the customer has an open recovery case
    to_support: bool = False  # goes to the store's support address, not to the customer (no consent applies)
    urgent: bool = False  # a transactional SMS that may not wait for the morning (a delay, a failed delivery)
    # Its due time only says when to look; its checks defer it to its real time (a restock reminder, to the
    # run-out date) and skip what is stale. A history import leaves a past-due occurrence to be decided
    # instead of recording it `backfilled`.
    decides_own_time: bool = False
    # What the step's `template_data` gives a real message, for `aftercare preview` (links, amounts): a
    # preview then shows the message as a customer gets it, buttons included.
    sample: Mapping[str, Any] | None = None
    tags: frozenset[str] = frozenset()
    purpose_text: str = ""

    @property
    def fact_names(self) -> frozenset[str]:
        """The names of the facts this step declared: the only ones its functions see."""
        return frozenset(f.name for f in self.needs)

    @property
    def is_marketing(self) -> bool:
        return self.purpose is Purpose.MARKETING

    def condition(self, view: StepView, now: datetime) -> Decision | None:
        """The step's own checks in order; the first that says something decides."""
        for check in self.checks:
            result = check(view, now)
            if isinstance(result, str):
                return Skip(result)
            if result is not None:
                return result
        return None

    def items_of(self, view: StepView) -> tuple[str, ...]:
        if self.items is not None:
            return tuple(self.items(view))
        if view.item is not None:
            return (view.item.product_id,)
        return view.order.kept_product_ids

    def data_of(self, view: StepView, now: datetime) -> Mapping[str, Any]:
        return dict(self.data(view, now)) if self.data is not None else {}

    def occurrence_of(self, event: Event) -> str:
        """The occurrence key for `event`: '' for a step that happens once per scope."""
        parts = [event.item.product_id] if self.scope is Scope.ITEM and event.item is not None else []
        if self.repeat and self.occurrence is not None:
            parts.append(str(self.occurrence(event)))
        key = ":".join(parts)
        if len(key) > 64:
            raise ValueError(f"occurrence key of {self.name!r} is longer than 64 characters: {key!r}")
        return key


def step(
    name: str,
    purpose: Purpose,
    *,
    channels: Iterable[Channel | str] = (Channel.EMAIL,),
    fan_out: bool = False,
    scope: Scope = Scope.ORDER,
    on: str | On | Iterable[str | On] = (),
    after: timedelta = timedelta(0),
    due: Callable[[Event], datetime | None] | None = None,
    when: Callable[[Event], bool] | None = None,
    repeat_key: Callable[[Event], Any] | None = None,
    cancelled_by: Iterable[Cancel] = (),
    check: Check | Iterable[Check] = (),
    unless: Check | Iterable[Check] = (),
    for_cancelled_orders: bool = False,
    items: Callable[[StepView], tuple[str, ...]] | None = None,
    data: Callable[[StepView, datetime], Mapping[str, Any]] | None = None,
    template_data: Callable[[MessageView], Mapping[str, Any]] | None = None,
    needs: Iterable[Fact] = (),
    expires: timedelta | None = timedelta(days=7),
    sms_segments: int | None = None,
    templates: str | Path | None = None,
    cross_sell: bool = False,
    backfill: bool = False,
    promotional: bool = False,
    to_support: bool = False,
    urgent: bool = False,
    decides_own_time: bool = False,
    sample: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    purpose_text: str = "",
) -> Step:
    """Declare one step. `on` names events (or `on(...)` triggers); `after`/`due`/`when` apply to plain names.

    `check` functions return None or a Skip / Wait / Defer; `unless` functions return None or a reason
    string (a skip). Both run in the order given, checks first. `repeat_key` makes the step repeat, one
    occurrence per key (the new tier). `templates` is the store's folder of `<locale>/<name>.email.html` and
    `<locale>/<name>.sms.txt`, looked up before the package's. A transactional SMS waits for the
    customer's morning (AFTERCARE_TRANSACTIONAL_SMS_START_HOUR) unless the step is `urgent`. A step that
    `decides_own_time` (its checks defer it to when it is really due) is decided, not backfilled, by an import
    that finds it past due. Every step
    expires (default 7 days after its first due time; None: never): a sweep catching up after an outage sends
    nothing stale.
    """
    triggers = [on] if isinstance(on, str | On) else list(on)
    built = tuple(t if isinstance(t, On) else On(t, after, due, when) for t in triggers)
    if not built:
        raise ValueError(f"step {name!r} needs at least one trigger (on=...)")
    chans = tuple(Channel(c) for c in channels)
    if not chans:
        raise ValueError(f"step {name!r} needs at least one channel")
    if not name or len(name) > 32 or not all(ch.isalnum() or ch in "_." for ch in name):
        raise ValueError(f"step name {name!r}: 1-32 characters, letters, digits, '_' or '.'")
    return Step(
        name=name, purpose=Purpose(purpose), channels=chans, triggers=built, fan_out=fan_out, scope=Scope(scope),
        repeat=repeat_key is not None, occurrence=repeat_key, cancel_on=tuple(cancelled_by),
        checks=(*_as_tuple(check), *_as_tuple(unless)), for_cancelled_orders=for_cancelled_orders, items=items,
        data=data, template_data=template_data, needs=tuple(needs), expires=expires, sms_segments=sms_segments,
        templates=Path(templates) if templates is not None else None, cross_sell=cross_sell, backfill=backfill,
        tags=frozenset(tags), purpose_text=purpose_text, promotional=promotional, to_support=to_support,
        urgent=urgent, decides_own_time=decides_own_time, sample=sample,
    )


def _as_tuple(checks: Check | Iterable[Check]) -> tuple[Check, ...]:
    return (checks,) if callable(checks) else tuple(checks)


__all__ = ["Cancel", "Check", "Defer", "On", "Skip", "Step", "Wait", "days", "hours", "on", "step"]
