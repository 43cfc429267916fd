"""Replenishment, per item: a reminder a few days before a product runs out, so the next order comes first.

When it runs out: the catalog's use cycle (`products.use_cycle_days`, days one unit lasts) times the
quantity, from delivery; for a product without one, the store's own median reorder interval, once enough of
its customers have bought it more than once (`replenishment_min_repeat_buyers`; an interval from a handful of
buyers is noise). The step is scheduled at delivery and its first decision defers it to that moment, so
`aftercare explain` shows when it will go out and why. Skipped once the customer reordered the product,
returned it, or rated it 1-2 stars; and a reminder that would arrive long after the product ran out (a
sweep catching up) is stale and skipped.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Order, OrderItem, Product
from aftercare.domain.decisions import Decision, Defer, Skip
from aftercare.domain.view import StepView
from aftercare.journeys import events
from aftercare.journeys.facts import Fact, FactQuery, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, marketing, per_item, sms, step
from aftercare.settings import JourneyTimings

REPLENISHMENT = "restock_reminder"  # not "replenishment": a store may have written its own by that name
LOW_RATING = 2
# The step is scheduled at delivery and deferred to its moment: it expires this long after delivery (a product
# lasting longer is not a consumable). Staleness is the step's own check (`replenishment_late_days`).
HORIZON = timedelta(days=400)
MEDIANS_TTL = timedelta(days=1)  # reorder intervals move slowly: computed at most daily per product


@dataclass(frozen=True)
class Supply:
    """How long the batch's products last, and when this customer last ordered each product."""

    cycles: Mapping[str, float] = field(default_factory=dict)  # product -> days one unit lasts
    from_reorders: frozenset[str] = frozenset()  # products timed by the store's median reorder interval
    last_ordered: Mapping[str, datetime] = field(default_factory=dict)


class _Medians:
    """Per process, per database: each product's median reorder interval (None: too few repeat buyers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, int], tuple[datetime, float | None]] = {}

    def get(self, q: FactQuery, products: set[str], min_buyers: int) -> dict[str, float]:
        db = str(q.session.get_bind().url)
        fresh: dict[str, float | None] = {}
        with self._lock:
            for p in products:
                hit = self._cache.get((db, p, min_buyers))
                if hit is not None and q.now - hit[0] < MEDIANS_TTL:
                    fresh[p] = hit[1]
        missing = products - set(fresh)
        if missing:
            computed = median_reorder_days(q, missing, min_buyers)
            with self._lock:
                for p in missing:
                    self._cache[(db, p, min_buyers)] = (q.now, computed.get(p))
            fresh.update({p: computed.get(p) for p in missing})
        return {p: v for p, v in fresh.items() if v is not None}


_MEDIANS = _Medians()


def median_reorder_days(q: FactQuery, products: set[str], min_buyers: int) -> dict[str, float]:
    """For each product: the median of the days between one order of it and the same customer's next, over
    the store's non-cancelled orders, if at least `min_buyers` customers bought it more than once."""
    rows = q.session.execute(
        select(Order.customer_id, OrderItem.product_id, Order.placed_at)
        .join(Order, Order.id == OrderItem.order_id)
        .where(in_param(OrderItem.product_id, "pids", q.dialect), Order.status != "cancelled")
        .order_by(Order.customer_id, OrderItem.product_id, Order.placed_at), {"pids": sorted(products)})
    gaps: dict[str, list[float]] = defaultdict(list)
    buyers: dict[str, set[int]] = defaultdict(set)
    previous: dict[tuple[int, str], datetime] = {}
    for cid, pid, placed in rows:
        placed = as_utc(placed)
        before = previous.get((cid, pid))
        if before is not None and placed > before:
            gaps[pid].append((placed - before).total_seconds() / 86400)
            buyers[pid].add(cid)
        previous[(cid, pid)] = placed
    return {p: statistics.median(g) for p, g in gaps.items() if len(buyers[p]) >= min_buyers}


def supply(min_repeat_buyers: int) -> Fact:
    """The batch fact: use cycles of the batch's products, and each customer's latest order of each."""

    def load(q: FactQuery) -> Mapping[int, Supply]:
        if not q.customer_ids:
            return {}
        conn = q.session.connection()
        pids = set(conn.execute(select(OrderItem.product_id).where(
            in_param(OrderItem.order_id, "oids", q.dialect)), {"oids": list(q.order_ids)}).scalars())
        cycles: dict[str, float] = {}
        if pids:
            cycles = {pid: float(n) for pid, n in conn.execute(
                select(Product.id, Product.use_cycle_days).where(
                    in_param(Product.id, "pids", q.dialect), Product.use_cycle_days > 0), {"pids": sorted(pids)})}
        medians = _MEDIANS.get(q, pids - set(cycles), min_repeat_buyers) if min_repeat_buyers > 0 else {}
        last: dict[int, dict[str, datetime]] = defaultdict(dict)
        for cid, pid, placed in conn.execute(
                select(Order.customer_id, OrderItem.product_id, func.max(Order.placed_at))
                .join(Order, Order.id == OrderItem.order_id)
                .where(in_param(Order.customer_id, "cids", q.dialect), Order.status != "cancelled")
                .group_by(Order.customer_id, OrderItem.product_id), {"cids": list(q.customer_ids)}):
            last[cid][pid] = _utc(placed)
        every = {**medians, **cycles}
        return {cid: Supply(every, frozenset(medians), last.get(cid, {})) for cid in q.customer_ids}

    return fact("supply", load, default=Supply())


def runs_out_at(view: StepView, lead: timedelta) -> datetime | None:
    """When to remind: delivery + the use cycle times the quantity, minus the lead (None: no cycle known)."""
    item, delivered = view.item, view.order.delivered_at
    cycle = view.facts.supply.cycles.get(item.product_id) if item is not None else None
    if item is None or delivered is None or cycle is None:
        return None
    return delivered + timedelta(days=cycle * max(item.quantity, 1)) - lead


def _gate(t: JourneyTimings) -> Any:
    lead, late = days(t.replenishment_lead_days), days(t.replenishment_late_days)

    def gate(view: StepView, now: datetime) -> Decision | None:
        item = view.item
        if item is None or item.returned or item.product_id in view.order.returned_product_ids:
            return Skip("replenishment.returned")
        stars = view.state.reviews.get(item.product_id)
        if stars is not None and stars <= LOW_RATING:
            return Skip("replenishment.rated_low")
        last = view.facts.supply.last_ordered.get(item.product_id)
        if last is not None and last > view.order.placed_at:
            return Skip("replenishment.reordered")
        due = runs_out_at(view, lead)
        if due is None:
            return Skip("replenishment.no_use_cycle")
        if now < due:
            return Defer(due, "replenishment.not_yet")
        if now > due + lead + late:
            return Skip("replenishment.too_late")
        return None

    return gate


def _timing(view: StepView, now: datetime) -> dict[str, Any]:
    item = view.item
    source = "reorders" if item is not None and item.product_id in view.facts.supply.from_reorders else "catalog"
    return {"cycle_source": source}


def _reorder_link(msg: MessageView) -> dict[str, Any]:
    return {"reorder_url": next((i.url for i in msg.items if i.url), None)}


def replenishment(t: JourneyTimings) -> Step | None:
    if not t.restock_reminder_enabled:
        return None
    return step(REPLENISHMENT, marketing, channels=(email, sms), scope=per_item, on=events.DELIVERED,
                sample=_SAMPLE_REPLENISHMENT,
                check=_gate(t), needs=(supply(t.replenishment_min_repeat_buyers),), data=_timing,
                template_data=_reorder_link, expires=HORIZON, sms_segments=3, promotional=True, decides_own_time=True,
                purpose_text="a few days before a product runs out (use cycle, else the median reorder interval)")


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # aggregates lose the column type on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return as_utc(value)


STEPS = (replenishment,)


# What each step's template data gives a real message, for `aftercare preview`.
_SAMPLE_REPLENISHMENT = {"reorder_url": "https://example.com/p/sku-beans", "cycle_source": "catalog"}
