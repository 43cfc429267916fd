"""explain, status, the daily report and the win-back rescan, on a small seeded database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from aftercare.db.models import ScheduledStep
from aftercare.services.daily_report import daily_report, to_markdown
from aftercare.services.explain import OrderNotFound, explain
from aftercare.services.status import status
from aftercare.services.winback_scan import rescan
from tests.conftest import START
from tests.journeys import a_customer, answer_csat, fulfil, place_order, track


def test_explain_finds_an_order_by_id_number_or_external_id_and_shows_decisions_and_messages(services, clock):
    order_id = place_order(services, n=42)
    services.sweeper.run()
    with services.session_factory() as session:
        by_id = explain(session, str(order_id))
        by_number = explain(session, "#1042")
        by_bare_number = explain(session, "1042")
        by_external = explain(session, "o42")
    assert by_id.order_id == by_number.order_id == by_bare_number.order_id == by_external.order_id == order_id
    confirmation = next(s for s in by_id.steps if s.step == "confirmation")
    assert [d.outcome for d in confirmation.decisions] == ["send"]
    [message] = confirmation.messages
    assert message.status == "sent" and message.provider_message_id and message.template == "en/confirmation.email"
    assert by_id.customer_timezone == "America/New_York"
    assert "@example.com" not in (by_id.email_masked or "") and "5550042" not in (by_id.phone_masked or "")


def test_explain_an_unknown_order_is_a_clear_error(services):
    with services.session_factory() as session, pytest.raises(OrderNotFound):
        explain(session, "#9999")


def test_explain_records_a_skip_with_its_reason(services, clock):
    place_order(services, customer=a_customer(1, consents=()))
    fulfil(services)
    track(services, "delivered")
    clock.advance(timedelta(days=1, hours=1))
    services.sweeper.run()
    with services.session_factory() as session:
        guide = next(s for s in explain(session, "o1").steps if s.step == "setup_guide")
    assert [(d.outcome, d.reason) for d in guide.decisions] == [("skip", "no_marketing_consent")]
    assert guide.messages[0].status == "skipped"


def test_status_counts_the_backlog_and_the_oldest_overdue_step(services, clock):
    for n in range(1, 4):
        place_order(services, n=n)
    clock.advance(timedelta(minutes=30))
    with services.session_factory() as session:
        report = status(session, clock.now(), services.journey.names)
    [row] = [r for r in report.queue if r.step == "confirmation"]
    assert row.due == 3 and report.due_total == 3
    assert report.oldest_overdue is not None and report.oldest_overdue.lag == timedelta(minutes=30)
    services.sweeper.run()
    with services.session_factory() as session:
        after = status(session, clock.now())
    assert after.due_total == 0 and after.oldest_overdue is None and after.failures == {}


def test_the_daily_report_counts_csat_reviews_and_winback_recovery(services, clock):
    order_id = place_order(services)
    fulfil(services)
    track(services, "delivered")
    services.sweeper.run()
    clock.advance(timedelta(days=3, hours=1))
    services.sweeper.run()
    answer_csat(services, order_id, 5)
    clock.advance(timedelta(days=2, hours=1))
    services.sweeper.run()  # the review request goes out
    with services.session_factory() as session, session.begin():
        services.ingest.record_review(session, customer_id=1, product_id="sku-a", rating=5, at=clock.now(),
                                      order_id=order_id)
    clock.advance(timedelta(days=90))
    services.sweeper.run()  # winback_1 goes out
    clock.advance(timedelta(days=10))
    place_order(services, n=2, customer=a_customer(1))  # back within 30 days
    with services.session_factory() as session:
        report = daily_report(session, journey=services.journey, now=clock.now())
    assert report.csat == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}
    assert (report.review_conversion.numerator, report.review_conversion.denominator) == (1, 1)
    assert (report.winback_recovery.numerator, report.winback_recovery.denominator) == (1, 1)
    markdown = to_markdown(report)
    assert "| 5 | 1 | 100.0% |" in markdown and "1 / 1 (100.0%)" in markdown and "| confirmation |" in markdown
    assert "## Lift per step" in markdown  # the holdout lift table rides in the daily report
    assert "@" not in markdown


def test_the_winback_rescan_restores_missing_steps_once_and_only_winback(services, clock):
    for n in (1, 2):
        place_order(services, n=n)
        fulfil(services, n)
        track(services, "delivered", n)
    place_order(services, n=3)  # not delivered: no win-back
    with services.session_factory() as session, session.begin():
        session.execute(delete(ScheduledStep).where(ScheduledStep.step == "winback_1"))
        before = session.scalar(select(func.count()).select_from(ScheduledStep))
    with services.session_factory() as session, session.begin():
        assert rescan(session, services.journey, clock.now(), batch_size=1) == 2
    with services.session_factory() as session, session.begin():
        assert rescan(session, services.journey, clock.now()) == 0
        steps = session.scalars(select(ScheduledStep).where(ScheduledStep.step == "winback_1")).all()
        after = session.scalar(select(func.count()).select_from(ScheduledStep))
    assert after == before + 2
    assert {s.due_at for s in steps} == {START + timedelta(days=90)}


def test_the_winback_rescan_looks_only_at_the_newest_order(services, clock):
    place_order(services, n=1)
    fulfil(services, 1)
    track(services, "delivered", 1)
    clock.advance(timedelta(days=5))
    place_order(services, n=2, customer=a_customer(1))  # newer, not delivered: win-back waits for it
    with services.session_factory() as session, session.begin():
        assert rescan(session, services.journey, clock.now()) == 0
        open_winback = session.scalar(select(func.count()).select_from(ScheduledStep).where(
            ScheduledStep.step == "winback_1", ScheduledStep.status == "pending"))
    assert open_winback == 0  # the first order's win-back was cancelled by the new order
