"""A skincare store's journey: the built-in one, changed in three ways, through the public API only.

- **removed**: the second points reminder (`points_expiry_7`); one reminder a month ahead is enough here.
- **changed**: the setup guide goes out 3 days after delivery (skin needs a few days with a device first),
  for devices only; an order without a device gets none (`skincare.no_device`). The CSAT survey moves
  to 5 days (a timing, `AFTERCARE_JOURNEY_CSAT_DAYS` or `Timings(csat_days=5)`), so the frequency cap
  does not hold the guide back behind it.
- **added**: (a) a replenishment reminder per product, one use cycle after delivery, skipped once the
  customer has reordered that product (`skincare.reordered`); (b) a notice per new loyalty tier, when the
  store says the tier went up (its own event `loyalty.tier_changed`), once per tier.

Run it with `AFTERCARE_JOURNEY=skincare_journey:journey` (this folder on the Python path).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, text

from aftercare.journeys import (
    Event,
    FactQuery,
    Journey,
    StepView,
    Timings,
    conditions,
    days,
    default_steps,
    email,
    events,
    fact,
    marketing,
    per_customer,
    per_item,
    sms,
    step,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
USE_CYCLE_DAYS = {"serum": 30, "cleanser": 45, "moisturizer": 60}  # by product category; devices have none
DEVICE = "device"


# (a) Replenishment ------------------------------------------------------------------------------------
def _one_cycle_after_delivery(ev: Event) -> datetime | None:
    cycle = USE_CYCLE_DAYS.get(ev.item.category) if ev.item is not None else None
    return None if cycle is None else ev.at + days(cycle)


_LAST_ORDERED_SQL = text(
    "SELECT o.customer_id, i.product_id, MAX(o.placed_at) FROM orders o JOIN order_items i ON i.order_id = o.id "
    "WHERE o.status != 'cancelled' AND o.customer_id IN :cids GROUP BY o.customer_id, i.product_id"
).bindparams(bindparam("cids", expanding=True))


def _last_ordered(q: FactQuery) -> Mapping[int, dict[str, datetime]]:
    """Per customer: when each product was last ordered (one query for the whole sweep batch)."""
    if not q.customer_ids:
        return {}
    rows = q.session.execute(_LAST_ORDERED_SQL, {"cids": list(q.customer_ids)})
    out: dict[int, dict[str, datetime]] = {}
    for customer_id, product_id, placed in rows:
        out.setdefault(customer_id, {})[product_id] = _aware(placed)
    return out


LAST_ORDERED = fact("last_ordered", _last_ordered, default={})


def _reordered(v: StepView, now: datetime) -> str | None:
    last = v.facts.last_ordered.get(v.item.product_id) if v.item is not None else None
    return "skincare.reordered" if last is not None and last > v.order.placed_at else None


replenishment = step(
    "replenishment", marketing, channels=(email, sms), scope=per_item,
    on=events.DELIVERED, due=_one_cycle_after_delivery,
    needs=(LAST_ORDERED,), unless=_reordered, expires=days(14), sms_segments=2, templates=TEMPLATES,
    purpose_text="time to restock a product, one use cycle after it arrived",
)


# (b) Tier-up notice -----------------------------------------------------------------------------------
def _rank_went_up(ev: Event) -> bool:
    return int(ev.data.get("new_rank", 0)) > int(ev.data.get("old_rank", 0))


tier_up = step(
    "tier_up", marketing, channels=(email, sms), scope=per_customer,
    on="loyalty.tier_changed", when=_rank_went_up, repeat_key=lambda ev: ev.new_tier,
    expires=days(7), sms_segments=2, templates=TEMPLATES,
    purpose_text="the customer reached a higher loyalty tier",
)


# (c) The setup guide, 3 days after delivery, devices only ----------------------------------------------
def _devices(v: StepView) -> tuple[str, ...]:
    return tuple(i.product_id for i in v.order.items if i.category == DEVICE and not i.returned)


def _has_device(v: StepView, now: datetime) -> str | None:
    return None if _devices(v) else "skincare.no_device"


device_setup_guide = step(
    "setup_guide", marketing, channels=(email,), on=events.DELIVERED, after=days(3),
    check=(conditions.delivered, conditions.kept_items), unless=_has_device, items=_devices,
    expires=days(7), cross_sell=True, purpose_text="how to set up and use the device",
)


journey = Journey("skincare", [
    # The built-in restock reminder and tier notice are left out: this store writes its own (a, b).
    *default_steps(Timings(csat_days=5),
                   except_=("points_expiry_7", "setup_guide", "restock_reminder", "tier_up_notice")),
    device_setup_guide, replenishment, tier_up,
])


def _aware(value: object) -> datetime:
    """SQLite hands an aggregate back as text, without the column's type: read it as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
