"""Reading Shopify's Admin REST API page by page: cursor pagination and 429 back-off, nothing else.

A page's next cursor is the `Link: <...>; rel="next"` URL (it carries `page_info`); the importer stores it as
its checkpoint and hands it back to continue. A 429 is waited out for its `Retry-After` and retried; any
other error status stops the import with the status (never the token) in the message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
RETRY_STATUSES = frozenset({429, 503})


class ShopifyApiError(RuntimeError):
    """The Admin API refused a request for good (or kept answering 429 past our retries)."""


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_url: str | None  # None: this was the last page


class ShopifyAdmin:
    def __init__(self, *, shop_domain: str, token: str, api_version: str, page_size: int = 250,
                 max_retries: int = 5, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = f"https://{shop_domain}/admin/api/{api_version}"
        self.page_size = page_size
        self.max_retries = max_retries
        self.sleep = sleep
        self.client = httpx.Client(transport=transport, timeout=30.0,
                                   headers={"X-Shopify-Access-Token": token, "Accept": "application/json"})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ShopifyAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def first_url(self, resource: str, since: datetime | None = None) -> str:
        """The first page of `customers` or `orders` (every status), updated since `since` if given."""
        params: dict[str, Any] = {"limit": self.page_size}
        if resource == "orders":
            params["status"] = "any"
        if since is not None:
            params["updated_at_min"] = since.astimezone(UTC).isoformat()
        return str(httpx.URL(f"{self.base}/{resource}.json", params=params))

    def page(self, resource: str, url: str) -> Page:
        response = self._get(url)
        records = [r for r in response.json().get(resource, []) if isinstance(r, dict)]
        match = _NEXT.search(response.headers.get("link", ""))
        return Page(records, match.group(1) if match else None)

    def count(self, resource: str, since: datetime | None = None) -> int | None:
        """How many records the import will read (for the progress bar); None if the shop will not say."""
        params: dict[str, Any] = {"status": "any"} if resource == "orders" else {}
        if since is not None:
            params["updated_at_min"] = since.astimezone(UTC).isoformat()
        try:
            value = self._get(str(httpx.URL(f"{self.base}/{resource}/count.json", params=params))).json()
        except (ShopifyApiError, ValueError):
            return None
        count = value.get("count") if isinstance(value, dict) else None
        return count if isinstance(count, int) else None

    def _get(self, url: str) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client.get(url)
            except httpx.TransportError as exc:
                raise ShopifyApiError(f"Shopify Admin API unreachable: {type(exc).__name__}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self.sleep(retry_after(response.headers.get("retry-after"), attempt))
                continue
            if response.is_success:
                return response
            raise ShopifyApiError(f"Shopify Admin API answered {response.status_code} for {httpx.URL(url).path}")
        raise AssertionError("unreachable")  # pragma: no cover


def retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait: Shopify's `Retry-After` (seconds, may be fractional), else 2 s doubling per attempt."""
    try:
        return max(0.0, float(header)) if header else 2.0 * 2**attempt
    except ValueError:
        return 2.0 * 2**attempt
