"""The ASGI app. Endpoints are thin: read the raw bytes, verify, store in the inbox, apply, answer 2xx.

A request without a signature header (or to an endpoint whose secret is unset) gets 401 before its body is
read; a body over the endpoint's limit gets 413 unread (see bodies.py); a request that fails verification
gets 401 and touches nothing; a verified body that is not the JSON or form we expect gets 400; everything
else is stored, idempotent on its de-duplication key, and applied in the same transaction (a replay is
stored as nothing and answered 200). Verifying, parsing and storing run in the thread pool, never on the
event loop.

De-duplication keys come from signed data only: an unsigned header (Twilio's `I-Twilio-Idempotency-Token`)
could be dropped from a captured request to replay it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services, get_services
from aftercare.webhooks import bodies, inbox, twilio, verify
from aftercare.webhooks.helpdesk import helpdesk_router
from aftercare.webhooks.links import links_router
from aftercare.webhooks.order_page import order_router
from aftercare.webhooks.redirects import redirects_router
from aftercare.webhooks.store_events import events_router

ServicesFactory = Callable[[], Services]
SHOPIFY_HEADERS = (
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-triggered-at",
)


def _refused() -> JSONResponse:
    return JSONResponse({"detail": "signature verification failed"}, status_code=401)


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=400)


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:40]


def _shopify_secrets(services: Services) -> list[str]:
    settings = services.settings
    return [
        s.get_secret_value()
        for s in (settings.shopify_webhook_secret, settings.shopify_webhook_secret_previous)
        if s is not None and s.get_secret_value()
    ]


def shopify(services: Services, headers: Mapping[str, str], body: bytes) -> Response:
    if not verify.shopify_hmac(body, headers.get("x-shopify-hmac-sha256"), _shopify_secrets(services)):
        return _refused()
    try:
        text = body.decode("utf-8")
        payload = bodies.loads(text)
    except ValueError:  # UnicodeDecodeError and too deep included
        return _bad("malformed JSON")
    if not isinstance(payload, dict):
        return _bad("expected a JSON object")
    topic = headers.get("x-shopify-topic") or "unknown"
    webhook_id = headers.get("x-shopify-webhook-id") or headers.get("x-shopify-event-id")
    dedup = f"shopify:{webhook_id}" if webhook_id else f"shopify:body:{_digest(topic, body)}"
    kept = {k: v for k, v in headers.items() if k in SHOPIFY_HEADERS}
    item = {"source": "shopify", "dedup_key": dedup, "topic": topic, "headers": kept, "body": text}
    [note] = inbox.store_and_apply(services, [item])
    return JSONResponse({"status": "duplicate" if note == "duplicate" else "stored", "result": note})


def sendgrid(services: Services, headers: Mapping[str, str], body: bytes) -> Response:
    settings = services.settings
    ok = verify.sendgrid_signature(
        body,
        headers.get("x-twilio-email-event-webhook-signature"),
        headers.get("x-twilio-email-event-webhook-timestamp"),
        settings.sendgrid_webhook_public_key,
        now=services.clock.now(),
        max_age_seconds=settings.sendgrid_webhook_max_age_seconds,
    )
    if not ok:
        return _refused()
    try:
        events = bodies.loads(body.decode("utf-8"))
    except ValueError:
        return _bad("malformed JSON")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return _bad("expected a JSON array of events")
    items = []
    for event in events:
        raw = json.dumps(event, sort_keys=True, separators=(",", ":"))
        key = event.get("sg_event_id")
        dedup = f"sendgrid:{key}" if isinstance(key, str) and key else f"sendgrid:body:{_digest(raw)}"
        items.append(
            {
                "source": "sendgrid",
                "dedup_key": dedup,
                "topic": str(event.get("event") or "unknown"),
                "headers": {},
                "body": raw,
            }
        )
    notes = inbox.store_and_apply(services, items)
    return JSONResponse(
        {
            "stored": sum(n != "duplicate" for n in notes),
            "duplicates": sum(n == "duplicate" for n in notes),
        }
    )


def twilio_dedup_key(topic: str, params: Mapping[str, str]) -> str:
    """From the signed form only: the message's SID (and, for a status callback, the status it reports).
    Twilio's `I-Twilio-Idempotency-Token` is not signed, so keying on it let a captured request replayed
    without that header count as new."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = f":{params.get('MessageStatus', '')}" if topic == "status" else ""
    return f"twilio:{topic}:{sid}{status}"


def twilio_event(
    services: Services, url: str, signature: str | None, body: bytes, topic: str
) -> tuple[dict[str, str], Response | None]:
    """Verify, check and store one Twilio callback; returns its form (with `_note`) or the refusal."""
    settings = services.settings
    params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    if not verify.twilio_signature(url, params, signature, token):
        return params, _refused()
    sid = params.get("MessageSid") or params.get("SmsSid")
    if (
        not sid
        or (topic == "inbound" and "From" not in params)
        or (topic == "status" and "MessageStatus" not in params)
    ):
        return params, _bad("missing MessageSid, From or MessageStatus")
    item = {
        "source": "twilio",
        "dedup_key": twilio_dedup_key(topic, params),
        "topic": topic,
        "headers": {},
        "body": body.decode("utf-8", errors="replace"),
    }
    [note] = inbox.store_and_apply(services, [item])
    params["_note"] = note
    return params, None


def create_app(services_factory: ServicesFactory = get_services) -> FastAPI:
    app = FastAPI(title="aftercare webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(bodies.BodyTooLarge)
    async def too_large(request: Request, exc: bodies.BodyTooLarge) -> Response:
        # Close the connection: the unread rest of the body must not be taken for the next request.
        return JSONResponse(
            {"detail": "request body too large"}, status_code=413, headers={"Connection": "close"}
        )

    @app.exception_handler(bodies.BadLength)
    async def bad_length(request: Request, exc: bodies.BadLength) -> Response:
        return JSONResponse({"detail": "bad Content-Length"}, status_code=400, headers={"Connection": "close"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/shopify")
    async def shopify_webhook(request: Request) -> Response:
        services = services_factory()
        if not request.headers.get("x-shopify-hmac-sha256") or not _shopify_secrets(services):
            return _refused()  # before a byte of the body is read
        body = await bodies.read_limited(request, services.settings.max_body_bytes_shopify)
        return await run_in_threadpool(shopify, services, request.headers, body)

    @app.post("/webhooks/sendgrid")
    async def sendgrid_webhook(request: Request) -> Response:
        services = services_factory()
        signed = request.headers.get("x-twilio-email-event-webhook-signature") and request.headers.get(
            "x-twilio-email-event-webhook-timestamp"
        )
        if not signed or not services.settings.sendgrid_webhook_public_key:
            return _refused()
        body = await bodies.read_limited(request, services.settings.max_body_bytes_sendgrid)
        return await run_in_threadpool(sendgrid, services, request.headers, body)

    async def _twilio(request: Request, topic: str) -> tuple[Services, dict[str, str], Response | None]:
        services = services_factory()
        settings = services.settings
        signature = request.headers.get("x-twilio-signature")
        if not signature or settings.twilio_auth_token is None:
            return services, {}, _refused()
        body = await bodies.read_limited(request, settings.max_body_bytes_twilio)
        base = (settings.twilio_webhook_base_url or settings.public_base_url).rstrip("/")
        url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params, refused = await run_in_threadpool(twilio_event, services, url, signature, body, topic)
        return services, params, refused

    @app.post("/webhooks/twilio/inbound")
    async def twilio_inbound(request: Request) -> Response:
        services, params, refused = await _twilio(request, "inbound")
        if refused is not None:
            return refused
        reply = None
        intent, _ = twilio.classify(params.get("Body", ""))
        if intent is twilio.Intent.HELP and params["_note"] != "duplicate":
            reply = twilio.help_text(services.settings.store_name, services.settings.support_email)
        return Response(twilio.twiml(reply), media_type="application/xml")

    @app.post("/webhooks/twilio/status")
    async def twilio_status(request: Request) -> Response:
        _, _, refused = await _twilio(request, "status")
        return refused if refused is not None else Response(status_code=204)

    app.include_router(links_router(services_factory))
    app.include_router(order_router(services_factory))
    app.include_router(events_router(services_factory))
    app.include_router(helpdesk_router(services_factory))
    app.include_router(redirects_router(services_factory))
    return app
