"""The demo store's life after delivery (issue 14): use cycles, stock, subscriptions, returns that become
exchanges, loyalty tier changes, reviews reported as store events, and referred friends who order.

Drawn from a random stream of its own (seeded from the demo's seed), so the draws that time orders, CSAT
answers, refunds and win-back returns, and with them the effects `aftercare lift` must recover, are the
same with or without these moments. The extra returns are returns of their own, on top of the planned
refunds, so exchanges never dilute the setup guide's effect on refunds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aftercare.services.commands import OrderIn, RefundIn, StoreEventIn

# Days one unit lasts: the consumables of the demo catalog (the replenishment reminder's use cycle).
USE_CYCLE_DAYS = {"sku-beans-house": 30, "sku-beans-single": 21, "sku-decaf": 30, "sku-filters": 60}
OUT_OF_STOCK = frozenset({"sku-tamper"})  # never cross-sold while out of stock
TIERS = (("member", 1), ("silver", 2), ("gold", 3))


@dataclass(frozen=True)
class MomentsConfig:
    subscriber_share: float = 0.08  # customers with a monthly beans subscription
    payment_failure_share: float = 0.10  # per renewal
    cancel_share: float = 0.15  # subscribers who cancel at some point
    tier_up_share: float = 0.12  # customers whose tier goes up after their order (a quarter of them twice)
    return_share: float = 0.05  # orders with a return of their own (beyond the planned refunds)
    exchange_share: float = 0.45  # of those offered an exchange: they take it, no refund follows
    referral_order_share: float = 0.15  # of customers invited to refer: a friend orders


@dataclass
class Moments:
    """Plans the extra events; `Simulation` applies them through `Ingest` like every other event."""

    seed: int
    config: MomentsConfig = field(default_factory=MomentsConfig)
    rng: random.Random = field(init=False)
    exchanged: set[str] = field(default_factory=set)  # orders whose return became an exchange
    offered: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"moments-{self.seed}")

    def after_order(self, customer_ext: str, order: OrderIn, delivered: datetime, first: bool,
                    end: datetime) -> list[tuple[datetime, str, tuple[Any, ...]]]:
        """Events that follow one order: tier changes, a subscription (first order), a return."""
        rng, out = self.rng, []
        if first and rng.random() < self.config.tier_up_share:
            at = delivered + timedelta(days=rng.randint(1, 20))
            out.append((at, "store", (self._tier_event(customer_ext, order, at, 0, 1),)))
            if rng.random() < 0.25:
                later = at + timedelta(days=rng.randint(10, 40))
                out.append((later, "store", (self._tier_event(customer_ext, order, later, 1, 2),)))
        if first and rng.random() < self.config.subscriber_share:
            out.extend(self._subscription(customer_ext, order, delivered, end))
        if rng.random() < self.config.return_share:
            started = delivered + timedelta(days=rng.randint(2, 10))
            product = order.items[-1].product_id
            out.append((started, "store", (StoreEventIn(
                "return.started", customer_ext, started, f"return-{order.external_id}", order.external_id,
                {"return": f"R-{order.external_id}", "products": [product]}),)))
            refund_at = started + timedelta(days=4)
            out.append((refund_at, "return_refund", (RefundIn(f"rr-{order.external_id}", order.external_id,
                                                             refund_at, (product,)),)))
        return out

    def _tier_event(self, customer_ext: str, order: OrderIn, at: datetime, old: int, new: int) -> StoreEventIn:
        (old_tier, old_rank), (new_tier, new_rank) = TIERS[old], TIERS[new]
        return StoreEventIn("loyalty.tier_changed", customer_ext, at, f"tier-{customer_ext}-{new_tier}",
                            None, {"old_tier": old_tier, "old_rank": old_rank, "new_tier": new_tier,
                                   "new_rank": new_rank})

    def _subscription(self, customer_ext: str, order: OrderIn, start: datetime,
                      end: datetime) -> list[tuple[datetime, str, tuple[Any, ...]]]:
        rng, out = self.rng, []
        sub = f"sub-{customer_ext}"
        cancel_at = start + timedelta(days=rng.randint(20, 120)) if rng.random() < self.config.cancel_share else None
        renews = start + timedelta(days=30)
        n = 0
        while renews < end and (cancel_at is None or renews < cancel_at):
            announced = renews - timedelta(days=7)
            out.append((announced, "store", (StoreEventIn(
                "subscription.renewal_upcoming", customer_ext, announced, f"{sub}-renewal-{n}", None,
                {"subscription": sub, "renews_at": renews.isoformat(), "product": "House Blend Beans 1kg"}),)))
            if rng.random() < self.config.payment_failure_share:
                out.append((renews + timedelta(hours=1), "store", (StoreEventIn(
                    "subscription.payment_failed", customer_ext, renews + timedelta(hours=1), f"{sub}-failed-{n}",
                    None, {"subscription": sub}),)))
            renews += timedelta(days=30)
            n += 1
        if cancel_at is not None:
            out.append((cancel_at, "store", (StoreEventIn("subscription.cancelled", customer_ext, cancel_at,
                                                          f"{sub}-cancelled", None, {"subscription": sub}),)))
        return out

    def react(self, step: str, customer_ext: str, order_ext: str,
              now: datetime) -> list[tuple[datetime, str, tuple[Any, ...]]]:
        """What a customer does after one of the new messages."""
        rng = self.rng
        if step == "exchange_offer" and rng.random() < self.config.exchange_share:
            self.exchanged.add(order_ext)  # they chose the exchange (or the credit): the refund is called off
        elif step == "referral_invite" and rng.random() < self.config.referral_order_share:
            at = now + timedelta(days=rng.randint(2, 14))
            return [(at, "store", (StoreEventIn("referral.ordered", customer_ext, at, f"referral-{customer_ext}",
                                                None, {"referred_order": f"friend-of-{customer_ext}"}),))]
        return []
