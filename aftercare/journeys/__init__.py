"""Journeys as code: a step is one unit a store adds, changes or removes without forking the engine.

```python
from aftercare.journeys import Journey, step, marketing, per_item, days, default_steps, on

replenishment = step("replenishment", marketing, channels=("email", "sms"), scope=per_item,
                     on=on("delivered", due=lambda ev: ev.at + days(30)), expires=days(14),
                     unless=lambda v, now: "skincare.reordered" if ... else None, templates="skincare/templates")
journey = Journey("skincare", [*default_steps(except_=("points_expiry_7",)), replenishment])
```
Select it with `AFTERCARE_JOURNEY=package.module:journey`. See docs/journeys.md.
"""

from __future__ import annotations

from aftercare.domain.decisions import Defer, Policy, Send, Skip, Wait
from aftercare.domain.state import CustomerState, ItemState, OrderState
from aftercare.domain.view import Facts, StepView
from aftercare.domain.vocabulary import Channel, Purpose, Reason, Scope
from aftercare.journeys import conditions, events
from aftercare.journeys.default import default_journey, default_steps
from aftercare.journeys.events import Event
from aftercare.journeys.facts import Fact, FactQuery, fact
from aftercare.journeys.journey import Journey
from aftercare.journeys.loading import ENTRY_POINT_GROUP, JourneyNotFound, load_journey
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import (
    Cancel,
    On,
    Step,
    days,
    email,
    hours,
    marketing,
    on,
    per_customer,
    per_item,
    per_order,
    sms,
    step,
    transactional,
)
from aftercare.journeys.store_events import StoreEvent, send_event
from aftercare.settings import JourneyTimings as Timings

__all__ = [
    "ENTRY_POINT_GROUP", "Cancel", "Channel", "CustomerState", "Defer", "Event", "Fact", "FactQuery", "Facts",
    "ItemState", "Journey", "JourneyNotFound", "MessageView", "On", "OrderState", "Policy", "Purpose", "Reason",
    "Scope", "Send", "Skip", "Step", "StepView", "StoreEvent", "Timings", "Wait", "conditions", "days",
    "default_journey", "default_steps", "email", "events", "fact", "hours", "load_journey", "marketing", "on",
    "per_customer",
    "per_item", "per_order", "send_event", "sms", "step", "transactional",
]
