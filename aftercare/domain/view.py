"""What a step's own condition sees: one due step of one customer, with the batch's facts, at one moment.

A `StepView` is built by the engine for every due step and handed to the step's checks, its item choice
and its data function. It is frozen and holds plain values only, so those functions stay pure: a table
test builds one with `tests.builders.a_view(...)` and calls them directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aftercare.domain.state import CustomerState, ItemState, OrderState

if TYPE_CHECKING:
    from aftercare.domain.decisions import Policy


class Facts(Mapping[str, Any]):
    """The batch facts a step asked for (`needs=`), this customer's values; `facts.name` or `facts["name"]`."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no fact {name!r} loaded: declare it in the step's needs=") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class StepView:
    state: CustomerState
    policy: Policy
    first_due_at: datetime
    due_at: datetime
    expires: timedelta | None = None
    occurrence: str = ""
    item: ItemState | None = None  # per-item steps: the item this occurrence is about
    payload: Mapping[str, Any] = field(default_factory=dict)  # the triggering store event's data
    # The facts this step declared (`needs=`); None: every fact in the state (a table test's view). The batch
    # loads only what its steps declared, so a step reading another step's fact would work in some batches
    # and fail in others: it is given its own, always.
    fact_names: frozenset[str] | None = None

    @property
    def order(self) -> OrderState:
        return self.state.order

    @property
    def facts(self) -> Facts:
        if self.fact_names is None:
            return Facts(self.state.facts)
        return Facts({name: value for name, value in self.state.facts.items() if name in self.fact_names})

    @property
    def customer_id(self) -> int:
        return self.state.customer_id

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires is None else self.first_due_at + self.expires
