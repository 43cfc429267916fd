"""`POST /webhooks/events`: the store's own named events, signed with HMAC-SHA256, stored, then applied.

Body: `{"name": "loyalty.tier_changed", "customer": "<external id>", "idempotency_key": "...",
"occurred_at": "<ISO 8601>", "order": "<external id, optional>", "data": {...}}`; header
`X-Aftercare-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. A bad signature is 401 and a body
we cannot read is 400, both changing nothing; a repeated idempotency key is answered "duplicate".
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aftercare.bootstrap import Services
from aftercare.journeys.store_events import StoreEvent
from aftercare.webhooks import inbox, verify

SIGNATURE_HEADER = "x-aftercare-signature"


def events_router(services_factory: Callable[[], Services]) -> APIRouter:
    router = APIRouter()

    @router.post("/webhooks/events")
    async def store_event(request: Request) -> Response:
        services = services_factory()
        secret = services.settings.events_webhook_secret
        body = await request.body()
        if not verify.store_event_signature(body, request.headers.get(SIGNATURE_HEADER),
                                            secret.get_secret_value() if secret else None):
            return JSONResponse({"detail": "signature verification failed"}, status_code=401)
        try:
            payload = json.loads(body.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            event = StoreEvent.parse(payload, services.clock.now())
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"detail": f"bad event: {type(exc).__name__}"}, status_code=400)
        [note] = await run_in_threadpool(inbox.store_and_apply, services, [event.inbox_item()])
        return JSONResponse({"status": "duplicate" if note == "duplicate" else "stored", "result": note})

    return router
