"""The webhook ingest app: Shopify, SendGrid and Twilio webhooks and the signed customer links.

`create_app()` builds the FastAPI app; every endpoint verifies on the raw bytes, stores the request in the
inbox and applies it in the same transaction (`inbox.py`). `serve()` in `cli.py` runs it under uvicorn.
"""
