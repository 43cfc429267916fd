"""`aftercare import shopify`: customers, then orders (with their fulfilments and refunds), page by page.

Each page is applied and the checkpoint moved in one transaction; each record in a savepoint of its own, so a
record we cannot map is reported and skipped, never a failed import. Applying is idempotent by Shopify's ids
(an order, a fulfilment or a refund already held changes nothing), so a re-run after a crash repeats at most
the page it was in and duplicates nothing. Consent is kept as `import` evidence at Shopify's own times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from aftercare.bootstrap import Services
from aftercare.db.models import Customer, Order
from aftercare.domain.consent import ConsentSource
from aftercare.imports import runs
from aftercare.imports.shopify_api import ShopifyAdmin
from aftercare.services.commands import ConsentIn, CustomerIn, OrderIn
from aftercare.services.ingest import Ingest
from aftercare.webhooks import shopify as mapping

PHASES = ("customers", "orders")
UNMAPPABLE = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError, DataError, LookupError)
# (phase, records read so far in this phase, the phase's total if the shop told us)
Progress = Callable[[str, int, int | None], None]


def as_import(statements: tuple[ConsentIn, ...], detail: str = "import:shopify") -> tuple[ConsentIn, ...]:
    """The platform's consent, carried over by an import: same times and explicitness, source `import`."""
    return tuple(replace(s, source=ConsentSource.IMPORT, detail=detail) for s in statements)


def customer_from(record: dict[str, Any], default_timezone: str) -> CustomerIn:
    data = mapping.map_customer({"id": record.get("id"), "customer": record}, default_timezone=default_timezone)
    return replace(data, consents=as_import(data.consents))


def order_from(body: dict[str, Any], default_timezone: str) -> OrderIn:
    data = mapping.map_order(body, default_timezone=default_timezone)
    return replace(data, customer=replace(data.customer, consents=as_import(data.customer.consents)))


def apply_order(session: Session, ingest: Ingest, body: dict[str, Any], now: datetime,
                default_timezone: str) -> bool:
    """One order body as the webhooks would apply it, its fulfilments and refunds included. True if new."""
    data = order_from(body, default_timezone)
    known = session.scalar(select(Order.id).where(Order.external_id == data.external_id)) is not None
    ingest.record_order(session, data, now)
    for fulfillment in body.get("fulfillments") or ():
        if not isinstance(fulfillment, dict):
            continue
        if str(fulfillment.get("status") or "").lower() in mapping.FAILED_FULFILLMENT:
            continue
        shipped = mapping.map_fulfillment({"order_id": body["id"], **fulfillment})
        ingest.record_fulfillment(session, shipped, now)
        if fulfillment.get("shipment_status"):
            ingest.record_tracking(session, shipment_external_id=shipped.external_id,
                                   order_external_id=shipped.order_external_id,
                                   status=str(fulfillment["shipment_status"]),
                                   at=mapping.parse_time(fulfillment.get("updated_at") or fulfillment["created_at"]),
                                   now=now)
    for refund_body in body.get("refunds") or ():
        if not isinstance(refund_body, dict):
            continue
        refund = mapping.map_refund({"order_id": body["id"], **refund_body})
        if refund.product_ids:
            ingest.record_refund(session, refund, now)
    return not known


def apply_customer(session: Session, ingest: Ingest, record: dict[str, Any], now: datetime,
                   default_timezone: str) -> bool:
    data = customer_from(record, default_timezone)
    known = session.scalar(select(Customer).where(Customer.external_id == data.external_id))
    if known is not None:  # a customer record has no locale: keep the one their orders gave
        data = replace(data, locale=known.locale or data.locale)
    ingest.upsert_customer(session, data, now)
    return known is None


def import_shopify(services: Services, admin: ShopifyAdmin, *, since: datetime, shop: str,
                   progress: Progress | None = None) -> runs.ImportSummary:
    """Import customers and the orders updated since `since`; resumes an unfinished run for the same shop and
    date. Returns what was imported and, per step, what was backfilled and what was scheduled."""
    settings = services.settings
    key = f"shopify:{shop}:{since.isoformat()}"
    with services.session_factory() as session, session.begin():
        run = runs.start_or_resume(session, source="shopify", key=key, first_phase=PHASES[0],
                                   now=services.clock.now())
        run_id, started_at, resumed = run.id, run.started_at, run.pages > 0 or run.phase != PHASES[0]
    rejected: list[tuple[str, str]] = []
    appliers = {"customers": apply_customer, "orders": apply_order}
    for phase in PHASES:
        with services.session_factory() as session:
            run = session.get(runs.ImportRun, run_id)
            assert run is not None
            if run.phase not in PHASES or PHASES.index(run.phase) > PHASES.index(phase):
                continue  # this phase was finished by an earlier attempt
            url = run.cursor or admin.first_url(phase, since if phase == "orders" else None)
            done = int((run.counts or {}).get(f"{phase}_read", 0))
        total = admin.count(phase, since if phase == "orders" else None)
        if progress is not None:
            progress(phase, done, total)
        while url is not None:
            page = admin.page(phase, url)
            now = services.clock.now()
            ingest = services.ingest.importing(now)
            counts = {f"{phase}_read": len(page.records)}
            with services.session_factory() as session, session.begin():
                for record in page.records:
                    ref = f"{phase[:-1]} {record.get('id')}"
                    try:
                        with session.begin_nested():
                            new = appliers[phase](session, ingest, record, now, settings.shopify_default_timezone)
                    except UNMAPPABLE as exc:
                        rejected.append((ref, f"{type(exc).__name__}: {_short(exc)}"))
                        counts[f"{phase}_rejected"] = counts.get(f"{phase}_rejected", 0) + 1
                        continue
                    name = f"{phase}_new" if new else f"{phase}_unchanged"
                    counts[name] = counts.get(name, 0) + 1
                run = session.get(runs.ImportRun, run_id)
                assert run is not None
                runs.add_counts(run, counts)
                run.pages += 1
                run.cursor = page.next_url
                run.updated_at = now
                if page.next_url is None:
                    following = PHASES.index(phase) + 1
                    run.phase = PHASES[following] if following < len(PHASES) else "done"
                    if run.phase == "done":
                        run.status, run.finished_at = "done", now
            done += len(page.records)
            if progress is not None:
                progress(phase, done, total)
            url = page.next_url
    with services.session_factory() as session:
        run = session.get(runs.ImportRun, run_id)
        assert run is not None
        return runs.ImportSummary(counts=dict(run.counts or {}), rejected=rejected, resumed=resumed,
                                  steps=runs.step_summary(session, services.journey.names, started_at))


def _short(exc: BaseException) -> str:
    """A reason without personal data: the exception's first line, cut short (mappers name fields, not values)."""
    return str(exc).splitlines()[0][:80] if str(exc) else "unmappable"
