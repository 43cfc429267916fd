"""`aftercare import csv`: customers (with consent and when it was given) and orders, from two simple files.

customers.csv, one row per customer:
    customer_id (required), email, phone, first_name, locale, timezone (IANA), region (ISO country),
    email_marketing, email_marketing_at, sms_marketing, sms_marketing_at, sms_transactional, sms_transactional_at
orders.csv, one row per order line (the order's own columns are read from its first line):
    order_id, customer_id, placed_at, product_id (required), order_number, currency, order_total, title,
    quantity, unit_price, shipped_at, carrier, tracking_number, tracking_url, delivered_at, cancelled_at,
    refunded_at (this line's product was refunded then)

A consent column is yes/no (true/false, 1/0, subscribed/unsubscribed) and needs its `_at` time: consent is
evidence and is kept with the time the customer gave it. Times are ISO-8601 with an offset (2025-03-01T14:00:00Z)
or a plain date (midnight UTC). A row that fails a check is reported with its line number and reason and
skipped (for orders: every line of that order); it never stops the import.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.bootstrap import Services
from aftercare.db.models import Customer, Order
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.imports import runs
from aftercare.imports.shopify import UNMAPPABLE
from aftercare.rendering.safety import safe_url
from aftercare.services.commands import ConsentIn, CustomerIn, FulfillmentIn, ItemIn, OrderIn, RefundIn
from aftercare.services.ingest import Ingest

CONSENT_COLUMNS = {
    "email_marketing": (Channel.EMAIL, Purpose.MARKETING),
    "sms_marketing": (Channel.SMS, Purpose.MARKETING),
    "sms_transactional": (Channel.SMS, Purpose.TRANSACTIONAL),
}
YES = frozenset({"yes", "y", "true", "1", "subscribed", "granted"})
NO = frozenset({"no", "n", "false", "0", "unsubscribed", "revoked"})
BATCH = 200  # orders per transaction


class RowError(ValueError):
    """A row that fails a check: its reason names the column, never the value (it may be personal data)."""


@dataclass(frozen=True)
class Line:
    number: int  # the line in the file (the header is line 1)
    row: dict[str, str]

    def get(self, column: str) -> str:
        return (self.row.get(column) or "").strip()

    def required(self, column: str) -> str:
        value = self.get(column)
        if not value:
            raise RowError(f"{column} is required")
        return value


def read(path: Path) -> Iterator[Line]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for index, row in enumerate(csv.DictReader(handle), start=2):
            yield Line(index, {k.strip().lower(): v for k, v in row.items() if isinstance(k, str)})


def parse_time(value: str, column: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"{column} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise RowError(f"{column} needs a time zone offset (e.g. Z or +09:00)")
    return moment.astimezone(UTC)


def _opt_time(line: Line, column: str) -> datetime | None:
    value = line.get(column)
    return parse_time(value, column) if value else None


def _decimal(value: str, column: str, default: str = "0") -> Decimal:
    try:
        return Decimal(value or default)
    except InvalidOperation:
        raise RowError(f"{column} is not a number") from None


def customer_of(line: Line) -> CustomerIn:
    zone = line.get("timezone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowError("timezone is not an IANA time zone") from None
    consents: list[ConsentIn] = []
    for column, (channel, purpose) in CONSENT_COLUMNS.items():
        said = line.get(column).lower()
        if not said:
            continue
        if said not in YES | NO:
            raise RowError(f"{column} must be yes or no")
        at = line.get(f"{column}_at")
        if not at:
            raise RowError(f"{column}_at is required with {column} (consent is kept with its time)")
        consents.append(ConsentIn(channel, purpose, said in YES, ConsentSource.IMPORT, "import:csv",
                                  stated_at=parse_time(at, f"{column}_at")))
    email, phone = line.get("email") or None, line.get("phone") or None
    if email is None and phone is None:
        raise RowError("email or phone is required")
    return CustomerIn(external_id=line.required("customer_id"), email=email, phone=phone,
                      first_name=line.get("first_name"), locale=line.get("locale") or "en", timezone=zone,
                      region=line.get("region").upper() or None, consents=tuple(consents))


def _known_customer(customer: Customer) -> CustomerIn:
    """An order's customer as we hold them: an order row never rewrites what customers.csv said."""
    return CustomerIn(external_id=customer.external_id, email=customer.email, phone=customer.phone,
                      first_name=customer.first_name or "", locale=customer.locale or "en",
                      timezone=customer.timezone or "UTC", region=customer.region)


@dataclass(frozen=True)
class OrderRows:
    order: OrderIn
    shipped_at: datetime | None
    delivered_at: datetime | None
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    refunds: tuple[RefundIn, ...]


def order_of(lines: list[Line], customer: CustomerIn) -> OrderRows:
    first = lines[0]
    order_id = first.required("order_id")
    placed_at = parse_time(first.required("placed_at"), "placed_at")
    items, refunds = [], []
    for line in lines:
        try:
            quantity = int(line.get("quantity") or "1")
        except ValueError:
            raise RowError(f"line {line.number}: quantity is not a whole number") from None
        if quantity < 1:
            raise RowError(f"line {line.number}: quantity must be at least 1")
        product = line.required("product_id")
        price = _decimal(line.get("unit_price"), "unit_price")
        items.append(ItemIn(product[:64], line.get("title")[:200] or product[:64], quantity, price))
        refunded = _opt_time(line, "refunded_at")
        if refunded is not None:
            refunds.append(RefundIn(f"csv-refund:{order_id}:{product}"[:64], order_id, refunded, (product[:64],),
                                    price * quantity))
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    total = _decimal(first.get("order_total"), "order_total", str(subtotal))
    shipped, delivered = _opt_time(first, "shipped_at"), _opt_time(first, "delivered_at")
    for earlier, later, name in ((placed_at, shipped, "shipped_at"), (shipped or placed_at, delivered, "delivered_at")):
        if later is not None and later < earlier:
            raise RowError(f"{name} is before the order was {'placed' if name == 'shipped_at' else 'shipped'}")
    url = first.get("tracking_url")
    order = OrderIn(external_id=order_id[:64], number=(first.get("order_number") or f"#{order_id}")[:32],
                    customer=customer, placed_at=placed_at, items=tuple(items), subtotal=subtotal, total=total,
                    currency=(first.get("currency") or "USD").upper()[:3],
                    cancelled_at=_opt_time(first, "cancelled_at"))
    return OrderRows(order, shipped, delivered, first.get("carrier") or None, first.get("tracking_number") or None,
                     safe_url(url) if url else None, tuple(refunds))


def apply_rows(session: Session, ingest: Ingest, rows: OrderRows, now: datetime) -> bool:
    order = rows.order
    known = session.scalar(select(Order.id).where(Order.external_id == order.external_id)) is not None
    ingest.record_order(session, order, now)
    shipped = rows.shipped_at or rows.delivered_at
    if shipped is not None:
        shipment = f"csv:{order.external_id}"[:64]
        ingest.record_fulfillment(session, FulfillmentIn(shipment, order.external_id, shipped, rows.carrier,
                                                         rows.tracking_number, rows.tracking_url), now)
        if rows.delivered_at is not None:
            ingest.record_tracking(session, shipment_external_id=shipment, order_external_id=order.external_id,
                                   status="delivered", at=rows.delivered_at, now=now)
    for refund in rows.refunds:
        ingest.record_refund(session, refund, now)
    return not known


def import_csv(services: Services, *, customers: Path | None, orders: Path | None) -> runs.ImportSummary:
    """Customers first (their consent), then orders grouped by order_id; bad rows are reported and skipped."""
    now = services.clock.now()
    ingest = services.ingest.importing(now)
    counts: dict[str, int] = {}
    rejected: list[tuple[str, str]] = []

    def reject(where: str, reason: str, kind: str) -> None:
        rejected.append((where, reason))
        counts[f"{kind}_rejected"] = counts.get(f"{kind}_rejected", 0) + 1

    names = "+".join(p.name for p in (customers, orders) if p is not None)
    with services.session_factory() as session, session.begin():
        run_id = runs.start_or_resume(session, source="csv", key=f"csv:{names}", first_phase="customers",
                                      now=now).id
    if customers is not None:
        with services.session_factory() as session, session.begin():
            for line in read(customers):
                try:
                    data = customer_of(line)
                    with session.begin_nested():
                        new = session.scalar(select(Customer.id).where(Customer.external_id == data.external_id))
                        ingest.upsert_customer(session, data, now)
                except UNMAPPABLE as exc:
                    reject(f"{customers.name}:{line.number}", _reason(exc), "customers")
                    continue
                key = "customers_unchanged" if new is not None else "customers_new"
                counts[key] = counts.get(key, 0) + 1
    if orders is not None:
        grouped: dict[str, list[Line]] = {}
        for line in read(orders):
            grouped.setdefault(line.get("order_id"), []).append(line)
        batch: list[list[Line]] = []
        for order_id, lines in grouped.items():
            if not order_id:
                for line in lines:
                    reject(f"{orders.name}:{line.number}", "order_id is required", "orders")
                continue
            batch.append(lines)
            if len(batch) >= BATCH:
                _apply_orders(services, ingest, batch, orders.name, now, counts, reject)
                batch = []
        _apply_orders(services, ingest, batch, orders.name, now, counts, reject)
    with services.session_factory() as session, session.begin():
        run = session.get(runs.ImportRun, run_id)
        assert run is not None
        runs.add_counts(run, counts)
        run.phase, run.status, run.finished_at, run.updated_at = "done", "done", now, now
        started_at = run.started_at
    rejected.sort(key=lambda r: (r[0].rsplit(":", 1)[0] != (customers.name if customers else ""),
                                 int(r[0].rsplit(":", 1)[1])))  # customers first, then by line
    with services.session_factory() as session:
        return runs.ImportSummary(counts=counts, rejected=rejected,
                                  steps=runs.step_summary(session, services.journey.names, started_at))


def _apply_orders(services: Services, ingest: Ingest, batch: list[list[Line]], file: str, now: datetime,
                  counts: dict[str, int], reject: Callable[[str, str, str], None]) -> None:
    with services.session_factory() as session, session.begin():
        for lines in batch:
            where = f"{file}:{lines[0].number}"
            try:
                customer = session.scalar(select(Customer).where(
                    Customer.external_id == lines[0].required("customer_id")))
                if customer is None:
                    raise RowError("customer_id is not a known customer (import customers.csv first)")
                rows = order_of(lines, _known_customer(customer))
                with session.begin_nested():
                    new = apply_rows(session, ingest, rows, now)
            except UNMAPPABLE as exc:
                reject(where, _reason(exc), "orders")
                continue
            key = "orders_new" if new else "orders_unchanged"
            counts[key] = counts.get(key, 0) + 1


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, RowError) else f"{type(exc).__name__}: cannot import this row"
