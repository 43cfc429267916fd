"""Resolving service-recovery cases from outside: the helpdesk webhook and the signed link in support's notice.

`POST /webhooks/helpdesk` is a generic JSON endpoint any helpdesk (Gorgias, Zendesk, Re:amaze; see
docs/operations.md) can call when a ticket closes. It is signed: `X-Aftercare-Signature` carries the hex
HMAC-SHA256 of the raw body under `AFTERCARE_HELPDESK_WEBHOOK_SECRET` (optionally prefixed `sha256=`). The body:

    {"event_id": "zd-4711-solved", "case": 12, "order": "#1042", "status": "solved",
     "resolution": "refund issued", "resolved_at": "2026-03-10T12:00:00Z"}

`case` or `order` (our order id, the store's order number or its external id) names the case; `status` (closed,
solved, resolved; the default) says the ticket is done, any other status is stored and ignored. A ticket with
no recovery case behind it is answered 200 `no_recovery_case`, so a helpdesk may send every closed ticket.

`GET /recovery/resolve?t=` (the signed link support receives) only shows a confirm page: link scanners fetch
every link, and a fetch must not resolve anything. The page's button POSTs, and only that resolves.

Like every webhook: verify on the raw bytes, validate, store in the inbox, apply; bad input is a 4xx and
changes nothing; a replay (same event id) is stored as nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services
from aftercare.links import InvalidLink
from aftercare.services import recovery
from aftercare.webhooks import bodies

SOURCE = "recovery"  # inbox source of both doors; topic "helpdesk" or "link"
SIGNATURE_HEADER = "x-aftercare-signature"
DONE_STATUSES = frozenset({"closed", "solved", "resolved"})
MAX_REF = 64

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


class BadEvent(ValueError):
    """The body is not a helpdesk event we understand (a 400; nothing is stored)."""


def signature_ok(body: bytes, header: str | None, secret: str | None) -> bool:
    """hex(HMAC-SHA256(secret, raw body)), compared in constant time; no secret configured fails every check."""
    if not header or not secret:
        return False
    given = header.strip().removeprefix("sha256=").lower().encode("ascii", "replace")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, given)


def parse_event(payload: Any) -> dict[str, Any]:
    """The fields we use, validated; raises `BadEvent` with a message fit for the caller."""
    if not isinstance(payload, dict):
        raise BadEvent("expected a JSON object")
    case, order = payload.get("case"), payload.get("order")
    if isinstance(case, str) and case.strip().isdigit():
        case = int(case)
    if case is not None and (not isinstance(case, int) or isinstance(case, bool) or case <= 0):
        raise BadEvent("case must be a positive integer")
    if order is not None and (not isinstance(order, str | int) or isinstance(order, bool)
                              or not str(order).strip() or len(str(order)) > MAX_REF):
        raise BadEvent(f"order must be a non-empty string of at most {MAX_REF} characters")
    if case is None and order is None:
        raise BadEvent("name the case: give `case` (a case id) or `order` (an order number or id)")
    status = payload.get("status", "resolved")
    resolution = payload.get("resolution", "resolved via helpdesk")
    if not isinstance(status, str) or not isinstance(resolution, str):
        raise BadEvent("status and resolution must be strings")
    resolved_at = payload.get("resolved_at")
    if resolved_at is not None:
        try:
            parsed = datetime.fromisoformat(str(resolved_at).replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadEvent("resolved_at must be an ISO 8601 time with a zone") from exc
        if parsed.tzinfo is None:
            raise BadEvent("resolved_at must be an ISO 8601 time with a zone")
        resolved_at = parsed.isoformat()
    event_id = payload.get("event_id")
    return {"case": case, "order": None if order is None else str(order).strip(), "status": status.lower(),
            "resolution": resolution, "resolved_at": resolved_at,
            "event_id": event_id if isinstance(event_id, str | int) and not isinstance(event_id, bool) else None}


def apply(session: Session, services: Services, topic: str, body: dict[str, Any], now: datetime) -> str:
    """Apply a stored helpdesk event or link confirmation (called by the inbox); returns a short note."""
    if body["status"] not in DONE_STATUSES:
        return f"ignored:status_{body['status'][:20]}"
    try:
        case = recovery.find_case(session, case_id=body["case"], order_ref=body["order"])
    except recovery.UnknownCase:
        return "no_recovery_case"
    at = datetime.fromisoformat(body["resolved_at"]) if body.get("resolved_at") else now
    result = recovery.resolve_case(session, services.ingest, case, resolution=body["resolution"], at=at, now=now)
    return f"{topic}:resolved" if result.changed else f"{topic}:already_resolved"


def _store_and_apply(services: Services, topic: str, dedup_key: str, event: dict[str, Any]) -> str:
    from aftercare.webhooks import inbox

    item = {"source": SOURCE, "dedup_key": dedup_key, "topic": topic, "headers": {},
            "body": json.dumps(event, sort_keys=True)}
    [note] = inbox.store_and_apply(services, [item])
    return note


def _page(services: Services, status: int, title: str, text: str, token: str | None = None) -> HTMLResponse:
    html = _env.get_template("recovery_resolve.html").render(
        store_name=services.settings.store_name, title=title, text=text, token=token)
    return HTMLResponse(html, status_code=status)


def helpdesk_router(services_factory: Callable[[], Services]) -> APIRouter:
    router = APIRouter()

    @router.post("/webhooks/helpdesk")
    async def helpdesk_webhook(request: Request) -> Response:
        services = services_factory()
        secret = services.settings.helpdesk_webhook_secret
        if secret is None or not request.headers.get(SIGNATURE_HEADER):  # refused before a byte is read
            return JSONResponse({"detail": "signature verification failed"}, status_code=401)
        body = await bodies.read_limited(request, services.settings.max_body_bytes_links)
        if not signature_ok(body, request.headers.get(SIGNATURE_HEADER), secret.get_secret_value()):
            return JSONResponse({"detail": "signature verification failed"}, status_code=401)
        try:
            event = parse_event(bodies.loads(body.decode("utf-8")))
        except BadEvent as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
            return JSONResponse({"detail": "malformed JSON"}, status_code=400)
        key = event.pop("event_id")
        dedup = f"helpdesk:{key}" if key is not None else f"helpdesk:body:{hashlib.sha256(body).hexdigest()[:40]}"
        note = await run_in_threadpool(_store_and_apply, services, "helpdesk", dedup, event)
        return JSONResponse({"status": "duplicate" if note == "duplicate" else "stored", "result": note})

    def _case_id(services: Services, token: str | None) -> int | HTMLResponse:
        if not token:
            return _page(services, 400, "This link does not work", "The link is incomplete.")
        try:
            return recovery.case_id_from_link(services.links, token, services.clock.now())
        except InvalidLink as exc:
            malformed = str(exc).startswith("malformed")
            return _page(services, 400 if malformed else 403, "This link does not work",
                         "The link is incomplete." if malformed else "The link has expired or is not valid.")

    @router.get(recovery.LINK_PATH, response_class=HTMLResponse)
    async def resolve_page(t: str | None = None) -> HTMLResponse:
        """Only a page: a link scanner's GET changes nothing."""
        services = services_factory()
        case_id = _case_id(services, t)
        if isinstance(case_id, HTMLResponse):
            return case_id
        return _page(services, 200, "Resolve this service-recovery case?",
                     f"Case {case_id}: mark it resolved once the customer's problem is sorted out. The customer "
                     "will then be asked for a review like everyone else.", token=t)

    @router.post(recovery.LINK_PATH, response_class=HTMLResponse)
    async def resolve_confirmed(t: str | None = None) -> HTMLResponse:
        services = services_factory()
        case_id = _case_id(services, t)
        if isinstance(case_id, HTMLResponse):
            return case_id
        event = {"case": case_id, "order": None, "status": "resolved", "resolution": "resolved via support link",
                 "resolved_at": None}
        note = await run_in_threadpool(_store_and_apply, services, "link", f"recovery:link:{case_id}", event)
        if note == "no_recovery_case":
            return _page(services, 404, "Case not found", "This case no longer exists.")
        return _page(services, 200, "Case resolved", f"Case {case_id} is resolved. Thank you.")

    return router
