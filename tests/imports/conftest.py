"""Fixtures for history imports: Shopify's sample order spread over months, served by a fake Admin API."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pytest

from aftercare.bootstrap import Services
from aftercare.imports.runs import ImportSummary
from aftercare.imports.shopify import import_shopify
from aftercare.imports.shopify_api import ShopifyAdmin
from benchmarks.fake_shopify import SHOP, FakeShopifyAdmin, historical_orders, sample_order
from tests.conftest import skip_or_fail


@pytest.fixture(scope="session")
def shopify_sample() -> dict[str, Any]:
    folder = os.environ.get("AFTERCARE_SAMPLE_PAYLOADS")
    if not folder:
        skip_or_fail("AFTERCARE_SAMPLE_PAYLOADS is not set (CI sets it to ../shared/payloads)")
    return sample_order(folder)


def history(sample: dict[str, Any], now: datetime, count: int, customers: int | None = None,
            **kwargs: Any) -> FakeShopifyAdmin:
    orders = historical_orders(sample, count=count, now=now, customers=customers)
    return FakeShopifyAdmin.from_orders(orders, **kwargs)


def run_import(services: Services, shop: FakeShopifyAdmin, since: datetime, *, page_size: int = 50,
               sleeps: list[float] | None = None) -> ImportSummary:
    waits = sleeps if sleeps is not None else []
    with ShopifyAdmin(shop_domain=SHOP, token="shpat_test", api_version=shop.api_version, page_size=page_size,
                      transport=shop.transport, sleep=waits.append) as admin:
        return import_shopify(services, admin, since=since, shop=SHOP)
