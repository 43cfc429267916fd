"""`aftercare serve`: run the webhook app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the Shopify, SendGrid and Twilio webhooks and the signed CSAT, unsubscribe, preferences links."""
    import uvicorn

    from aftercare.webhooks.app import create_app

    # Behind a proxy, signatures use the public URLs from settings, so the proxy's headers are not needed.
    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)
