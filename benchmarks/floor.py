"""The floor: the same database reads and writes and the same template rendering, in a plain loop.

No Prefect, no ORM, no SQLAlchemy: the DB-API driver (sqlite3 / psycopg) directly. Per batch: select due
steps, load customers/orders/items/shipments for them, render every message with the project's Jinja
renderer (the same templates and context builder), call the same fake providers, then in one transaction
insert the ledger rows, update the steps and insert the decision log. No decisions, no lease, no
reserve-then-send protocol: that is the work exactly-once adds, and what the ratio measures.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from aftercare.domain.decisions import Send
from aftercare.domain.vocabulary import Channel
from aftercare.providers.base import EmailMessage, SmsMessage
from aftercare.services.batch_state import BatchState
from aftercare.services.message_context import build_context


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def run_floor(services: Any, *, url: str, batch_size: int) -> dict[str, Any]:
    pg = url.startswith("postgresql")
    if pg:
        import psycopg

        conn: Any = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        ph = "%s"
    else:
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        ph = "?"
    now = services.clock.now()
    now_p: Any = now if pg else now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    renderer, links, cs = services.renderer, services.links, services.sweeper.context_settings
    done = 0
    start = time.perf_counter()

    def q(sql: str, params: Any = ()) -> list[SimpleNamespace]:
        cur = conn.cursor()
        cur.execute(sql.replace("?", ph), params)
        names = [d[0] for d in cur.description]
        return [SimpleNamespace(**dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def inlist(ids: list[int]) -> str:
        return ",".join(str(int(i)) for i in ids)

    while True:
        steps = q("SELECT id, journey_id, customer_id, order_id, step, due_at FROM scheduled_steps "
                  "WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?", (now_p, batch_size))
        if not steps:
            break
        batch = BatchState()
        for c in q(f"SELECT * FROM customers WHERE id IN ({inlist([s.customer_id for s in steps])})"):
            c.points_expire_at = _dt(c.points_expire_at)
            batch.customers[c.id] = c
        oids = inlist([s.order_id for s in steps])
        for o in q(f"SELECT * FROM orders WHERE id IN ({oids})"):
            o.placed_at = _dt(o.placed_at)
            if isinstance(o.discount_codes, str):
                o.discount_codes = json.loads(o.discount_codes)
            if isinstance(o.shipping_address, str):
                o.shipping_address = json.loads(o.shipping_address)
            batch.orders[o.id] = o
        batch.items = defaultdict(list)
        for i in q(f"SELECT * FROM order_items WHERE order_id IN ({oids}) ORDER BY id"):
            batch.items[i.order_id].append(i)
        for s in q(f"SELECT * FROM shipments WHERE order_id IN ({oids}) ORDER BY id"):
            s.promised_at, s.delivered_at = _dt(s.promised_at), _dt(s.delivered_at)
            batch.shipments[s.order_id] = s
        emails: list[EmailMessage] = []
        texts: list[SmsMessage] = []
        ledger: list[tuple[Any, ...]] = []
        for st in steps:
            channels = (Channel.EMAIL,) if st.step == "confirmation" else (Channel.EMAIL, Channel.SMS)
            ctx = build_context(step=st.step, customer_id=st.customer_id, order_id=st.order_id,
                                decision=Send(channels), batch=batch, links=links, settings=cs, now=now)
            c = batch.customers[st.customer_id]
            for ch in channels:
                if ch is Channel.EMAIL:
                    r = renderer.render_email(st.step, "en", ctx)
                    emails.append(EmailMessage(str(st.id), c.email, r.subject, r.html, r.text, st.step, r.template,
                                               r.locale, False))
                else:
                    s = renderer.render_sms(st.step, "en", ctx)
                    texts.append(SmsMessage(str(st.id), c.phone, s.body, st.step, s.template, s.locale, False,
                                            s.segments))
                ledger.append((f"j{st.journey_id}:{st.step}:{ch.value}", st.id, st.journey_id, st.customer_id,
                               st.order_id, st.step, "transactional", ch.value, st.step, "en", "sent", 1, now_p,
                               now_p, now_p))
        services.email.send_emails(emails)
        if texts:
            services.sms.send_sms(texts)
        cur = conn.cursor()
        cur.executemany(
            "INSERT INTO messages (idempotency_key, step_id, journey_id, customer_id, order_id, step, purpose, "
            "channel, template, locale, status, attempts, created_at, sent_at, status_at) VALUES "
            f"({', '.join([ph] * 15)})", ledger)
        cur.executemany(f"UPDATE scheduled_steps SET status = 'done', last_outcome = 'send', updated_at = {ph} "
                        f"WHERE id = {ph}", [(now_p, st.id) for st in steps])
        cur.executemany(
            f"INSERT INTO decisions (step_id, journey_id, step, decided_at, due_at, outcome, channels) VALUES "
            f"({', '.join([ph] * 7)})",
            [(st.id, st.journey_id, st.step, now_p, st.due_at, "send", "email") for st in steps])
        conn.commit()
        done += len(steps)
    elapsed = time.perf_counter() - start
    conn.close()
    return {"steps": done, "seconds": elapsed, "steps_per_s": done / elapsed if elapsed else 0.0}
