"""The ASGI app. Endpoints are thin: read the raw bytes, verify, store in the inbox, apply, answer 2xx.

A request that fails verification gets 401 and touches nothing; a verified body that is not the JSON
or form we expect gets 400; everything else is stored, idempotent on its de-duplication key, and applied
in the same transaction (a replay is stored as nothing and answered 200).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services, get_services
from aftercare.webhooks import inbox, twilio, verify
from aftercare.webhooks.helpdesk import helpdesk_router
from aftercare.webhooks.links import links_router
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


def create_app(services_factory: ServicesFactory = get_services) -> FastAPI:
    app = FastAPI(title="aftercare webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/shopify")
    async def shopify_webhook(request: Request) -> Response:
        services = services_factory()
        settings = services.settings
        body = await request.body()
        secrets = [
            s.get_secret_value()
            for s in (settings.shopify_webhook_secret, settings.shopify_webhook_secret_previous)
            if s is not None
        ]
        if not verify.shopify_hmac(body, request.headers.get("x-shopify-hmac-sha256"), secrets):
            return _refused()
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except ValueError:  # UnicodeDecodeError included
            return _bad("malformed JSON")
        if not isinstance(payload, dict):
            return _bad("expected a JSON object")
        topic = request.headers.get("x-shopify-topic") or "unknown"
        webhook_id = request.headers.get("x-shopify-webhook-id") or request.headers.get("x-shopify-event-id")
        dedup = f"shopify:{webhook_id}" if webhook_id else f"shopify:body:{_digest(topic, body)}"
        headers = {k: v for k, v in request.headers.items() if k in SHOPIFY_HEADERS}
        item = {"source": "shopify", "dedup_key": dedup, "topic": topic, "headers": headers, "body": text}
        [note] = await run_in_threadpool(inbox.store_and_apply, services, [item])
        return JSONResponse({"status": "duplicate" if note == "duplicate" else "stored", "result": note})

    @app.post("/webhooks/sendgrid")
    async def sendgrid_webhook(request: Request) -> Response:
        services = services_factory()
        settings = services.settings
        body = await request.body()
        ok = verify.sendgrid_signature(
            body,
            request.headers.get("x-twilio-email-event-webhook-signature"),
            request.headers.get("x-twilio-email-event-webhook-timestamp"),
            settings.sendgrid_webhook_public_key,
            now=services.clock.now(),
            max_age_seconds=settings.sendgrid_webhook_max_age_seconds,
        )
        if not ok:
            return _refused()
        try:
            events = json.loads(body.decode("utf-8"))
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
        notes = await run_in_threadpool(inbox.store_and_apply, services, items)
        return JSONResponse(
            {
                "stored": sum(n != "duplicate" for n in notes),
                "duplicates": sum(n == "duplicate" for n in notes),
            }
        )

    async def _twilio(request: Request, topic: str) -> tuple[Services, dict[str, str], Response | None]:
        services = services_factory()
        settings = services.settings
        body = await request.body()
        params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        base = (settings.twilio_webhook_base_url or settings.public_base_url).rstrip("/")
        url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        if not verify.twilio_signature(url, params, request.headers.get("x-twilio-signature"), token):
            return services, params, _refused()
        sid = params.get("MessageSid") or params.get("SmsSid")
        if (
            not sid
            or (topic == "inbound" and "From" not in params)
            or (topic == "status" and "MessageStatus" not in params)
        ):
            return services, params, _bad("missing MessageSid, From or MessageStatus")
        idem = request.headers.get("i-twilio-idempotency-token")
        dedup = (
            f"twilio:{idem}"
            if idem
            else f"twilio:{topic}:{sid}" + (f":{params['MessageStatus']}" if topic == "status" else "")
        )
        item = {
            "source": "twilio",
            "dedup_key": dedup,
            "topic": topic,
            "headers": {},
            "body": body.decode("utf-8", errors="replace"),
        }
        [note] = await run_in_threadpool(inbox.store_and_apply, services, [item])
        params["_note"] = note
        return services, params, None

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
    app.include_router(events_router(services_factory))
    app.include_router(helpdesk_router(services_factory))
    return app
