"""Bringing a store's history in without sending it: Shopify's Admin API or CSV files, through `Ingest`.

Everything goes through the same ingestion as the webhooks (`Ingest.importing(now)`), so consent evidence,
journeys and their steps are the same; the one difference is that a step whose time had passed before the
import is recorded `backfilled` and never sent, while a step still ahead is scheduled as usual.
"""
