"""Through time: a catch-up sweep sends nothing stale (issue 11 item 17), and an unresolved service-recovery case
holds a customer's review request and promotions only until the recovery window ends (item 19)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftercare.db.models import DecisionLog, Message, ScheduledStep
from tests.conftest import START, run_until
from tests.journeys import a_customer, answer_csat, fulfil, place_order, resolve, track


def sent_steps(email, sms) -> list[str]:
    return [m.step for m in email.sent + sms.sent]


def ledger(services, step: str) -> list[tuple[str, str | None]]:
    with services.session_factory() as session:
        return [(m.status, m.reason) for m in session.scalars(select(Message).where(Message.step == step))]


def test_a_catch_up_sweep_after_a_long_outage_sends_nothing_stale(services, clock, email, sms):
    # Points that expire during the outage: their reminders must not go out afterwards.
    customer = a_customer(1, points_expiring=150, points_balance=400, points_expire_at=START + timedelta(days=5))
    place_order(services, customer=customer)
    clock.advance(timedelta(hours=2))
    fulfil(services)
    # No sweep runs for six days (the outage); the parcel is delivered on day 5.
    clock.advance(timedelta(days=5))
    track(services, "delivered")
    clock.advance(timedelta(days=1))
    services.sweeper.run()

    sent = sent_steps(email, sms)
    assert "delivered_notice" in sent
    assert "shipped" not in sent  # six days old, and superseded by the delivered notice
    assert "confirmation" not in sent  # six days old
    assert not [s for s in sent if s.startswith("points_expiry")]  # the points are gone
    assert ledger(services, "shipped") == [("skipped", "expired")]
    assert ledger(services, "confirmation") == [("skipped", "expired")]
    assert set(ledger(services, "points_expiry_7")) <= {("skipped", "expired"), ("skipped", "points_expired")}


def test_a_shipped_notice_not_yet_sent_when_the_parcel_arrives_is_superseded_by_the_delivered_notice(
        services, clock, email, sms):
    place_order(services)
    services.sweeper.run()
    clock.advance(timedelta(hours=2))
    fulfil(services)
    clock.advance(timedelta(hours=20))  # the sweeps were down; the parcel arrived meanwhile
    track(services, "delivered")
    services.sweeper.run()
    assert "shipped" not in sent_steps(email, sms) and "delivered_notice" in sent_steps(email, sms)
    assert set(ledger(services, "shipped")) == {("skipped", "already_delivered")}


def _unhappy_at(services, clock, day: float) -> int:
    """An order delivered at START whose customer answers CSAT 1 on `day`; returns the order id."""
    order_id = place_order(services, customer=a_customer(
        1, points_expiring=150, points_balance=400, points_expire_at=START + timedelta(days=36)))
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=day), tick=timedelta(hours=6))
    answer_csat(services, order_id, 1)
    return order_id


def test_an_unresolved_case_releases_the_review_request_when_the_recovery_window_ends(services, clock, email, sms):
    _unhappy_at(services, clock, 12)  # a late answer: the review request (day 14) falls inside the window
    answered = clock.now()
    run_until(services, clock, answered + timedelta(days=7) - timedelta(hours=1), tick=timedelta(hours=6))
    assert "review_request" not in sent_steps(email, sms)
    with services.session_factory() as session:
        review = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "review_request"))
    assert review.status == "pending" and review.last_reason == "awaiting_service_recovery"
    # Nobody resolved the case: once the window is over the customer is asked like everyone else.
    run_until(services, clock, answered + timedelta(days=7, hours=2))
    assert sent_steps(email, sms).count("review_request") == 1


def test_promotions_wait_for_an_open_case_and_go_out_once_it_resolves(services, clock, email, sms):
    order_id = _unhappy_at(services, clock, 3)  # the 30-day points reminder is due on day 6
    run_until(services, clock, START + timedelta(days=7), tick=timedelta(hours=2))
    assert "points_expiry_30" not in sent_steps(email, sms)
    with services.session_factory() as session:
        held = session.execute(select(DecisionLog.outcome, DecisionLog.reason)
                               .where(DecisionLog.step == "points_expiry_30")).all()
    assert held and set(held) == {("defer", "service_recovery_open")}
    resolve(services, order_id)
    run_until(services, clock, clock.now() + timedelta(hours=1))
    assert sent_steps(email, sms).count("points_expiry_30") == 1


def test_promotions_held_by_a_case_nobody_resolves_go_out_when_the_window_ends(services, clock, email, sms):
    _unhappy_at(services, clock, 3)
    answered = clock.now()
    run_until(services, clock, answered + timedelta(days=7) - timedelta(hours=1), tick=timedelta(hours=2))
    assert "points_expiry_30" not in sent_steps(email, sms)
    run_until(services, clock, answered + timedelta(days=7, hours=1))
    assert sent_steps(email, sms).count("points_expiry_30") == 1


def test_review_requests_left_waiting_by_the_old_rule_are_released_by_the_migration(services, clock, email, sms):
    from alembic import command
    from sqlalchemy import delete, update

    from aftercare.db.engine import alembic_config

    _unhappy_at(services, clock, 3)
    with services.session_factory() as session, session.begin():  # what the old code left behind
        session.execute(update(ScheduledStep).where(ScheduledStep.step == "review_request")
                        .values(status="waiting", last_reason="awaiting_service_recovery"))
    run_until(services, clock, START + timedelta(days=15), tick=timedelta(hours=6))
    assert "review_request" not in sent_steps(email, sms)  # stuck, as in the replay
    with services.session_factory() as session, session.begin():
        # The schema before 0006 holds one row per (journey, step): per-item rows (the restock reminder's, one
        # per product) have no place in it, so they go before the downgrade.
        many = select(ScheduledStep.id).where(ScheduledStep.occurrence != "").scalar_subquery()
        session.execute(delete(DecisionLog).where(DecisionLog.step_id.in_(many)))
        session.execute(delete(Message).where(Message.step_id.in_(many)))
        session.execute(delete(ScheduledStep).where(ScheduledStep.occurrence != ""))
    config = alembic_config(services.engine)
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    run_until(services, clock, clock.now() + timedelta(hours=1))
    assert sent_steps(email, sms).count("review_request") == 1
