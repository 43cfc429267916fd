"""The product catalog, filled by Shopify itself: product webhooks and an Admin API import.

What the setup guide, reviews and cross-sell read about a product (title, type as category, image, setup
instructions and video per locale, use cycle in days, review URL) comes from the product and its metafields
in one namespace (`catalog_metafield_namespace`); which key fills which field is a setting
(`catalog_metafield_keys`), and a key suffixed `_<locale>` is that locale's text (`setup_instructions_ko`).

A body older than what we hold (by the platform's `updated_at`) changes nothing, so a replayed or late
`products/update` never undoes a newer one. A deleted product is marked, not removed: orders still name it.
`map_product` is pure; `upsert` takes the caller's session; `import_all` pages through the Admin API with
httpx (`Link: <...page_info=...>; rel="next"`), one transaction per page, none open during a call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from aftercare.clock import as_utc
from aftercare.db.limits import clip
from aftercare.db.models import Product
from aftercare.rendering.safety import safe_url
from aftercare.services.message_context import SUPPORTED_LOCALES
from aftercare.settings import Settings
from aftercare.webhooks.shopify import PRODUCT_TOPICS, parse_time

log = logging.getLogger(__name__)
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
LOCALIZED_FIELDS = ("setup_instructions", "video_url")


@dataclass(frozen=True)
class ProductIn:
    id: str
    title: str
    category: str = "general"
    image_url: str | None = None
    url: str | None = None
    setup_instructions: str | None = None
    video_url: str | None = None
    use_cycle_days: int | None = None
    review_url: str | None = None
    localized: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    updated_at: datetime | None = None


def _metafields(body: Mapping[str, Any], namespace: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for mf in body.get("metafields") or ():
        if isinstance(mf, dict) and mf.get("namespace") == namespace and mf.get("key") and mf.get("value") not in (
                None, ""):
            out[str(mf["key"])] = str(mf["value"])
    return out


def _int(value: str | None) -> int | None:
    try:
        number = int(float(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def map_product(body: Mapping[str, Any], *, namespace: str, keys: Mapping[str, str],
                shop_url: str | None = None) -> ProductIn:
    """A Shopify product body (webhook or Admin API, with its `metafields`) in our words. Links that are not
    http(s) URLs are dropped; a malformed use cycle is none."""
    mf = _metafields(body, namespace)
    image = body.get("image") if isinstance(body.get("image"), dict) else None
    if image is None:
        images = [i for i in body.get("images") or () if isinstance(i, dict)]
        image = images[0] if images else None
    localized: dict[str, dict[str, str]] = {}
    for name in LOCALIZED_FIELDS:
        key = keys.get(name)
        for locale in SUPPORTED_LOCALES:
            value = mf.get(f"{key}_{locale}") if key else None
            if value and (name != "video_url" or safe_url(value)):
                localized.setdefault(locale, {})[name] = value
    video = mf.get(keys.get("video_url", ""))
    handle = body.get("handle")
    return ProductIn(
        id=str(body["id"]),
        title=str(body.get("title") or ""),
        category=str(body.get("product_type") or "general") or "general",
        image_url=safe_url(image.get("src")) if image and image.get("src") else None,
        url=f"{shop_url.rstrip('/')}/products/{handle}" if shop_url and handle else None,
        setup_instructions=mf.get(keys.get("setup_instructions", "")),
        video_url=safe_url(video) if video else None,
        use_cycle_days=_int(mf.get(keys.get("use_cycle_days", ""))),
        review_url=safe_url(mf[keys["review_url"]]) if keys.get("review_url") in mf else None,
        localized=localized,
        updated_at=parse_time(body["updated_at"]) if body.get("updated_at") else None,
    )


def upsert(session: Session, data: ProductIn) -> str:
    """Store the product unless what we hold is newer. Returns "created", "updated" or "stale"."""
    row = session.get(Product, data.id)
    if row is not None and row.updated_at is not None and data.updated_at is not None \
            and as_utc(row.updated_at) > data.updated_at:
        return "stale"
    outcome = "updated" if row is not None else "created"
    if row is None:
        row = Product(id=data.id, title="")
        session.add(row)
    row.title = clip(data.title, Product.title) or data.id
    row.category = clip(data.category, Product.category) or "general"
    row.image_url = _fits(data.image_url, Product.image_url)
    row.url = _fits(data.url, Product.url) or row.url
    row.setup_instructions = data.setup_instructions
    row.video_url = _fits(data.video_url, Product.video_url)
    row.use_cycle_days = data.use_cycle_days
    row.review_url = _fits(data.review_url, Product.review_url)
    row.localized = {k: dict(v) for k, v in data.localized.items()} or None
    row.updated_at = data.updated_at or row.updated_at
    row.deleted_at = None
    session.flush()
    return outcome


def _fits(url: str | None, column: Any) -> str | None:
    """A link is whole or absent: a cut URL leads somewhere else."""
    return url if url is not None and len(url) <= column.type.length else None


def delete(session: Session, product_id: str, at: datetime) -> str:
    row = session.get(Product, product_id)
    if row is None:
        return "unknown"
    row.deleted_at = row.deleted_at or at
    return "deleted"


def apply_webhook(session: Session, settings: Settings, topic: str, body: Mapping[str, Any], now: datetime) -> str:
    """A signed products/* webhook, stored in the inbox and applied from there."""
    if topic == "products/delete":
        return f"product:{delete(session, str(body['id']), now)}"
    data = map_product(body, namespace=settings.catalog_metafield_namespace, keys=settings.catalog_metafield_keys,
                       shop_url=_shop_url(settings))
    return f"product:{upsert(session, data)}"


def _shop_url(settings: Settings) -> str | None:
    return f"https://{settings.shopify_shop_domain}" if settings.shopify_shop_domain else None


# The Admin API import -------------------------------------------------------------------------------------
class CatalogImportError(RuntimeError):
    """The Admin API refused or could not be reached: nothing after the last stored page was imported."""


def import_all(settings: Settings, session_factory: sessionmaker[Session], *,
               transport: httpx.BaseTransport | None = None) -> dict[str, int]:
    """Every product of the shop, page by page, each with its metafields. Returns counts by outcome."""
    if not settings.shopify_shop_domain or settings.shopify_admin_token is None:
        raise CatalogImportError("set AFTERCARE_SHOPIFY_SHOP_DOMAIN and AFTERCARE_SHOPIFY_ADMIN_TOKEN")
    base = f"https://{settings.shopify_shop_domain}/admin/api/{settings.shopify_api_version}"
    headers = {"X-Shopify-Access-Token": settings.shopify_admin_token.get_secret_value()}
    counts: dict[str, int] = {}
    url: str | None = f"{base}/products.json?limit={settings.catalog_page_size}"
    with httpx.Client(transport=transport, timeout=settings.shopify_timeout_seconds, headers=headers) as client:
        while url is not None:
            page = _get(client, url)
            products = [p for p in page.json().get("products") or () if isinstance(p, dict)]
            for product in products:
                metafields = _get(client, f"{base}/products/{product['id']}/metafields.json").json()
                product["metafields"] = metafields.get("metafields") or []
            with session_factory() as session, session.begin():
                for product in products:
                    data = map_product(product, namespace=settings.catalog_metafield_namespace,
                                       keys=settings.catalog_metafield_keys, shop_url=_shop_url(settings))
                    outcome = upsert(session, data)
                    counts[outcome] = counts.get(outcome, 0) + 1
            match = _NEXT.search(page.headers.get("link", ""))
            url = match.group(1) if match else None
    return counts


def _get(client: httpx.Client, url: str) -> httpx.Response:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise CatalogImportError(f"Shopify unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise CatalogImportError(f"Shopify answered {response.status_code}")
    return response


__all__ = ["PRODUCT_TOPICS", "CatalogImportError", "ProductIn", "apply_webhook", "delete", "import_all",
           "map_product", "upsert"]
