"""Re-read recently updated Shopify orders through the inbox, when the Admin API is configured."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from aftercare.bootstrap import get_services
from aftercare.webhooks import reconcile


@task(name="reconcile-shopify-orders", retries=2, retry_delay_seconds=30, cache_policy=NO_CACHE)
def reconcile_recent(lookback_hours: float) -> dict[str, int]:
    services = get_services()
    settings = services.settings
    assert settings.shopify_shop_domain and settings.shopify_admin_token
    orders = reconcile.fetch_updated_orders(
        shop_domain=settings.shopify_shop_domain,
        token=settings.shopify_admin_token.get_secret_value(),
        since=services.clock.now() - timedelta(hours=lookback_hours),
        api_version=settings.shopify_api_version,
    )
    return reconcile.store_orders(services, orders)


@flow(name="reconcile-shopify-orders", log_prints=False)
def reconcile_orders(lookback_hours: float = 24.0) -> dict[str, Any]:
    logger = get_run_logger()
    settings = get_services().settings
    if not (settings.shopify_shop_domain and settings.shopify_admin_token):
        logger.info("Shopify Admin API not configured (shop domain and admin token): reconciliation skipped")
        return {"skipped": True}
    result = reconcile_recent(lookback_hours)
    logger.info("reconciled orders: %s", result)
    return {"skipped": False, **result}
