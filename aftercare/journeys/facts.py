"""Batch facts: data a step's condition needs that the engine does not load by itself.

A `Fact` is a loader run once per sweep batch, in bulk, for all the batch's customers (never per step);
its result is keyed by customer id, and each step that declared it in `needs=` reads its customer's value
as `view.facts.<name>`. A new condition adds a fact next to its step, not a field through four layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from aftercare.journeys.journey import Journey


@dataclass(frozen=True)
class FactQuery:
    """What a loader gets: the batch's session, customers and orders, now, and the cap window's start."""

    session: Session
    customer_ids: Sequence[int]
    order_ids: Sequence[int]
    now: datetime
    since: datetime  # now minus the frequency cap
    journey: Journey  # to find steps by tag (`journey.tagged(...)`)

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


@dataclass(frozen=True)
class SentInBatch:
    """A send decided earlier in the same batch, for a fact that must see it (`on_send`)."""

    order_id: int
    step: str
    occurrence: str
    at: datetime


@dataclass(frozen=True)
class Fact:
    name: str
    load: Callable[[FactQuery], Mapping[int, Any]]  # customer id -> value, for the batch's customers
    default: Any = None  # the value for a customer the loader returned nothing for
    # A fact about what was sent (`sent_delay_notices`) is loaded once per batch; `on_send(value, sent)` returns
    # the customer's value after a step that needs it is decided Send, so later steps of the batch see it.
    on_send: Callable[[Any, SentInBatch], Any] | None = None


def fact(name: str, load: Callable[[FactQuery], Mapping[int, Any]], *, default: Any = None,
         on_send: Callable[[Any, SentInBatch], Any] | None = None) -> Fact:
    """Declare a batch fact: `needs=(fact("reordered", load_reordered, default=frozenset()),)`."""
    if not name.isidentifier():
        raise ValueError(f"a fact name must be an identifier; got {name!r}")
    return Fact(name, load, default, on_send)
