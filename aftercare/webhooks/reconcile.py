"""Re-reading recently updated orders from the Shopify Admin REST API (webhook delivery is not guaranteed).

Each order goes through the same inbox path as a webhook, keyed `reconcile:<order id>:<updated_at>`, so
re-reading an order that has not changed stores nothing, and applying is idempotent anyway.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from aftercare.bootstrap import Services
from aftercare.webhooks import inbox

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def fetch_updated_orders(
    *,
    shop_domain: str,
    token: str,
    since: datetime,
    api_version: str = "2026-01",
    transport: httpx.BaseTransport | None = None,
    page_limit: int = 50,
) -> list[dict[str, Any]]:
    """GET /admin/api/<version>/orders.json?updated_at_min=...&status=any, following `Link: rel="next"`."""
    url: str | None = f"https://{shop_domain}/admin/api/{api_version}/orders.json"
    params: dict[str, Any] | None = {
        "updated_at_min": since.astimezone(UTC).isoformat(),
        "status": "any",
        "limit": 250,
    }
    orders: list[dict[str, Any]] = []
    with httpx.Client(
        transport=transport,
        timeout=30.0,
        headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
    ) as client:
        for _ in range(page_limit):
            if url is None:
                break
            response = client.get(url, params=params)
            response.raise_for_status()
            orders.extend(o for o in response.json().get("orders", []) if isinstance(o, dict))
            match = _NEXT.search(response.headers.get("link", ""))
            url, params = (match.group(1), None) if match else (None, None)
    return orders


def store_orders(services: Services, orders: list[dict[str, Any]]) -> dict[str, int]:
    items = [
        {
            "source": "shopify",
            "dedup_key": f"reconcile:{o['id']}:{o.get('updated_at') or ''}",
            "topic": "orders/updated",
            "headers": {"x-aftercare-origin": "reconcile"},
            "body": json.dumps(o),
        }
        for o in orders
        if o.get("id") is not None
    ]
    notes = inbox.store_and_apply(services, items) if items else []
    return {
        "fetched": len(orders),
        "stored": sum(n != "duplicate" for n in notes),
        "unchanged": sum(n == "duplicate" for n in notes),
    }
