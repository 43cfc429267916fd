"""Journeys as code, through the real surfaces: the journey setting, unknown steps, store events, the upgrade."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, func, insert, select

from aftercare.bootstrap import build_services
from aftercare.db.engine import alembic_config, make_engine
from aftercare.db.models import DecisionLog, InboxEvent, Message, ScheduledStep
from aftercare.journeys import (
    Journey,
    JourneyNotFound,
    default_journey,
    default_steps,
    email,
    load_journey,
    marketing,
    per_customer,
    step,
)
from aftercare.services.funnel import funnel
from aftercare.settings import Settings
from aftercare.webhooks.app import create_app
from tests.conftest import START, make_settings
from tests.journeys import a_customer, fulfil, place_order

VIP_WELCOME = step("vip_welcome", marketing, channels=(email,), scope=per_customer, on="loyalty.tier_changed",
                   repeat_key=lambda ev: ev.new_tier, when=lambda ev: ev.new_rank > ev.old_rank,
                   templates=Path(__file__).parent / "journey_templates")
SMALL = Journey("small", [*default_steps(except_=("tier_up_notice",)), VIP_WELCOME])  # its own tier notice


def small_journey(settings: Settings) -> Journey:
    return SMALL


class TestTheJourneySetting:
    def test_the_default_is_the_built_in_journey_with_the_settings_timings(self, tmp_path: Path):
        settings = make_settings(tmp_path, journey={"csat_days": 5})
        journey = load_journey(settings)
        assert journey.names == default_journey().names
        [(csat, on)] = [(s, t) for s, t in journey.triggered_by("delivered") if s.name == "csat"]
        assert on.after == timedelta(days=5)

    @pytest.mark.parametrize("ref", [f"{__name__}:SMALL", f"{__name__}:small_journey"])
    def test_a_module_attribute_or_a_function_of_the_settings_selects_the_journey(self, tmp_path, ref, monkeypatch):
        monkeypatch.setenv("AFTERCARE_JOURNEY", ref)
        services = build_services(make_settings(tmp_path))
        assert services.journey is SMALL and services.sweeper.journey is SMALL and services.ingest.journey is SMALL
        services.engine.dispose()

    def test_an_entry_point_name_selects_a_registered_journey(self, tmp_path):
        assert load_journey(make_settings(tmp_path, journey_ref="default")).names == default_journey().names

    @pytest.mark.parametrize("ref", ["no_such_module:journey", f"{__name__}:nothing_here", "no-such-entry-point",
                                     f"{__name__}:TestTheJourneySetting"])
    def test_a_wrong_reference_fails_at_start_with_a_clear_error(self, tmp_path, ref):
        with pytest.raises(JourneyNotFound):
            load_journey(make_settings(tmp_path, journey_ref=ref))


def test_a_step_the_journey_no_longer_has_is_a_recorded_skip_not_a_failed_batch(tmp_path, clock, email, sms):
    old = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms)
    place_order(old, n=1)
    place_order(old, n=2)
    fulfil(old, 1)  # schedules `shipped` and `delay_notice` for order 1
    old.engine.dispose()
    without_shipped = Journey("smaller", default_steps(except_=("shipped",)))
    new = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms, journey=without_shipped)
    report = new.sweeper.run()

    assert sorted(m.step for m in email.sent) == ["confirmation", "confirmation"]  # the batch went on
    assert report.skipped[("shipped", "unknown_step")] == 1
    with new.session_factory() as session:
        shipped = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "shipped"))
        decision = session.scalar(select(DecisionLog).where(DecisionLog.step == "shipped"))
        held = session.scalar(select(func.count()).select_from(ScheduledStep)
                              .where(ScheduledStep.claimed_by.is_not(None)))
    assert (shipped.status, shipped.last_outcome, shipped.last_reason) == ("done", "skip", "unknown_step")
    assert (decision.outcome, decision.reason) == ("skip", "unknown_step")
    assert held == 0  # nothing left claimed
    with new.session_factory() as session:
        rows = {r.step: r for r in funnel(session, new.journey.names)}
    assert rows["shipped"].skipped["unknown_step"] == 1  # the funnel counts it like any skip
    new.engine.dispose()


EVENTS_SECRET = "store-events-test-secret"


def signed(body: dict) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(EVENTS_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Aftercare-Signature": f"sha256={digest}", "Content-Type": "application/json"}


class TestStoreEvents:
    @pytest.fixture
    def services(self, tmp_path, clock, email, sms):
        built = build_services(make_settings(tmp_path, events_webhook_secret=EVENTS_SECRET), clock=clock,
                               email=email, sms=sms, journey=SMALL)
        yield built
        built.engine.dispose()

    @pytest.fixture
    def client(self, services):
        return TestClient(create_app(lambda: services))

    def inbox_count(self, services) -> int:
        with services.session_factory() as session:
            return session.scalar(select(func.count()).select_from(InboxEvent))

    def test_a_signed_event_is_stored_schedules_its_step_and_a_replay_changes_nothing(self, services, client, email):
        place_order(services, customer=a_customer(1))
        event = {"name": "loyalty.tier_changed", "customer": "c1", "idempotency_key": "evt-1",
                 "occurred_at": START.isoformat(), "data": {"new_tier": "Gold", "new_rank": 2, "old_rank": 1}}
        raw, headers = signed(event)
        first = client.post("/webhooks/events", content=raw, headers=headers)
        again = client.post("/webhooks/events", content=raw, headers=headers)
        assert first.status_code == 200 and first.json() == {"status": "stored", "result": "store_event:1_scheduled"}
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        services.sweeper.run()
        assert [m.step for m in email.sent] == ["confirmation", "vip_welcome"]
        with services.session_factory() as session:
            key = session.scalar(select(Message.idempotency_key).where(Message.step == "vip_welcome"))
            step_row = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "vip_welcome"))
        assert key == "c1:vip_welcome:Gold:email" and step_row.scope == "customer" and step_row.occurrence == "Gold"
        assert step_row.payload["new_tier"] == "Gold"

    def test_the_python_call_takes_the_same_path(self, services, email):
        from aftercare.journeys import send_event

        place_order(services, customer=a_customer(1))
        data = {"new_tier": "Gold", "new_rank": 2, "old_rank": 1}
        assert send_event(services, "loyalty.tier_changed", customer="c1", data=data, idempotency_key="k1") \
            == "store_event:1_scheduled"
        assert send_event(services, "loyalty.tier_changed", customer="c1", data=data, idempotency_key="k1") \
            == "duplicate"
        services.clock.advance(timedelta(days=2))
        # The same tier again under a new key: a new event, but not a new occurrence.
        assert send_event(services, "loyalty.tier_changed", customer="c1", data=data, idempotency_key="k2") \
            == "store_event:0_scheduled"

    def test_an_event_for_a_customer_without_an_order_waits_in_the_inbox(self, services):
        from aftercare.journeys import send_event

        note = send_event(services, "loyalty.tier_changed", customer="c9", idempotency_key="early",
                          data={"new_tier": "Gold", "new_rank": 2, "old_rank": 1})
        assert note == "pending"
        assert self.inbox_count(services) == 1

    @pytest.mark.parametrize("headers", [{}, {"X-Aftercare-Signature": "sha256=00"},
                                         {"X-Aftercare-Signature": "deadbeef"}])
    def test_a_bad_signature_is_refused_and_changes_nothing(self, services, client, headers):
        raw, _ = signed({"name": "loyalty.tier_changed", "customer": "c1", "idempotency_key": "x"})
        response = client.post("/webhooks/events", content=raw, headers=headers)
        assert response.status_code == 401 and self.inbox_count(services) == 0

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"name": "NoNamespace", "customer": "c1",
                                                                           "idempotency_key": "x"}).encode(),
                                      json.dumps({"name": "loyalty.tier_changed", "customer": "c1"}).encode()])
    def test_a_body_we_cannot_read_is_a_400_and_changes_nothing(self, services, client, body):
        digest = hmac.new(EVENTS_SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = client.post("/webhooks/events", content=body, headers={"X-Aftercare-Signature": f"sha256={digest}"})
        assert response.status_code == 400 and self.inbox_count(services) == 0

    def test_without_a_secret_the_endpoint_refuses_everything(self, tmp_path, clock, email, sms):
        services = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms)
        raw, headers = signed({"name": "loyalty.tier_changed", "customer": "c1", "idempotency_key": "x"})
        assert TestClient(create_app(lambda: services)).post("/webhooks/events", content=raw,
                                                             headers=headers).status_code == 401
        services.engine.dispose()


# The upgrade from the schema before occurrences -----------------------------------------------------------
BEFORE_OCCURRENCES = "0005_ledger_reconcile"  # the head before 0006 added scope and occurrence


def _seed_before_occurrences(url: str) -> None:
    """A store at the revision before occurrences (rows written with the columns that schema has): an order
    whose confirmation and shipping messages were sent, and whose shipping step is still pending (the sweep
    that sent it crashed before settling)."""
    from alembic import command

    engine = make_engine(url)
    command.upgrade(alembic_config(engine), BEFORE_OCCURRENCES)
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    now = START
    with engine.begin() as conn:
        conn.execute(insert(t["customers"]).values(id=1, external_id="c1", email="c1@example.com", email_valid=True,
                                                   phone="+12125550001", phone_valid=True, first_name="Alex",
                                                   locale="en", timezone="America/New_York", loyalty_tier="member",
                                                   points_balance=0, points_expiring=0, created_at=now))
        conn.execute(insert(t["consents"]), [
            {"customer_id": 1, "channel": c, "purpose": p, "granted": True, "source": "checkout", "recorded_at": now}
            for c, p in (("email", "marketing"), ("sms", "marketing"), ("sms", "transactional"))])
        conn.execute(insert(t["orders"]).values(id=1, external_id="o1", number="#1001", customer_id=1, placed_at=now,
                                                currency="USD", subtotal=10, discount_total=0, discount_codes=[],
                                                shipping_total=0, tax_total=0, total=10, payment_summary="Visa",
                                                status="fulfilled", points_earned=10))
        conn.execute(insert(t["order_items"]).values(order_id=1, product_id="sku-a", title="A", category="general",
                                                     quantity=1, unit_price=10))
        conn.execute(insert(t["shipments"]).values(external_id="s1", order_id=1, status="fulfilled", shipped_at=now,
                                                   last_event_at=now))
        conn.execute(insert(t["journeys"]).values(id=1, order_id=1, customer_id=1, started_at=now, status="active"))
        steps = [(1, "confirmation", "done", "order_placed"), (2, "shipped", "pending", "fulfilled")]
        conn.execute(insert(t["scheduled_steps"]), [
            {"id": i, "journey_id": 1, "customer_id": 1, "order_id": 1, "step": name, "status": status,
             "trigger": trigger, "due_at": now, "first_due_at": now, "attempts": 1, "updated_at": now}
            for i, name, status, trigger in steps])
        conn.execute(insert(t["messages"]), [
            {"idempotency_key": f"j1:{name}:{channel}", "step_id": step_id, "journey_id": 1, "customer_id": 1,
             "order_id": 1, "step": name, "purpose": "transactional", "channel": channel, "status": "sent",
             "provider_message_id": f"p-{name}-{channel}", "attempts": 1, "created_at": now, "sent_at": now,
             "status_at": now}
            for step_id, name, channel in ((1, "confirmation", "email"), (2, "shipped", "email"),
                                           (2, "shipped", "sms"))])
    engine.dispose()


def _upgrade_and_sweep(url: str, tmp_path: Path, clock, email, sms) -> None:
    _seed_before_occurrences(url)
    services = build_services(make_settings(tmp_path, database_url=url), clock=clock, email=email, sms=sms)
    try:
        report = services.sweeper.run()
        services.sweeper.run()
        assert email.sent == [] and sms.sent == []  # nothing resent
        assert report.claimed == 1  # the shipping step, decided again: its messages' keys are taken
        with services.session_factory() as session:
            rows = {(s.step, s.scope, s.occurrence, s.status) for s in session.scalars(select(ScheduledStep))}
            keys = sorted(session.scalars(select(Message.idempotency_key)))
        assert ("shipped", "order", "", "done") in rows and ("confirmation", "order", "", "done") in rows
        assert keys == ["j1:confirmation:email", "j1:shipped:email", "j1:shipped:sms"]
    finally:
        services.engine.dispose()


def test_an_upgraded_database_with_sent_messages_resends_nothing_sqlite(tmp_path, clock, email, sms):
    _upgrade_and_sweep(f"sqlite:///{(tmp_path / 'old.db').as_posix()}", tmp_path, clock, email, sms)


@pytest.mark.postgres
def test_an_upgraded_database_with_sent_messages_resends_nothing_postgres(pg_url, tmp_path, clock, email, sms):
    from sqlalchemy import text

    engine = make_engine(pg_url)
    with engine.begin() as conn:  # the fixture migrated it to head: start again from an empty schema
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    _upgrade_and_sweep(pg_url, tmp_path, clock, email, sms)
