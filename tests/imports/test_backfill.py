"""The scheduler's backfill: an imported step due by the import is recorded, never sent; later live events
for the same order behave exactly as without the import."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from aftercare.clock import as_utc
from aftercare.db.models import DecisionLog, Message, ScheduledStep
from aftercare.services.commands import FulfillmentIn
from tests.journeys import a_customer, place_order, track


def _steps(services) -> dict[str, ScheduledStep]:
    with services.session_factory() as session:
        return {s.step: s for s in session.scalars(select(ScheduledStep))}


def _importing(services):
    """The same services, ingesting as a history import does at this moment."""
    return replace(services, ingest=services.ingest.importing(services.clock.now()))


def test_an_imported_order_is_backfilled_and_its_live_shipment_later_is_sent(services, clock, email, sms):
    now = clock.now()
    place_order(_importing(services), at=now - timedelta(hours=3))
    steps = _steps(services)
    assert (steps["confirmation"].status, steps["confirmation"].last_reason) == ("done", "backfilled")
    with services.session_factory() as session:
        [decision] = session.scalars(select(DecisionLog).where(DecisionLog.step == "confirmation")).all()
        assert (decision.outcome, decision.reason, as_utc(decision.decided_at)) == ("backfill", "backfilled", now)
    services.sweeper.run()
    assert email.sent == [] and sms.sent == []
    assert services.ingest.backfill_until is None  # the live ingestion is not an import

    clock.advance(timedelta(hours=1))  # the store ships it: a live webhook, after the import
    with services.session_factory() as session, session.begin():
        services.ingest.record_fulfillment(session, FulfillmentIn("s1", "o1", clock.now()), clock.now())
    clock.advance(timedelta(minutes=5))
    services.sweeper.run()
    assert [m.step for m in email.sent] == ["shipped"]
    clock.advance(timedelta(hours=2))  # 13:05 in New York: a delivered notice's SMS waits for the morning
    track(services, "delivered")
    services.sweeper.run()
    assert [m.step for m in email.sent] == ["shipped", "delivered_notice"]


def test_a_step_due_a_minute_after_the_import_is_scheduled_not_backfilled(services, clock, email):
    now = clock.now()
    place_order(_importing(services), at=now + timedelta(minutes=1))  # a clock a little ahead of ours
    assert _steps(services)["confirmation"].status == "pending"
    clock.advance(timedelta(minutes=2))
    services.sweeper.run()
    assert [m.step for m in email.sent] == ["confirmation"]


def test_a_step_moved_into_the_past_by_an_imported_event_is_backfilled_too(services, clock, email):
    now = clock.now()
    importing = _importing(services)
    place_order(importing, at=now - timedelta(days=20))
    with services.session_factory() as session, session.begin():
        importing.ingest.record_fulfillment(session, FulfillmentIn("s1", "o1", now - timedelta(days=19),
                                                                   promised_at=now + timedelta(days=2)), now)
    assert _steps(services)["delay_notice"].status == "pending"  # promised in two days: still ahead
    with services.session_factory() as session, session.begin():
        importing.ingest.record_tracking(session, shipment_external_id="s1", order_external_id="o1",
                                         status="delayed", at=now - timedelta(days=18), now=now)
    steps = _steps(services)
    assert (steps["delay_notice"].status, steps["delay_notice"].last_reason) == ("done", "backfilled")
    services.sweeper.run()
    assert email.sent == []


def test_an_older_imported_order_never_stops_the_newer_orders_win_back(services, clock):
    now = clock.now()
    importing = _importing(services)
    place_order(importing, n=2, at=now - timedelta(days=30))
    with services.session_factory() as session, session.begin():
        importing.ingest.record_fulfillment(session, FulfillmentIn("s2", "o2", now - timedelta(days=29)), now)
        importing.ingest.record_tracking(session, shipment_external_id="s2", order_external_id="o2",
                                         status="delivered", at=now - timedelta(days=27), now=now)
    place_order(importing, n=3, at=now - timedelta(days=200), customer=a_customer(2))  # imported later, older
    with services.session_factory() as session:
        winbacks = session.scalars(select(ScheduledStep).where(ScheduledStep.step == "winback_1")).all()
    assert [(w.order_id, w.status) for w in winbacks] == [(1, "pending")]


def test_a_forced_rerun_sends_a_backfilled_step_still_within_its_expiry_on_purpose(services, clock, email):
    from aftercare.services.rerun import make_due

    place_order(_importing(services), at=clock.now() - timedelta(hours=3))
    services.sweeper.run()
    assert email.sent == []
    with services.session_factory() as session, session.begin():
        journey_id = session.scalar(select(ScheduledStep.journey_id).limit(1))
        assert make_due(session, journey_id, "confirmation", reopen_skipped=True, now=clock.now()) == 1
    services.sweeper.run()
    assert [m.step for m in email.sent] == ["confirmation"]


def test_an_imported_restock_reminder_goes_out_when_the_product_runs_out_and_a_stale_one_never(
        services, clock, email):
    """A restock reminder decides its own time (the product's run-out date), so an import leaves it open:
    bought 10 days ago with a 30-day cycle, it goes out about 5 days before day 30; bought 200 days ago, it
    is stale and never sent."""
    from decimal import Decimal

    from aftercare.db.models import Product
    from aftercare.services.commands import ItemIn
    from tests.conftest import run_until

    with services.session_factory() as session, session.begin():
        session.merge(Product(id="sku-beans", title="House Beans", category="coffee", use_cycle_days=30))
    now = clock.now()
    importing = _importing(services)
    beans = (ItemIn("sku-beans", "House Beans", 1, Decimal("24.50"), "coffee"),)
    for n, delivered_days_ago in ((1, 10), (2, 200)):
        delivered = now - timedelta(days=delivered_days_ago)
        place_order(importing, n=n, at=delivered - timedelta(days=3), items=beans,
                    customer=a_customer(n, phone=None))
        with services.session_factory() as session, session.begin():
            importing.ingest.record_fulfillment(session, FulfillmentIn(f"s{n}", f"o{n}", delivered - timedelta(days=2)),
                                                now)
            importing.ingest.record_tracking(session, shipment_external_id=f"s{n}", order_external_id=f"o{n}",
                                             status="delivered", at=delivered, now=now)
    steps = {(s.order_id, s.step): s for s in _all_steps(services)}
    assert {s.status for (_, name), s in steps.items() if name == "restock_reminder"} == {"pending"}
    assert steps[(1, "confirmation")].last_reason == "backfilled"

    run_until(services, clock, now + timedelta(days=40), tick=timedelta(hours=12))
    reminders = [m for m in email.sent if m.step == "restock_reminder"]
    assert [m.to for m in reminders] == ["c1@example.com"]  # the stale one (order 2) never went out
    with services.session_factory() as session:
        [sent_at] = session.scalars(select(Message.sent_at).where(Message.step == "restock_reminder",
                                                                  Message.status == "sent")).all()
    runs_out = now + timedelta(days=20)
    assert runs_out - timedelta(days=5) <= as_utc(sent_at) <= runs_out - timedelta(days=4)


def _all_steps(services) -> list[ScheduledStep]:
    with services.session_factory() as session:
        return list(session.scalars(select(ScheduledStep)))
