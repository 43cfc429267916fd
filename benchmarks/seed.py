"""Bulk seeding for the benchmark: minimal but valid customers, orders, journeys and steps.

Due steps get ids 1..due (half `confirmation`: one email; half `shipped`: email + SMS, with a shipment);
pending steps are due 1 hour to 60 days from now, spread over journeys of their own (8 step names each).
SQLite: `executemany` in big transactions on the raw connection. Postgres: `COPY ... FROM STDIN`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York: no quiet hours
PENDING_STEPS = ("delay_notice", "delivered_notice", "setup_guide", "csat", "review_request", "winback_1",
                 "winback_2", "winback_3")
CHUNK = 50_000
ADDRESS = json.dumps({"name": "Alex", "address1": "1 Main St", "city": "Springfield", "zip": "1",
                      "country_code": "US"})


def _chunks(rows: Iterable[tuple[Any, ...]], size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Writer:
    def __init__(self, engine: Engine) -> None:
        self.pg = engine.dialect.name == "postgresql"
        self.raw = engine.raw_connection()

    def dt(self, value: datetime | None) -> Any:
        if value is None or self.pg:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def write(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        n = 0
        cursor = self.raw.cursor()
        cols = ", ".join(columns)
        if self.pg:
            with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    n += 1
        else:
            sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})"
            for chunk in _chunks(rows):
                cursor.executemany(sql, chunk)
                n += len(chunk)
        self.raw.commit()
        return n

    def finish(self, tables: Sequence[str]) -> None:
        cursor = self.raw.cursor()
        if self.pg:
            for t in tables:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
            self.raw.commit()
            _vacuum(self.raw)
        else:
            cursor.execute("ANALYZE")
        self.raw.commit()
        self.raw.close()


def daytime_zone(now: datetime) -> str:
    """The seeded customers' zone: New York, unless `now` is night there (a run by the system clock); then a
    fixed-offset zone where it is midday, so no local-hours rule (shipped SMS wait for 08:00) holds a send."""
    if 9 <= now.astimezone(ZoneInfo("America/New_York")).hour < 20:
        return "America/New_York"
    offset = 12 - now.astimezone(UTC).hour  # UTC+offset is midday
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # tzdb's Etc signs are inverted: Etc/GMT-9 is UTC+9


def seed(engine: Engine, *, due: int, pending: int, seed_value: int = 7, now: datetime = NOW) -> dict[str, int]:
    """`now` is the seeded store's present: a run by the system clock seeds at the real time, so its steps are
    due, not months past their expiry."""
    rng = random.Random(seed_value)
    w = _Writer(engine)
    pending_journeys = -(-pending // len(PENDING_STEPS)) if pending else 0
    journeys = due + pending_journeys
    placed = now - timedelta(hours=1)
    zone = daytime_zone(now)
    created = now - timedelta(days=30)
    b = (lambda v: v) if w.pg else (lambda v: int(v))

    w.write("customers", ("id", "external_id", "email", "email_valid", "phone", "phone_valid", "first_name",
                          "locale", "timezone", "region", "loyalty_tier", "points_balance", "points_expiring",
                          "created_at"),
            ((i, f"c{i}", f"c{i}@example.com", b(True), f"+1212{i % 10_000_000:07d}", b(True), "Alex", "en",
              zone, "US", "member", 120, 0, w.dt(created)) for i in range(1, journeys + 1)))
    w.write("consents", ("customer_id", "channel", "purpose", "granted", "source", "recorded_at"),
            ((i, ch, p, b(True), "checkout", w.dt(created)) for i in range(1, due + 1)
             for ch, p in (("email", "marketing"), ("sms", "transactional"), ("sms", "marketing"))))
    w.write("orders", ("id", "external_id", "number", "customer_id", "placed_at", "currency", "subtotal",
                       "discount_total", "discount_codes", "shipping_total", "tax_total", "total",
                       "shipping_address", "payment_summary", "status", "points_earned"),
            ((i, f"o{i}", f"#{1000 + i}", i, w.dt(placed), "USD", "398.00", "0", "[]", "0", "0", "398.00",
              ADDRESS, "Visa ending 4242", "fulfilled" if i % 2 == 0 and i <= due else "open", 398)
             for i in range(1, journeys + 1)))
    w.write("order_items", ("order_id", "product_id", "title", "category", "quantity", "unit_price"),
            ((i, sku, title, cat, qty, price) for i in range(1, due + 1)
             for sku, title, cat, qty, price in (("sku-a", "Espresso Machine", "appliances", 1, "349.00"),
                                                 ("sku-b", "Beans", "coffee", 2, "24.50"))))
    w.write("products", ("id", "title", "category"),
            [("sku-a", "Espresso Machine", "appliances"), ("sku-b", "Beans", "coffee")])
    w.write("shipments", ("external_id", "order_id", "carrier", "tracking_number", "tracking_url", "promised_at",
                          "status", "shipped_at"),
            ((f"s{i}", i, "UPS", f"1Z{i:08d}", f"https://ups.example/{i}", w.dt(now + timedelta(days=3)),
              "fulfilled", w.dt(now - timedelta(minutes=30))) for i in range(2, due + 1, 2)))
    w.write("journeys", ("id", "order_id", "customer_id", "started_at", "status"),
            ((i, i, i, w.dt(placed), "active") for i in range(1, journeys + 1)))
    step_cols = ("id", "journey_id", "customer_id", "order_id", "step", "status", "trigger", "due_at",
                 "first_due_at", "attempts", "updated_at")

    def due_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(1, due + 1):
            at = w.dt(now - timedelta(seconds=rng.randrange(3600)))
            name, trig = ("shipped", "fulfilled") if i % 2 == 0 else ("confirmation", "order_placed")
            yield (i, i, i, i, name, "pending", trig, at, at, 0, w.dt(placed))

    def pending_rows() -> Iterator[tuple[Any, ...]]:
        for k in range(pending):
            j = due + 1 + k // len(PENDING_STEPS)
            at = w.dt(now + timedelta(seconds=3600 + rng.randrange(60 * 86400)))
            yield (due + 1 + k, j, j, j, PENDING_STEPS[k % len(PENDING_STEPS)], "pending", "delivered", at, at, 0,
                   w.dt(placed))

    w.write("scheduled_steps", step_cols, due_rows())
    w.write("scheduled_steps", step_cols, pending_rows())
    w.finish(("customers", "consents", "orders", "order_items", "shipments", "journeys", "scheduled_steps"))
    return {"journeys": journeys, "due": due, "pending": pending}


def reset_due(engine: Engine, due: int) -> None:
    """Put the due steps back as they were seeded, so the next design runs on the same data."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM messages")
        conn.exec_driver_sql("DELETE FROM decisions")
        conn.exec_driver_sql(
            "UPDATE scheduled_steps SET status = 'pending', due_at = first_due_at, claimed_by = NULL, "
            f"claimed_until = NULL, attempts = 0, last_outcome = NULL, last_reason = NULL WHERE id <= {int(due)}"
        )
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            _vacuum(raw, "messages", "decisions", "scheduled_steps")
        finally:
            raw.close()


def _vacuum(raw: Any, *tables: str) -> None:
    """`VACUUM (ANALYZE)` on Postgres (the whole database, or `tables`), as pgbench does before each run.

    A bulk seed leaves every row without hint bits or a visibility map, and autovacuum, where it is on, then
    works through them (a million-row table takes it a while) during whichever design runs next; a reset leaves
    the last design's deleted and updated rows, which with autovacuum off (as on our test host) nothing else
    removes. Either way the next design would pay for the one before
    it, on the Postgres CPU the benchmark prints. Vacuumed first, every design starts from the same settled
    tables, as a database in service is."""
    raw.commit()
    driver = raw.driver_connection  # VACUUM runs outside a transaction block only
    autocommit = driver.autocommit
    driver.autocommit = True
    try:
        driver.execute(f"VACUUM (ANALYZE) {', '.join(tables)}".rstrip())
    finally:
        driver.autocommit = autocommit
