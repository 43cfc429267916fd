"""The floor: the same database writes and the same template rendering, in a plain loop.

No Prefect, no ORM, no SQLAlchemy: the DB-API driver (sqlite3 / psycopg) directly, one function, no
decisions (every due step is sent). Per batch, as the issue defines the floor, the same writes the engine
makes, in the same transactions:
1. claim the due steps with a lease (`UPDATE ... WHERE id IN (due ids LIMIT n) RETURNING`), commit;
2. read what the templates need (customers, orders, items, shipments), render every message with the
   project's renderer and context builder;
3. insert the ledger rows as `reserved` (ON CONFLICT DO NOTHING) and read their ids, commit;
4. move them to `sending`, commit; call the same fake providers;
5. mark them `sent` with the provider ids, settle the steps, insert the decision log, commit.
What the engine does beyond this (its batch-state reads for the decisions, the decisions themselves,
SQLAlchemy, Prefect) is what the ratio measures.

`render=False` is the database alone: the same claim and the same rows written in the same transactions,
with nothing read for the templates, nothing rendered and no provider called; the distance between it and
the floor is what reading and rendering cost, and it is the lower bound the hardware sets for this design.

`bare=True` is the least any design could write: no lease, no reserve-then-send, one ledger insert
per message in one transaction with the step updates. It is printed for scale, not used for the ratio:
it is what a sender with no exactly-once guarantee would cost.
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


def run_floor(services: Any, *, url: str, batch_size: int, bare: bool = False,
              render: bool = True) -> dict[str, Any]:
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
    def ts(value: datetime) -> Any:
        return value if pg else value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    now_p: Any = ts(now)
    lease_p: Any = ts(now + services.sweeper.lease)
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
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
        if bare:
            steps = q("SELECT id, journey_id, customer_id, order_id, step, due_at FROM scheduled_steps "
                      "WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?", (now_p, batch_size))
        else:
            steps = q("UPDATE scheduled_steps SET claimed_by = 'floor', claimed_until = ?, attempts = attempts + 1 "
                      "WHERE id IN (SELECT id FROM scheduled_steps WHERE status = 'pending' AND due_at <= ? "
                      f"AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY due_at LIMIT ?{lock}) "
                      "RETURNING id, journey_id, customer_id, order_id, step, due_at",
                      (lease_p, now_p, now_p, batch_size))
            conn.commit()
        if not steps:
            break
        planned: list[tuple[Any, Channel, EmailMessage | SmsMessage]] = []
        if not render:  # the database alone: the same rows written, nothing read for or rendered into them
            for st in steps:
                for ch in services.journey.step(st.step).channels:
                    template = f"en/{st.step}.{ch.value}"
                    planned.append((st, ch, EmailMessage("", "", "", "", "", st.step, template, "en", False)
                                    if ch is Channel.EMAIL else SmsMessage("", "", "", st.step, template, "en", False,
                                                                           1)))
        else:
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
            for st in steps:
                spec = services.journey.step(st.step)  # confirmation and shipped: transactional
                channels = spec.channels
                ctx = build_context(spec=spec, customer_id=st.customer_id, order_id=st.order_id,
                                    decision=Send(channels), batch=batch, links=links, settings=cs, now=now)
                c = batch.customers[st.customer_id]
                for ch in channels:
                    if ch is Channel.EMAIL:
                        r = renderer.render_email(st.step, "en", ctx)
                        planned.append((st, ch, EmailMessage("", c.email, r.subject, r.html, r.text, st.step,
                                                             r.template, r.locale, False)))
                    else:
                        s = renderer.render_sms(st.step, "en", ctx)
                        planned.append((st, ch, SmsMessage("", c.phone, s.body, st.step, s.template, s.locale, False,
                                                           s.segments)))
        cur = conn.cursor()
        status = "sent" if bare else "reserved"
        ledger = [(f"j{st.journey_id}:{st.step}:{ch.value}", st.id, st.journey_id, st.customer_id, st.order_id,
                   st.step, "transactional", ch.value, m.template, m.locale, status, 0, now_p, now_p)
                  for st, ch, m in planned]
        cur.executemany(
            "INSERT INTO messages (idempotency_key, step_id, journey_id, customer_id, order_id, step, purpose, "
            "channel, template, locale, status, attempts, created_at, status_at) VALUES "
            f"({', '.join([ph] * 14)}) ON CONFLICT (idempotency_key) DO NOTHING", ledger)
        ids: dict[str, int] = {}
        if not bare:
            keys = ",".join("'" + row[0] + "'" for row in ledger)  # our own keys: no quotes inside
            ids = {r.idempotency_key: r.id for r in q(f"SELECT id, idempotency_key FROM messages "
                                                      f"WHERE idempotency_key IN ({keys})")}
            conn.commit()
            cur.execute(f"UPDATE messages SET status = 'sending', status_at = {ph}, sent_at = {ph}, "
                        f"attempts = attempts + 1 WHERE id IN ({inlist(list(ids.values()))}) "
                        "AND status = 'reserved'", (now_p, now_p))
            conn.commit()
        for (_st, _ch, m), row in zip(planned, ledger, strict=True):
            object.__setattr__(m, "message_id", str(ids.get(row[0], 0)))
        if render:
            results = services.email.send_emails([m for _, ch, m in planned if ch is Channel.EMAIL])
            if any(ch is Channel.SMS for _, ch, _m in planned):
                results += services.sms.send_sms([m for _, ch, m in planned if ch is Channel.SMS])
        else:  # no provider either: the provider ids the fakes would return
            results = [SimpleNamespace(provider_id=f"db-{m.message_id}", message_id=m.message_id)
                       for _, _ch, m in planned]
        if not bare:
            cur.executemany(f"UPDATE messages SET status = 'sent', status_at = {ph}, provider_message_id = {ph}, "
                            f"provider = 'bench' WHERE id = {ph}",
                            [(now_p, r.provider_id, int(r.message_id)) for r in results])
        cur.executemany(f"UPDATE scheduled_steps SET status = 'done', last_outcome = 'send', updated_at = {ph}, "
                        f"claimed_by = NULL, claimed_until = NULL WHERE id = {ph}", [(now_p, st.id) for st in steps])
        cur.executemany(
            f"INSERT INTO decisions (step_id, journey_id, step, decided_at, due_at, outcome, channels) VALUES "
            f"({', '.join([ph] * 7)})",
            [(st.id, st.journey_id, st.step, now_p, st.due_at, "send", "email") for st in steps])
        conn.commit()
        done += len(steps)
    elapsed = time.perf_counter() - start
    conn.close()
    return {"steps": done, "seconds": elapsed, "steps_per_s": done / elapsed if elapsed else 0.0}
