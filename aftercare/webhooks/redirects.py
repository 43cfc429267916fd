"""Review and referral links: record the click, then send the customer on (303) to the store's own page.

A review request links to `/review?t=` (one per product, or one for the order); a referral invitation to
`/refer?t=`. The destination is only ever one of the operator's URL templates (`review_url_template`,
`review_fallback_url`, `referral_url_template`, checked as absolute http(s) URLs when settings load), filled
with URL-quoted values: a link cannot name where it goes, so there is no open redirect.

A GET records here, unlike the CSAT and unsubscribe links, because a click changes no customer choice: it
adds one append-only inbox event (`review_click` / `referral_click`) and touches no consent, CSAT or step.
A link scanner's fetch is then one more click in the count, never a decision.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services
from aftercare.db.models import OrderItem, Product
from aftercare.links import InvalidLink
from aftercare.rendering.safety import safe_url
from aftercare.settings import Settings
from aftercare.webhooks import inbox, pages
from aftercare.webhooks.links import error_page, page
from aftercare.webhooks.pages import N_

log = logging.getLogger(__name__)


def _fill(template: str, values: dict[str, str | None]) -> str | None:
    """The template with every placeholder it uses filled (URL-quoted); None when one has no value."""
    needed = [name for name in values if "{" + name + "}" in template]
    if not all(values[name] for name in needed):
        return None
    return template.format(**{name: quote(value or "", safe="") for name, value in values.items()})


def handle_of(product_url: str | None) -> str | None:
    """A Shopify product handle from the product's URL (`.../products/<handle>`), if it has one."""
    parts = [p for p in urlsplit(product_url or "").path.split("/") if p]
    return parts[parts.index("products") + 1] if "products" in parts[:-1] else None


def review_destination(settings: Settings, product_id: str | None, handle: str | None) -> str | None:
    template = settings.review_url_template
    if template and product_id:
        filled = _fill(template, {"product_id": product_id, "handle": handle})
        if filled:
            return filled
    return settings.review_fallback_url


def referral_destination(settings: Settings, code: str) -> str | None:
    template = settings.referral_url_template
    return _fill(template, {"code": code}) if template else None


SUBSCRIPTION_ACTIONS = frozenset({"manage", "skip", "swap", "reschedule", "cancel", "payment"})


def subscription_destination(settings: Settings, subscription_id: str, action: str, token: str) -> str | None:
    template = settings.subscription_portal_url_template
    return _fill(template, {"subscription_id": subscription_id, "action": action, "token": token}) if template \
        else None


RETURN_CHOICES = frozenset({"exchange", "credit"})


def returns_destination(settings: Settings, return_id: str, choice: str, token: str) -> str | None:
    template = settings.returns_portal_url_template
    return _fill(template, {"return_id": return_id, "choice": choice, "token": token}) if template else None


def _review_target(services: Services, order_id: int,
                   product_id: str | None) -> tuple[str | None, str | None, str | None]:
    """The product reviewed (the link's, else the order's first item), its handle, and its own review URL from
    the catalog (a product metafield: the store's data, from a signed webhook or its Admin API), if known."""
    with services.session_factory() as session:
        if product_id is None:
            product_id = session.scalar(
                select(OrderItem.product_id).where(OrderItem.order_id == order_id).order_by(OrderItem.id).limit(1)
            )
        product = session.get(Product, product_id) if product_id else None
        own = safe_url(product.review_url) if product is not None and product.review_url else None
        return product_id, handle_of(product.url if product else None), own


def _record_click(services: Services, topic: str, body: dict[str, Any]) -> None:
    item = {
        "source": "link",
        "dedup_key": f"link:{topic}:{uuid.uuid4().hex}",
        "topic": topic,
        "headers": {},
        "body": json.dumps(body, sort_keys=True),
    }
    inbox.store_and_apply(services, [item])


def _verified(services: Services, token: str | None, kind: str, locale: str) -> dict[str, Any] | HTMLResponse:
    try:
        return services.links.verify(token or "", services.clock.now(), kind=kind)
    except InvalidLink as exc:
        if not token or str(exc).startswith("malformed"):
            return _incomplete(services, locale)
        return error_page(services, 403, N_("The link has expired or is not valid."), locale)


def _incomplete(services: Services, locale: str) -> HTMLResponse:
    return error_page(services, 400, N_("The link is incomplete."), locale)


def _is_id(value: object) -> bool:
    """A database id from a link's claims (JSON: an int, and not a bool, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _onward(services: Services, destination: str | None, what: str, locale: str) -> Response:
    """On to where the store wants the click to land, or a thank-you page when none is configured."""
    return _go(destination) if destination else _unavailable(services, what, locale)


def _go(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


_UNAVAILABLE = {
    "review": N_("Our review page is not available right now. Please try again later."),
    "referral": N_("Our referral page is not available right now. Please try again later."),
    "subscription": N_("Our subscription page is not available right now. Please try again later."),
    "returns": N_("Our returns page is not available right now. Please try again later."),
}


def _unavailable(services: Services, what: str, locale: str) -> HTMLResponse:
    log.warning("a %s link was followed but no %s destination is configured", what, what)
    return page(
        "message.html",
        locale=locale,
        catalog_dirs=services.settings.catalog_dirs,
        store_name=services.settings.store_name,
        title=N_("Thank you"),
        text=_UNAVAILABLE[what],
    )


def redirects_router(services_factory: Callable[[], Services]) -> APIRouter:
    router = APIRouter()

    @router.get("/review", response_model=None)
    async def review(request: Request, t: str | None = None) -> Response:
        services = services_factory()
        lang = pages.browser_locale(request)
        claims = _verified(services, t, "review", lang)
        if isinstance(claims, HTMLResponse):
            return claims
        order_id, product_id = claims.get("o"), claims.get("p")
        if not _is_id(order_id) or not isinstance(product_id, str | None):
            return _incomplete(services, lang)
        product_id, handle, own = await run_in_threadpool(_review_target, services, order_id, product_id)
        await run_in_threadpool(_record_click, services, "review_click", {"o": order_id, "p": product_id})
        destination = own or review_destination(services.settings, product_id, handle)
        return _onward(services, destination, "review", lang)

    @router.get("/refer", response_model=None)
    async def refer(request: Request, t: str | None = None) -> Response:
        services = services_factory()
        lang = pages.browser_locale(request)
        claims = _verified(services, t, "refer", lang)
        if isinstance(claims, HTMLResponse):
            return claims
        customer_id = claims.get("c")
        if not _is_id(customer_id):
            return _incomplete(services, lang)
        code = services.links.referral_code(customer_id)
        await run_in_threadpool(_record_click, services, "referral_click", {"c": customer_id, "code": code})
        destination = referral_destination(services.settings, code)
        return _onward(services, destination, "referral", lang)

    @router.get("/subscription", response_model=None)
    async def subscription(request: Request, t: str | None = None) -> Response:
        """A renewal reminder's or failed-payment notice's link: no password, the signature is the sign-in; on
        to the store's portal for the one subscription and action the link was made for."""
        services = services_factory()
        lang = pages.browser_locale(request)
        claims = _verified(services, t, "subscription", lang)
        if isinstance(claims, HTMLResponse):
            return claims
        customer_id, sub, action = claims.get("c"), claims.get("s"), claims.get("a")
        if not _is_id(customer_id) or not isinstance(sub, str) or action not in SUBSCRIPTION_ACTIONS:
            return _incomplete(services, lang)
        click = {"c": customer_id, "s": sub, "a": action}
        await run_in_threadpool(_record_click, services, "subscription_click", click)
        destination = subscription_destination(services.settings, sub, str(action), t or "")
        return _onward(services, destination, "subscription", lang)

    @router.get("/return-choice", response_model=None)
    async def return_choice(request: Request, t: str | None = None) -> Response:
        """An exchange offer's link: the choice is recorded, then on to the store's returns portal."""
        services = services_factory()
        lang = pages.browser_locale(request)
        claims = _verified(services, t, "return", lang)
        if isinstance(claims, HTMLResponse):
            return claims
        order_id, return_id, choice = claims.get("o"), claims.get("r"), claims.get("x")
        if not _is_id(order_id) or not isinstance(return_id, str) or choice not in RETURN_CHOICES:
            return _incomplete(services, lang)
        await run_in_threadpool(_record_click, services, "return_choice", {"o": order_id, "x": choice})
        destination = returns_destination(services.settings, return_id, str(choice), t or "")
        return _onward(services, destination, "returns", lang)

    return router
