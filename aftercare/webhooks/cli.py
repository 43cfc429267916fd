"""`aftercare serve`: run the webhook app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    timeout_keep_alive: Annotated[int, typer.Option(help="Seconds an idle keep-alive connection is kept.")] = 5,
    max_header_bytes: Annotated[
        int, typer.Option(help="Largest request head (line and headers) accepted, in bytes (h11).")
    ] = 16 * 1024,
    limit_concurrency: Annotated[
        int | None, typer.Option(help="Connections and tasks at once before new requests get 503.")
    ] = None,
) -> None:
    """Serve the Shopify, SendGrid and Twilio webhooks and the signed CSAT, unsubscribe, preferences, review
    and referral links. Refuses to start, outside development, with a weak link or webhook secret.

    Body sizes are capped per endpoint by the app (AFTERCARE_MAX_BODY_BYTES_*); uvicorn has no header or
    body read timeout, so in production put a reverse proxy in front (docs/operations.md)."""
    import uvicorn

    from aftercare.cli import refuse_unsafe_secrets
    from aftercare.webhooks.app import create_app

    refuse_unsafe_secrets()
    # Behind a proxy, signatures use the public URLs from settings, so the proxy's headers are not needed.
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # URLs carry signed link tokens: keep them out of logs
        http="h11",  # the one whose header limit is the option above
        timeout_keep_alive=timeout_keep_alive,
        h11_max_incomplete_event_size=max_header_bytes,
        limit_concurrency=limit_concurrency,
    )
