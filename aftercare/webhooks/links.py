"""The signed customer links: CSAT answers, one-click unsubscribe (RFC 8058) and the preferences page.

A GET never changes anything: mail scanners and link previews fetch every link in an email, so a GET only
shows a page whose button POSTs the choice (the CSAT page has the clicked score pre-selected and a comment
box). Only a POST records: the page's button, or the mail client's RFC 8058 one-click POST.

A missing or malformed token is a 400, a tampered, expired or wrong-kind one a 403; nothing changes.
A token naming an order or customer we do not hold gets the same page as one we do, and changes nothing
(no enumeration of ids with a forged or leaked token). A choice (unsubscribe, preferences saved) is stored in
the inbox and applied like any webhook, even when it repeats the current state: it is the customer's newest
statement and is kept as consent evidence. A CSAT comment is kept in the stored event's body.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services
from aftercare.db.models import Consent, Customer, Order
from aftercare.links import InvalidLink
from aftercare.webhooks import bodies, inbox, pages
from aftercare.webhooks.pages import N_

MAX_COMMENT_CHARS = 2000
NO_MARKETING = {"email_marketing": False, "sms_marketing": False, "sms_stopped": False}

def page(name: str, status: int = 200, *, locale: str = "en", catalog_dirs: tuple[Path, ...] = (),
         **values: Any) -> HTMLResponse:
    """A customer page in `locale` (`title` and `text` are msgids, translated in `pages.render`)."""
    return pages.render(name, locale, status, catalog_dirs=catalog_dirs, **values)


def error_page(services: Services, status: int, text: str, locale: str = "en") -> HTMLResponse:
    return page(
        "message.html",
        status,
        locale=locale,
        catalog_dirs=services.settings.catalog_dirs,
        store_name=services.settings.store_name,
        title=N_("This link does not work"),
        text=text,
    )


async def _language(services: Services, request: Request, *, customer_id: int | None = None,
                    order_id: int | None = None) -> str:
    """The customer's own language when the link names someone we hold, else the browser's."""
    known = await run_in_threadpool(pages.customer_locale, services.session_factory, customer_id=customer_id,
                                    order_id=order_id)
    return known or pages.browser_locale(request)


def _claims(
    services: Services, token: str | None, kind: str, fields: tuple[str, ...], locale: str = "en"
) -> dict[str, int] | HTMLResponse:
    if not token:
        return error_page(services, 400, N_("The link is incomplete."), locale)
    try:
        payload = services.links.verify(token, services.clock.now(), kind=kind)
    except InvalidLink as exc:
        malformed = str(exc).startswith("malformed")
        return error_page(
            services,
            400 if malformed else 403,
            N_("The link is incomplete.") if malformed else N_("The link has expired or is not valid."),
            locale,
        )
    values = {f: payload.get(f) for f in fields}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        return error_page(services, 400, N_("The link is incomplete."), locale)
    return values  # type: ignore[return-value]


def _order_exists(services: Services, order_id: int) -> bool:
    with services.session_factory() as session:
        return session.get(Order, order_id) is not None


async def _form(request: Request, services: Services) -> dict[str, list[str]]:
    body = await bodies.read_limited(request, services.settings.max_body_bytes_links)
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)  # a few KiB at most


def _marketing_state(services: Services, customer_id: int) -> dict[str, bool] | None:
    with services.session_factory() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        granted = {
            (c.channel, c.purpose): c.granted
            for c in session.scalars(select(Consent).where(Consent.customer_id == customer_id))
        }
        return {
            "email_marketing": customer.email_unsubscribed_at is None
            and granted.get(("email", "marketing"), False),
            "sms_marketing": granted.get(("sms", "marketing"), False),
            "sms_stopped": customer.sms_stopped_at is not None,
        }


def _store(services: Services, topic: str, dedup_key: str, body: dict[str, Any]) -> str:
    item = {
        "source": "link",
        "dedup_key": dedup_key,
        "topic": topic,
        "headers": {},
        "body": json.dumps(body, sort_keys=True),
    }
    with services.session_factory() as session, session.begin():
        event = inbox.store(session, now=services.clock.now(), **item)
        return "duplicate" if event is None else inbox.apply_event(session, services, event)


def links_router(services_factory: Callable[[], Services]) -> APIRouter:
    router = APIRouter()

    @router.get("/csat", response_class=HTMLResponse)
    async def csat_page(request: Request, t: str | None = None) -> HTMLResponse:
        """Shows the question with the clicked score chosen; records nothing (scanners GET every link)."""
        services = services_factory()
        claims = _claims(services, t, "csat", ("o", "s"), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, order_id=claims["o"])
        if not 1 <= claims["s"] <= 5:
            return error_page(services, 400, N_("The link is incomplete."), lang)
        return page("csat.html", locale=lang, catalog_dirs=services.settings.catalog_dirs,
                    store_name=services.settings.store_name, token=t, chosen=claims["s"])

    @router.post("/csat", response_class=HTMLResponse)
    async def csat(request: Request, t: str | None = None) -> HTMLResponse:
        """Records the score the customer confirmed (the form's, else the link's) and their comment."""
        services = services_factory()
        claims = _claims(services, t, "csat", ("o", "s"), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, order_id=claims["o"])
        form = await _form(request, services)
        chosen = form.get("score", [str(claims["s"])])[0].strip()
        if chosen not in {"1", "2", "3", "4", "5"}:
            return error_page(services, 400, N_("Please choose a score from 1 to 5."), lang)
        comment = form.get("comment", [""])[0].strip()[:MAX_COMMENT_CHARS]
        if await run_in_threadpool(_order_exists, services, claims["o"]):
            body: dict[str, Any] = {"o": claims["o"], "s": int(chosen)}
            if comment:
                body["comment"] = comment
            # The first answer for an order counts (as in Ingest.record_csat): any later one is a duplicate.
            await run_in_threadpool(_store, services, "csat", f"link:csat:{claims['o']}", body)
        return page(
            "message.html",
            locale=lang,
            catalog_dirs=services.settings.catalog_dirs,
            store_name=services.settings.store_name,
            title=N_("Thank you"),
            text=N_("Thanks for telling us how we did."),
        )

    @router.get("/unsubscribe", response_class=HTMLResponse)
    async def unsubscribe_page(request: Request, t: str | None = None) -> HTMLResponse:
        services = services_factory()
        claims = _claims(services, t, "unsub", ("c",), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, customer_id=claims["c"])
        return page("unsubscribe.html", locale=lang, catalog_dirs=services.settings.catalog_dirs,
                    store_name=services.settings.store_name, token=t)

    @router.post("/unsubscribe", response_class=HTMLResponse)
    async def unsubscribe(request: Request, t: str | None = None) -> HTMLResponse:
        """RFC 8058 one-click (body `List-Unsubscribe=One-Click`) and the confirm page's button alike."""
        services = services_factory()
        claims = _claims(services, t, "unsub", ("c",), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, customer_id=claims["c"])
        form = await _form(request, services)
        state = await run_in_threadpool(_marketing_state, services, claims["c"])
        if state is not None:
            # Recorded even when already unsubscribed: each click is the customer's newest statement, which an
            # older platform statement arriving later must not undo (aftercare.domain.consent). A customer we
            # do not hold gets the same page, and nothing is stored.
            via = "one_click" if form.get("List-Unsubscribe") == ["One-Click"] else "page"
            await run_in_threadpool(
                _store,
                services,
                "unsubscribe",
                f"link:unsub:{uuid.uuid4().hex}",
                {"c": claims["c"], "via": via},
            )
        return page(
            "message.html",
            locale=lang,
            catalog_dirs=services.settings.catalog_dirs,
            store_name=services.settings.store_name,
            title=N_("You are unsubscribed"),
            text=N_("You will get no more marketing email from us. Order updates still arrive."),
        )

    @router.get("/preferences", response_class=HTMLResponse)
    async def preferences_page(request: Request, t: str | None = None) -> HTMLResponse:
        services = services_factory()
        claims = _claims(services, t, "prefs", ("c",), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, customer_id=claims["c"])
        state = await run_in_threadpool(_marketing_state, services, claims["c"]) or NO_MARKETING
        return page(
            "preferences.html", locale=lang, catalog_dirs=services.settings.catalog_dirs,
            store_name=services.settings.store_name, token=t, saved=False, **state
        )

    @router.post("/preferences", response_class=HTMLResponse)
    async def save_preferences(request: Request, t: str | None = None) -> HTMLResponse:
        services = services_factory()
        claims = _claims(services, t, "prefs", ("c",), pages.browser_locale(request))
        if isinstance(claims, HTMLResponse):
            return claims
        lang = await _language(services, request, customer_id=claims["c"])
        form = await _form(request, services)
        wanted = {
            "email_marketing": form.get("email_marketing", [""])[0] == "on",
            "sms_marketing": form.get("sms_marketing", [""])[0] == "on",
        }
        state = await run_in_threadpool(_marketing_state, services, claims["c"])
        if state is None:  # no such customer: the same page as for one, and nothing stored
            return page("preferences.html", locale=lang, catalog_dirs=services.settings.catalog_dirs,
                        store_name=services.settings.store_name, token=t, saved=True, **{**NO_MARKETING, **wanted})
        # Recorded even when nothing changes: saving the page is the customer's newest statement.
        key = hashlib.sha256(f"{claims['c']}:{uuid.uuid4().hex}".encode()).hexdigest()[:40]
        await run_in_threadpool(_store, services, "preferences", f"link:prefs:{key}", {"c": claims["c"], **wanted})
        state = {**state, **wanted}
        return page("preferences.html", locale=lang, catalog_dirs=services.settings.catalog_dirs,
                    store_name=services.settings.store_name, token=t, saved=True, **state)

    return router
