"""Several sweeps on one Postgres: every step and every message exactly once, across processes and crashes.

Each sweep is a separate process with its own engine (as separate Prefect workers on one work pool would
be). The providers record every accepted message into a table of the same database, so the test counts
what "left" across processes. Templates are replaced by a constant stub renderer: these tests are about
claims, leases and the ledger, and rendering 20,000 real templates would only make them slow.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

DUE = 20_000
LEASE = timedelta(minutes=5)


# Helpers that run inside the worker processes (module level: picklable for `spawn`) ------------------------
class _StubRenderer:
    def render_email(self, step: str, locale: str, ctx: Any) -> Any:
        from aftercare.rendering.renderer import RenderedEmail

        return RenderedEmail(f"{step} #{ctx.order_number}", "<p>hi</p>\n", "hi", f"en/{step}.email", "en")

    def render_sms(self, step: str, locale: str, ctx: Any) -> Any:
        from aftercare.rendering.renderer import RenderedSms

        return RenderedSms(f"{step} #{ctx.order_number}", f"en/{step}.sms", "en", 1, "GSM-7")


class _TableSender:
    """A provider that records every accepted message in `provider_sent` (one executemany per request)."""

    def __init__(self, dsn: str, channel: str, worker: str) -> None:
        import psycopg

        self.name = f"table-{channel}"
        self.channel = channel
        self.worker = worker
        self.conn = psycopg.connect(dsn, autocommit=True)

    def _record(self, messages: Sequence[Any]) -> list[Any]:
        from aftercare.providers.base import Outcome, SendResult

        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO provider_sent (message_id, channel, worker) VALUES (%s, %s, %s)",
                            [(m.message_id, self.channel, self.worker) for m in messages])
        return [SendResult(m.message_id, Outcome.SENT, provider_id=f"{self.channel}-{m.message_id}")
                for m in messages]

    def send_emails(self, messages: Sequence[Any]) -> list[Any]:
        return self._record(messages)

    def send_sms(self, messages: Sequence[Any]) -> list[Any]:
        return self._record(messages)


def _sweep_process(url: str, worker: str, now_iso: str, crash_at: str | None, max_batches: int | None,
                   home: str, sms_lookup: bool = False) -> int:
    """One worker: its own engine, its own sweeper. `crash_at` kills the process hard (no cleanup)."""
    from aftercare.bootstrap import build_services
    from aftercare.clock import FrozenClock
    from aftercare.db.engine import make_engine
    from aftercare.settings import Settings

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(url)
    settings = Settings(home=Path(home), database_url=url, outbox_dir=Path(home) / "outbox", holdout_share=0.0,
                        sweep_lease_seconds=int(LEASE.total_seconds()), environment="development")
    services = build_services(settings, clock=FrozenClock(datetime.fromisoformat(now_iso)),
                              email=_TableSender(dsn, "email", worker),
                              sms=(_LookupTableSender if sms_lookup else _TableSender)(dsn, "sms", worker),
                              renderer=_StubRenderer(), engine=engine, migrate_db=False)  # type: ignore[arg-type]
    if crash_at:
        def fault(phase: str) -> None:
            if phase == crash_at:
                os._exit(17)  # killed mid-batch: no rollback handlers, no lease release
        services.sweeper.fault = fault
    report = services.sweeper.run(worker_id=worker, max_batches=max_batches, batch_size=500)
    engine.dispose()
    return report.claimed


def _run_workers(specs: list[tuple[Any, ...]]) -> list[int | None]:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_sweep_process, args=spec) for spec in specs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    return [p.exitcode for p in procs]


# Fixtures ------------------------------------------------------------------------------------------------
def _seed(url: str, due: int, pending: int, now: datetime | None = None) -> None:
    from aftercare.db.engine import make_engine
    from benchmarks.seed import NOW, seed

    engine = make_engine(url)
    seed(engine, due=due, pending=pending, now=now or NOW)
    engine.dispose()


def _scalar(url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _assert_exactly_once(url: str, due: int, *, sent_messages: int) -> None:
    # Every due step settled, and no claim left behind.
    assert _scalar(url, f"SELECT count(*) FROM scheduled_steps WHERE id <= {due} AND status = 'done'") == due
    assert _scalar(url, "SELECT count(*) FROM scheduled_steps WHERE claimed_by IS NOT NULL") == 0
    # One ledger row per message, one decision per step...
    expected_messages = due // 2 + (due // 2) * 2  # confirmation: email; shipped: email + SMS
    assert _scalar(url, "SELECT count(*) FROM messages") == expected_messages
    assert _scalar(url, "SELECT count(DISTINCT idempotency_key) FROM messages") == expected_messages
    assert _scalar(url, "SELECT count(DISTINCT step_id) FROM decisions") == due
    # ...and every message left the process at most once, across all workers.
    assert _scalar(url, "SELECT count(*) FROM provider_sent") == sent_messages
    assert _scalar(url, "SELECT count(DISTINCT message_id) FROM provider_sent") == sent_messages


# Tests ---------------------------------------------------------------------------------------------------
def test_four_concurrent_sweeps_handle_every_step_exactly_once(pg_url: str, tmp_path: Path) -> None:
    from benchmarks.seed import NOW

    _seed(pg_url, DUE, pending=50_000)
    codes = _run_workers([(pg_url, f"w{i}", NOW.isoformat(), None, None, str(tmp_path)) for i in range(4)])
    assert codes == [0, 0, 0, 0]
    expected = DUE // 2 * 3
    _assert_exactly_once(pg_url, DUE, sent_messages=expected)
    assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'sent'") == expected
    # The work was shared: every worker sent something.
    assert _scalar(pg_url, "SELECT count(DISTINCT worker) FROM provider_sent") == 4
    # Pending (not yet due) steps were not touched.
    assert _scalar(pg_url, f"SELECT count(*) FROM scheduled_steps WHERE id > {DUE} AND attempts = 0 "
                           "AND status = 'pending'") == 50_000


@pytest.mark.parametrize("crash_at", ["reserved", "sending", "sent"])
def test_a_sweep_killed_mid_batch_loses_nothing_and_duplicates_nothing(pg_url: str, tmp_path: Path,
                                                                       crash_at: str) -> None:
    from benchmarks.seed import NOW

    due = 2_000
    _seed(pg_url, due, pending=1_000)
    home = str(tmp_path)
    # Worker A is killed in its first batch (500 steps claimed, leased for 5 minutes).
    assert _run_workers([(pg_url, "a", NOW.isoformat(), crash_at, None, home)]) == [17]
    leased = _scalar(pg_url, "SELECT count(*) FROM scheduled_steps WHERE claimed_by = 'a'")
    assert leased == 500
    a_messages = _scalar(pg_url, "SELECT count(*) FROM messages WHERE step_id IN "
                                 "(SELECT id FROM scheduled_steps WHERE claimed_by = 'a')")
    assert 500 <= a_messages <= 1000  # a mix of one-message and two-message steps
    # Worker B, at once: takes everything else, but not A's leased steps.
    assert _run_workers([(pg_url, "b", NOW.isoformat(), None, None, home)]) == [0]
    assert _scalar(pg_url, "SELECT count(*) FROM scheduled_steps WHERE claimed_by = 'a'") == 500
    # Worker C, after A's lease ran out: takes A's steps and finishes them.
    later = (NOW + LEASE + timedelta(seconds=1)).isoformat()
    assert _run_workers([(pg_url, "c", later, None, None, home)]) == [0]

    sent_by_a = _scalar(pg_url, "SELECT count(*) FROM provider_sent WHERE worker = 'a'")
    total_messages = due // 2 * 3
    if crash_at == "reserved":  # nothing had left: C sends all of A's messages
        assert sent_by_a == 0
        _assert_exactly_once(pg_url, due, sent_messages=total_messages)
        assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status <> 'sent'") == 0
    else:
        # A's messages were `sending` (maybe left, for "sent": did leave); C marks them unknown, never resends.
        assert sent_by_a == (a_messages if crash_at == "sent" else 0)
        _assert_exactly_once(pg_url, due, sent_messages=total_messages - a_messages + sent_by_a)
        assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'unknown'") == a_messages
        assert _scalar(pg_url, "SELECT count(*) FROM provider_sent WHERE worker = 'c'") == 0


def test_the_claim_reads_the_partial_due_index(pg_url: str, tmp_path: Path) -> None:
    """Behaviour, not timing: with 200,000 pending steps and 10,000 due, the claim reads the partial index on
    due_at, and its check that a customer is not held by another batch reads the index of live leases: no
    step of the claim reads the whole table (without `ix_scheduled_steps_held`, Postgres chose a sequential
    scan of every pending step once per claim here, 250 ms a claim at a million)."""
    from aftercare.bootstrap import build_services
    from aftercare.clock import FrozenClock
    from aftercare.db.engine import make_engine
    from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
    from aftercare.settings import Settings
    from benchmarks.seed import NOW

    _seed(pg_url, 10_000, pending=200_000)
    engine = make_engine(pg_url)
    settings = Settings(home=tmp_path, database_url=pg_url, environment="development")
    services = build_services(settings, clock=FrozenClock(NOW),
                              email=FakeEmailSender(), sms=FakeSmsSender(), engine=engine, migrate_db=False)
    compiled = services.sweeper.claim_statement(NOW, "w", 500).compile(dialect=engine.dialect)
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
    engine.dispose()
    assert "ix_scheduled_steps_due" in plan, plan
    assert "ix_scheduled_steps_held" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_every_outcome_is_recorded_on_postgres_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    """The Postgres bulk updates (one `unnest` statement per batch) write what the SQLite executemany writes."""
    from sqlalchemy import select

    from aftercare.bootstrap import build_services
    from aftercare.clock import FrozenClock
    from aftercare.db.engine import make_engine
    from aftercare.db.models import Message, ScheduledStep
    from aftercare.providers.base import Outcome
    from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
    from tests.conftest import START, make_settings
    from tests.journeys import place_order

    engine = make_engine(pg_url)
    email = FakeEmailSender()
    services = build_services(make_settings(tmp_path, database_url=pg_url), clock=FrozenClock(START), email=email,
                              sms=FakeSmsSender(), engine=engine, migrate_db=False)
    for n in (1, 2, 3):
        place_order(services, n=n)
    email.script.update({"c1@example.com": Outcome.RETRY, "c2@example.com": Outcome.REJECTED})
    report = services.sweeper.run()
    assert report.claimed == 3 and report.total_sent == 1
    with services.session_factory() as session:
        ledger = {r.customer_id: r for r in session.scalars(select(Message))}
        steps = {s.customer_id: s for s in session.scalars(select(ScheduledStep).where(
            ScheduledStep.step == "confirmation"))}
    by_email = {1: ledger[min(ledger)], 2: ledger[sorted(ledger)[1]], 3: ledger[max(ledger)]}
    assert (by_email[1].status, by_email[1].reason, by_email[1].error_code) == ("reserved", "transient_error",
                                                                                "scripted")
    assert (by_email[2].status, by_email[2].reason) == ("failed", "provider_rejected")
    assert by_email[3].status == "sent" and by_email[3].provider_message_id == "fake-1"
    assert by_email[3].provider == "fake-email" and by_email[3].status_at == START
    first, second, third = (steps[k] for k in sorted(steps))
    assert (first.status, first.last_outcome, first.last_reason) == ("pending", "retry", "transient_error")
    assert first.due_at > START and first.claimed_by is None and first.claimed_until is None
    assert (second.status, third.status) == ("done", "done") and third.updated_at == START
    engine.dispose()


# Reconciling what a kill mid-send left `unknown` (issue 11, item 16) ---------------------------------------
class _LookupTableSender(_TableSender):
    """`_TableSender` for SMS that also answers Twilio-style lookups from what it accepted (`provider_sms`)."""

    def _record(self, messages: Sequence[Any]) -> list[Any]:
        from aftercare.providers.base import body_digest

        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO provider_sms (message_id, recipient, digest) VALUES (%s, %s, %s)",
                            [(m.message_id, m.to, body_digest(m.body)) for m in messages])
        return super()._record(messages)

    def lookup_sms(self, *, to: str, sent_after: datetime, sent_before: datetime) -> list[Any]:
        from aftercare.providers.base import SentSms

        rows = self.conn.execute("SELECT message_id, digest FROM provider_sms WHERE recipient = %s", (to,)).fetchall()
        return [SentSms(f"sms-{message_id}", None, digest) for message_id, digest in rows]


def _reconcile_process(url: str, worker: str, now_iso: str, home: str) -> int:
    from aftercare.bootstrap import build_reconciler, build_services
    from aftercare.clock import FrozenClock
    from aftercare.db.engine import make_engine
    from aftercare.settings import Settings

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(url)
    settings = Settings(home=Path(home), database_url=url, outbox_dir=Path(home) / "outbox", holdout_share=0.0,
                        sweep_lease_seconds=int(LEASE.total_seconds()), environment="development")
    services = build_services(settings, clock=FrozenClock(datetime.fromisoformat(now_iso)),
                              email=_TableSender(dsn, "email", worker), sms=_LookupTableSender(dsn, "sms", worker),
                              renderer=_StubRenderer(), engine=engine, migrate_db=False)  # type: ignore[arg-type]
    report = build_reconciler(services).run()
    engine.dispose()
    return len(report.resent)


@pytest.mark.parametrize("crash_at", ["sending", "sent"])
def test_after_a_kill_mid_send_two_reconcilers_settle_every_unknown_message_exactly_once(
        pg_url: str, tmp_path: Path, crash_at: str) -> None:
    from benchmarks.seed import NOW

    due, home = 1_000, str(tmp_path)
    _seed(pg_url, due, pending=0)
    with __import__("psycopg").connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                                       autocommit=True) as conn:
        conn.execute("CREATE TABLE provider_sms (message_id text, recipient text, digest text)")
    assert _run_workers([(pg_url, "a", NOW.isoformat(), crash_at, None, home, True)]) == [17]
    a_messages = _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'sending'")
    a_sms = _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'sending' AND channel = 'sms'")
    later = NOW + LEASE + timedelta(seconds=1)
    assert _run_workers([(pg_url, "c", later.isoformat(), None, None, home, True)]) == [0]
    assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'unknown'") == a_messages > a_sms > 0
    run_at = later + timedelta(hours=1)
    if crash_at == "sending":
        # SendGrid's event webhook is live (it reported another message a minute ago) and said nothing of these:
        # they never reached it. (Had they, as in "sent", their `processed` events would have settled them.)
        with __import__("psycopg").connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                                           autocommit=True) as conn:
            conn.execute("INSERT INTO inbox (source, dedup_key, topic, received_at, headers, body, attempts) "
                         "VALUES ('sendgrid', 'sendgrid:evt-x', 'delivered', %s, '{}', '{}', 0)",
                         (run_at - timedelta(minutes=1),))

    codes = _run_workers_with(_reconcile_process, [(pg_url, f"r{i}", run_at.isoformat(), home) for i in (1, 2)])
    assert codes == [0, 0]

    total = due // 2 * 3
    assert _scalar(pg_url, "SELECT count(DISTINCT message_id) FROM provider_sent") == total  # nothing lost...
    assert _scalar(pg_url, "SELECT count(*) FROM provider_sent") == total  # ...and nothing sent twice
    resends = _scalar(pg_url, "SELECT count(*) FROM messages WHERE resends = 1")
    if crash_at == "sending":  # nothing had left: every unknown message sent again, once
        assert resends == a_messages
        assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status <> 'sent'") == 0
    else:  # everything had left: the SMS found at the provider; the emails held for the operator, not resent
        assert resends == 0
        assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE reason = 'reconciled_found'") == a_sms
        assert _scalar(pg_url, "SELECT count(*) FROM messages WHERE status = 'unknown'") == a_messages - a_sms
    # Running the reconcilers again changes nothing.
    _run_workers_with(_reconcile_process, [(pg_url, "r3", (run_at + timedelta(hours=1)).isoformat(), home)])
    assert _scalar(pg_url, "SELECT count(*) FROM provider_sent") == total


def _run_workers_with(target: Any, specs: list[tuple[Any, ...]]) -> list[int | None]:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=spec) for spec in specs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    return [p.exitcode for p in procs]
