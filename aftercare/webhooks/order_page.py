"""The order page behind the confirmation's signed link: status and tracking, report a problem, cancel.

As with every signed link (webhooks/links.py), a GET only shows: mail scanners and link previews fetch every
link in an email, and must never cancel an order. Only a POST acts. A cancellation is checked again on the
POST (window open or promise broken, not shipped), sent to Shopify with no transaction open, and its outcome
stored in the inbox like any webhook and applied from there (an `order_requests` row; the order cancelled
when Shopify did it). The page is in the customer's language (its words in the shared catalogs, so every
shipped language has it), right to left for Arabic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services
from aftercare.db.models import Order
from aftercare.domain.promise import zone_of
from aftercare.rendering import formats
from aftercare.rendering.safety import safe_url
from aftercare.services import order_requests
from aftercare.services.message_context import choose_locale
from aftercare.webhooks.links import _claims, _form, _store, error_page, page


def _when(moment: datetime | None, view: order_requests.OrderPageView, lang: str, *, with_time: bool) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone_of(view.timezone))
    return formats.short_datetime(local, lang) if with_time else formats.medium_date(local.date(), lang)


def _render(services: Services, view: order_requests.OrderPageView, token: str, notice_key: str | None = None,
            status: int = 200) -> HTMLResponse:
    lang = choose_locale(view.locale)  # a catalog: the page's words are in order.html, translated like emails
    return page(
        "order.html", status, locale=lang, catalog_dirs=services.settings.catalog_dirs,
        store_name=services.settings.store_name, token=token, view=view,
        notice=notice_key,
        placed=_when(view.placed_at, view, lang, with_time=True),
        promised=_when(view.promised_at, view, lang, with_time=False),
        delivered=_when(view.delivered_at, view, lang, with_time=True),
        cancel_until=_when(view.cancel_until, view, lang, with_time=True),
        tracking_url=safe_url(view.tracking_url) if view.tracking_url else None,
        topics=order_requests.PROBLEM_TOPICS,
    )


def _view(services: Services, order_id: int) -> order_requests.OrderPageView | None:
    with services.session_factory() as session:
        return order_requests.load_view(session, services.settings, order_id, services.clock.now())


def _external_id(services: Services, order_id: int) -> str | None:
    with services.session_factory() as session:
        order = session.get(Order, order_id)
        return order.external_id if order is not None else None


def order_router(services_factory: Callable[[], Services]) -> APIRouter:
    router = APIRouter()

    async def _load(t: str | None) -> tuple[Services, Any, HTMLResponse | None]:
        services = services_factory()
        claims = _claims(services, t, "order", ("o",))
        if isinstance(claims, HTMLResponse):
            return services, None, claims
        view = await run_in_threadpool(_view, services, claims["o"])
        if view is None:  # a signed link to an order we no longer hold: nothing to show, nothing changes
            return services, None, error_page(services, 404, "We could not find this order.")
        return services, view, None

    @router.get("/order", response_class=HTMLResponse)
    async def order_page(request: Request, t: str | None = None) -> HTMLResponse:
        """Shows status, tracking and the forms; changes nothing (scanners GET every link)."""
        services, view, refused = await _load(t)
        if refused is not None:
            return refused
        return _render(services, view, t or "")

    @router.post("/order/problem", response_class=HTMLResponse)
    async def report_problem(request: Request, t: str | None = None) -> HTMLResponse:
        services, view, refused = await _load(t)
        if refused is not None:
            return refused
        form = await _form(request, services)
        topic = form.get("topic", ["other"])[0]
        if topic not in order_requests.PROBLEM_TOPICS:
            return error_page(services, 400, "Please choose what happened.")
        message = form.get("message", [""])[0].strip()[:order_requests.MAX_MESSAGE_CHARS]
        body: dict[str, Any] = {"o": view.order_id, "topic": topic}
        if message:
            body["message"] = message
        await run_in_threadpool(_store, services, "order_problem", f"link:problem:{uuid.uuid4().hex}", body)
        return _render(services, view, t or "", "sent")

    @router.post("/order/cancel", response_class=HTMLResponse)
    async def cancel(request: Request, t: str | None = None) -> HTMLResponse:
        """Cancels through Shopify when configured (no transaction open during the call), else records a
        cancellation request for support. Refused (409, nothing changed) once shipped or out of the window."""
        services, view, refused = await _load(t)
        if refused is not None:
            return refused
        if not view.can_cancel:
            return _render(services, view, t or "", "cannot_cancel", status=409)
        outcome = "not_configured"
        if order_requests.shopify_configured(services.settings):
            external = await run_in_threadpool(_external_id, services, view.order_id)
            if external is not None:
                outcome = await run_in_threadpool(lambda: order_requests.cancel_in_shopify(
                    services.settings, external, transport=services.shopify_transport))
        # One cancellation per order (a second click, a replay of the form, is a duplicate).
        await run_in_threadpool(_store, services, "order_cancel", f"link:cancel:{view.order_id}",
                                {"o": view.order_id, "shopify": outcome})
        after = await run_in_threadpool(_view, services, view.order_id) or view
        return _render(services, after, t or "", "cancelled" if outcome == "cancelled" else "cancel_requested")

    return router
