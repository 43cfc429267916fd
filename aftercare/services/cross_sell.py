"""Cross-sell for the setup guide and win-back: products often bought with what the customer bought.

Where the numbers come from: the store's own orders. Two products are "bought together" when they are kept
(not returned) in the same non-cancelled order; the co-purchase counts come from one aggregate query.

Why an in-process cache refreshed daily rather than a query per batch or a new table: the counts are
store-wide and move slowly (a day's orders barely change them), but the self-join over all order items
grows with the store's whole history, so running it for every sweep batch would make the sweep's cost grow
with history instead of with due work. A table would need a migration and a refresh job for the same
freshness. So the counts are computed at most once per `refresh_after` (default one day) per process.

What must be fresh is per customer: what they already own (any product they ever ordered, returned ones
included: those are "returned", and excluded too), what they rated 1-2 stars, and the categories of items
they returned lately (`returned_category_window`: a customer who just sent a kettle back is not pitched
another kettle); and what is out of stock now (`products.in_stock` false). That is three queries per sweep
batch for all the batch's customers (reviews come with the batch already), cached for that batch.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.orm import Session, aliased

from aftercare.db.models import Order, OrderItem, Product, ReturnItem
from aftercare.db.types import UTCDateTime
from aftercare.rendering.context import ProductView
from aftercare.services.batch_state import BatchState

LOW_RATING = 2  # 1-2 stars: never recommend it back to them


@dataclass(frozen=True)
class CoPurchases:
    counts: dict[str, dict[str, int]]  # product -> other product -> orders with both kept
    products: dict[str, ProductView]  # products that have a page to link to
    computed_at: datetime
    categories: dict[str, str] = field(default_factory=dict)  # product -> its catalog category


def load_co_purchases(session: Session, now: datetime) -> CoPurchases:
    """Co-purchase counts over every non-cancelled order, leaving out returned lines: two queries."""
    a, b = aliased(OrderItem), aliased(OrderItem)

    def kept(item: type[OrderItem]) -> object:
        return ~exists().where(
            ReturnItem.order_id == item.order_id, ReturnItem.product_id.in_([item.product_id, "*"])
        )

    rows = session.execute(
        select(a.product_id, b.product_id, func.count(func.distinct(a.order_id)))
        .join(b, and_(a.order_id == b.order_id, a.product_id != b.product_id))
        .join(Order, Order.id == a.order_id)
        .where(Order.status != "cancelled", kept(a), kept(b))  # type: ignore[arg-type]
        .group_by(a.product_id, b.product_id)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for left, right, n in rows:
        counts[left][right] = int(n)
    catalog = session.execute(select(Product.id, Product.title, Product.url, Product.category)).all()
    products = {p.id: ProductView(p.id, p.title, p.url) for p in catalog if p.url}
    return CoPurchases(dict(counts), products, now, {p.id: p.category for p in catalog})


def recommend(
    anchors: tuple[str, ...], excluded: set[str], co: CoPurchases, limit: int = 3,
    excluded_categories: frozenset[str] = frozenset(),
) -> tuple[ProductView, ...]:
    """Pure: rank products by how often they were bought with the anchors; ties by product id. Never an
    excluded product (owned, returned, rated 1-2, out of stock) nor one of an excluded category."""
    scores: dict[str, int] = defaultdict(int)
    for anchor in anchors:
        for other, n in co.counts.get(anchor, {}).items():
            if other not in excluded and other not in anchors and other in co.products \
                    and co.categories.get(other) not in excluded_categories:
                scores[other] += n
    ranked = sorted(scores, key=lambda p: (-scores[p], p))
    return tuple(co.products[p] for p in ranked[:limit])


@dataclass
class CrossSeller:
    """The Sweeper's `cross_sell` hook. Thread-safe; one instance per process (built in bootstrap)."""

    clock: Callable[[], datetime]
    refresh_after: timedelta = timedelta(days=1)
    limit: int = 3
    returned_category_window: timedelta = timedelta(days=30)
    _co: CoPurchases | None = field(default=None, init=False, repr=False)
    _batch: weakref.ref[BatchState] | None = field(default=None, init=False, repr=False)
    _owned: dict[int, set[str]] = field(default_factory=dict, init=False, repr=False)
    _returned_categories: dict[int, set[str]] = field(default_factory=dict, init=False, repr=False)
    _out_of_stock: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(
        self, session: Session, batch: BatchState, customer_id: int, order_id: int
    ) -> tuple[ProductView, ...]:
        co = self._co_purchases(session)
        owned = self._owned_for(session, batch)
        returned = batch.returned.get(order_id, set())
        anchors = tuple(
            dict.fromkeys(
                i.product_id
                for i in batch.items.get(order_id, ())
                if i.product_id not in returned and "*" not in returned
            )
        )
        low = {p for p, stars in batch.reviews.get(customer_id, {}).items() if stars <= LOW_RATING}
        with self._lock:
            gone, categories = set(self._out_of_stock), frozenset(self._returned_categories.get(customer_id, ()))
        return recommend(anchors, owned.get(customer_id, set()) | low | gone, co, self.limit, categories)

    def _co_purchases(self, session: Session) -> CoPurchases:
        now = self.clock()
        with self._lock:
            if self._co is None or now - self._co.computed_at >= self.refresh_after:
                self._co = load_co_purchases(session, now)
            return self._co

    def _owned_for(self, session: Session, batch: BatchState) -> dict[int, set[str]]:
        """Every product each of the batch's customers ever ordered: one query per batch."""
        with self._lock:
            if self._batch is not None and self._batch() is batch:
                return self._owned
            owned: dict[int, set[str]] = defaultdict(set)
            cids = sorted(batch.customers)
            for cid, pid in session.execute(
                select(Order.customer_id, OrderItem.product_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.customer_id.in_(cids))
            ):
                owned[cid].add(pid)
            returned: dict[int, set[str]] = defaultdict(set)
            for cid, category in session.execute(
                select(Order.customer_id, OrderItem.category)
                .select_from(ReturnItem)
                .join(Order, Order.id == ReturnItem.order_id)
                .join(OrderItem, and_(OrderItem.order_id == ReturnItem.order_id,
                                      ReturnItem.product_id.in_([OrderItem.product_id, "*"])))
                .where(Order.customer_id.in_(cids),
                       ReturnItem.created_at > bindparam("since", type_=UTCDateTime())),
                {"since": self.clock() - self.returned_category_window},
            ):
                returned[cid].add(category)
            gone = set(session.scalars(select(Product.id).where(Product.in_stock.is_(False))))
            self._batch, self._owned = weakref.ref(batch), owned
            self._returned_categories, self._out_of_stock = returned, gone
            return owned
