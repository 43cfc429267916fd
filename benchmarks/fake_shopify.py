"""A fake Shopify Admin REST API for imports: history made from Shopify's own sample order, served by an
`httpx.MockTransport` with cursor pagination (`Link: rel="next"`, `page_info`), count endpoints and
optional 429s and failures.

`historical_orders` spreads `count` orders evenly over the last `days` days before `now`: the older ones
fulfilled and delivered (some refunded, some cancelled), the newest ones not yet shipped. Every customer
gave email marketing consent (at Shopify's own time), every second one SMS too, so a test sees the
in-window marketing steps sent and the past ones never.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SHOP = "history-shop.myshopify.com"


def sample_order(folder: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Shopify's own REST order example (AFTERCARE_SAMPLE_PAYLOADS/shopify/orders_create.json)."""
    where = folder or os.environ.get("AFTERCARE_SAMPLE_PAYLOADS")
    if not where:
        raise SystemExit("set AFTERCARE_SAMPLE_PAYLOADS to the shared payloads folder (../shared/payloads)")
    root = Path(where)
    return json.loads((root / "shopify" / "orders_create.json").read_text())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def historical_orders(sample: dict[str, Any], *, count: int, now: datetime, days: float = 300,
                      customers: int | None = None) -> list[dict[str, Any]]:
    customers = customers or max(1, count * 2 // 3)
    orders = []
    for i in range(count):
        placed = now - timedelta(days=days * (count - i - 0.5) / count)
        c = i % customers
        order = copy.deepcopy(sample)
        order.update(id=5_000_000 + i, name=f"#{2000 + i}", order_number=2000 + i, number=1000 + i,
                     created_at=_iso(placed), processed_at=_iso(placed), email=f"buyer{c}@example.com",
                     contact_email=f"buyer{c}@example.com", customer_locale="en", cancelled_at=None,
                     cancel_reason=None, fulfillments=[], refunds=[])
        order["customer"] = customer_record(sample, c, since=now - timedelta(days=days + 30))
        updated = placed
        age = now - placed
        if i % 25 == 7:  # cancelled two hours after it was placed
            order["cancelled_at"] = _iso(placed + timedelta(hours=2))
            updated = placed + timedelta(hours=2)
        elif age > timedelta(days=2):
            shipped = placed + timedelta(days=1)
            delivered = placed + timedelta(days=4)
            fulfillment = copy.deepcopy(sample["fulfillments"][0])
            fulfillment.update(id=7_000_000 + i, order_id=order["id"], status="success", created_at=_iso(shipped),
                               name=f"#{2000 + i}.1")
            if now > delivered:
                fulfillment.update(shipment_status="delivered", updated_at=_iso(delivered))
                updated = delivered
            else:
                fulfillment.update(shipment_status="in_transit", updated_at=_iso(shipped))
                updated = shipped
            order["fulfillments"] = [fulfillment]
            refunded = placed + timedelta(days=10)
            if i % 10 == 3 and now > refunded:
                refund = copy.deepcopy(sample["refunds"][0])
                refund.update(id=8_000_000 + i, order_id=order["id"], created_at=_iso(refunded),
                              processed_at=_iso(refunded))
                order["refunds"] = [refund]
                updated = refunded
        order["updated_at"] = _iso(updated)
        orders.append(order)
    return orders


def customer_record(sample: dict[str, Any], n: int, *, since: datetime) -> dict[str, Any]:
    customer = copy.deepcopy(sample["customer"])
    consented = _iso(since + timedelta(hours=n))
    customer.update(id=9_000_000 + n, email=f"buyer{n}@example.com", phone=f"+1613612{n:04d}",
                    first_name=f"Buyer{n}", created_at=consented, updated_at=consented)
    customer["email_marketing_consent"] = {"state": "subscribed", "opt_in_level": "single_opt_in",
                                           "consent_updated_at": consented}
    customer["sms_marketing_consent"] = {
        "state": "subscribed" if n % 2 == 0 else "not_subscribed", "opt_in_level": "single_opt_in",
        "consent_updated_at": consented if n % 2 == 0 else None, "consent_collected_from": "SHOPIFY"}
    return customer


@dataclass
class FakeShopifyAdmin:
    """Serves `customers.json`, `orders.json` (filtered by `updated_at_min`) and their `count.json`, `limit`
    records a page. Like Shopify, a `page_info` request may carry only `limit`. `fail` maps a request number
    (1-based, counted over every request) to a status to answer once; `throttle` does the same with 429s."""

    customers: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    api_version: str = "2026-01"
    fail: dict[int, int] = field(default_factory=dict)
    throttle: dict[int, float] = field(default_factory=dict)  # request number -> Retry-After seconds
    requests: list[httpx.Request] = field(default_factory=list)

    @classmethod
    def from_orders(cls, orders: list[dict[str, Any]], **kwargs: Any) -> FakeShopifyAdmin:
        customers = {o["customer"]["id"]: o["customer"] for o in orders}
        return cls(customers=list(customers.values()), orders=orders, **kwargs)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def paths(self) -> list[str]:
        return [f"{r.url.path}?{r.url.query.decode()}" if r.url.query else r.url.path for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        number = len(self.requests)
        if number in self.throttle:
            return httpx.Response(429, headers={"Retry-After": str(self.throttle[number])},
                                  json={"errors": "Exceeded 2 calls per second for api client."})
        if number in self.fail:
            return httpx.Response(self.fail[number], json={"errors": "Internal Server Error"})
        if request.headers.get("x-shopify-access-token") is None:
            return httpx.Response(401, json={"errors": "[API] Invalid API key or access token"})
        prefix = f"/admin/api/{self.api_version}/"
        resource = request.url.path.removeprefix(prefix)
        params = dict(request.url.params)
        if resource in ("customers/count.json", "orders/count.json"):
            return httpx.Response(200, json={"count": len(self._records(resource.split("/")[0], params))})
        if resource not in ("customers.json", "orders.json"):
            return httpx.Response(404, json={"errors": "Not Found"})
        name = resource.removesuffix(".json")
        limit = int(params.get("limit", 50))
        if "page_info" in params:
            if set(params) - {"page_info", "limit", "fields"}:
                return httpx.Response(400, json={"errors": "page_info: only limit and fields may be given"})
            start, filters = self._decode(params["page_info"])
        else:
            start, filters = 0, {k: v for k, v in params.items() if k in ("updated_at_min", "status")}
        records = self._records(name, filters)
        chunk = records[start:start + limit]
        headers = {}
        if start + limit < len(records):
            cursor = self._encode(start + limit, filters)
            headers["Link"] = f'<https://{SHOP}{prefix}{name}.json?limit={limit}&page_info={cursor}>; rel="next"'
        return httpx.Response(200, json={name: chunk}, headers=headers)

    def _records(self, name: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        records = self.customers if name == "customers" else self.orders
        since = filters.get("updated_at_min")
        if since:
            floor = datetime.fromisoformat(since.replace("Z", "+00:00"))
            records = [r for r in records
                       if datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) >= floor]
        return records

    @staticmethod
    def _encode(start: int, filters: dict[str, str]) -> str:
        return json.dumps({"s": start, **filters}, separators=(",", ":")).encode().hex()

    @staticmethod
    def _decode(cursor: str) -> tuple[int, dict[str, str]]:
        data = json.loads(bytes.fromhex(cursor))
        return int(data.pop("s")), data
