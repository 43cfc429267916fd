"""A whole journey through simulated time with recording fakes: each step at the right time, in the
right locale and channel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftercare.db.models import Customer, DecisionLog, Message, RecoveryCase, ScheduledStep
from tests.conftest import START, run_until
from tests.journeys import a_customer, answer_csat, fulfil, place_order, resolve, track


def steps_sent(email, sms) -> list[tuple[str, str]]:
    return [(m.step, "email") for m in email.sent] + [(m.step, "sms") for m in sms.sent]


def test_confirmation_goes_out_at_once_in_the_customers_language(services, clock, email, sms):
    place_order(services, customer=a_customer(1, locale="ko", timezone="Asia/Seoul", region="KR",
                                              phone="+821055551234"))
    services.sweeper.run()
    [confirmation] = email.sent
    assert confirmation.step == "confirmation" and confirmation.locale == "ko"
    assert confirmation.to == "c1@example.com"
    assert "#1001" in confirmation.html and "#1001" in confirmation.text
    assert not confirmation.marketing
    assert sms.sent == []  # confirmation is email only


def test_happy_path_every_step_at_its_time(services, clock, email, sms):
    order_id = place_order(services)
    run_until(services, clock, START + timedelta(days=1))
    fulfil(services)
    run_until(services, clock, clock.now() + timedelta(hours=1))
    assert steps_sent(email, sms) == [("confirmation", "email"), ("shipped", "email"), ("shipped", "sms")]
    assert "https://ups.example/1" in email.sent[1].html and "https://ups.example/1" in sms.sent[0].body

    run_until(services, clock, clock.now() + timedelta(days=2))
    track(services, "delivered")
    delivered_at = clock.now()
    run_until(services, clock, delivered_at + timedelta(hours=1))
    assert ("delivered_notice", "email") in steps_sent(email, sms)

    run_until(services, clock, delivered_at + timedelta(days=1, hours=1))
    assert [m.step for m in email.sent][-1] == "setup_guide"
    run_until(services, clock, delivered_at + timedelta(days=3, hours=1))
    assert sms.sent[-1].step == "csat" and sms.sent[-1].marketing  # SMS preferred, local daytime

    answer_csat(services, order_id, 5)
    answered = clock.now()
    run_until(services, clock, answered + timedelta(days=2) - timedelta(hours=2))
    assert "review_request" not in [s for s, _ in steps_sent(email, sms)]
    run_until(services, clock, answered + timedelta(days=2, hours=1))
    assert [s for s, _ in steps_sent(email, sms)].count("review_request") == 1
    # The delay notice was due after the promise; delivery came first, so it was skipped with a reason.
    with services.session_factory() as session:
        delay = session.scalar(select(Message).where(Message.step == "delay_notice"))
    assert delay is not None and delay.status == "skipped" and delay.reason == "delivered_on_time"


def test_unhappy_csat_gets_service_recovery_then_a_review_only_after_resolution(services, clock, email, sms):
    order_id = place_order(services)
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=3, hours=2))
    answer_csat(services, order_id, 1)
    run_until(services, clock, clock.now() + timedelta(hours=1))
    by_step = {m.step: m for m in email.sent}
    assert by_step["service_recovery"].to == "c1@example.com"
    # Support is told, with a signed link that resolves the case (and no contact details of the customer).
    notice = by_step["recovery_notice"]
    assert notice.to == services.settings.support_email and "/recovery/resolve?t=" in notice.text
    assert "c1@example.com" not in notice.text and "Alex" not in notice.text and not notice.marketing
    with services.session_factory() as session:
        case = session.scalar(select(RecoveryCase))
        customer = session.scalar(select(Customer))
    assert case.needs_follow_up and case.goodwill_points == 200
    assert customer.points_balance >= 200
    # Inside the recovery window, before the no-answer date: no review request yet.
    run_until(services, clock, START + timedelta(days=9), tick=timedelta(hours=6))
    assert "review_request" not in [s for s, _ in steps_sent(email, sms)]
    resolve(services, order_id)
    resolved = clock.now()
    # Resolution brings the request forward: a day after it, well before the no-answer date (day 14).
    run_until(services, clock, resolved + timedelta(days=1, hours=1))
    assert [s for s, _ in steps_sent(email, sms)].count("review_request") == 1
    with services.session_factory() as session:
        review = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "review_request"))
    assert review.trigger == "recovery_resolved" and review.status == "done"


def test_no_csat_answer_gets_one_review_request_fourteen_days_after_delivery(services, clock, email, sms):
    place_order(services)
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=14) - timedelta(hours=1), tick=timedelta(hours=3))
    assert "review_request" not in [s for s, _ in steps_sent(email, sms)]
    run_until(services, clock, START + timedelta(days=14, hours=13), tick=timedelta(hours=1))
    assert [s for s, _ in steps_sent(email, sms)].count("review_request") == 1


def test_late_delivery_gets_a_proactive_delay_notice(services, clock, email, sms):
    place_order(services)
    fulfil(services, promised_in=timedelta(days=2))  # promised for 4 March (New York)
    run_until(services, clock, START + timedelta(days=2))
    track(services, "in_transit")  # it moves: not stalled, only late
    # The grace (12 h) counts from the end of the promised day in the customer's zone: 5 March 00:00 EST.
    run_until(services, clock, START + timedelta(days=3, hours=1))  # 5 March 11:00 EST
    assert "delay_notice" not in [s for s, _ in steps_sent(email, sms)]
    run_until(services, clock, START + timedelta(days=3, hours=3))
    assert ("delay_notice", "email") in steps_sent(email, sms) and ("delay_notice", "sms") in steps_sent(email, sms)


def test_carrier_exception_sends_the_delay_notice_at_once_and_only_once(services, clock, email, sms):
    place_order(services)
    fulfil(services)
    run_until(services, clock, START + timedelta(hours=5))
    track(services, "delayed")
    run_until(services, clock, START + timedelta(days=5))
    assert [s for s, c in steps_sent(email, sms) if c == "email"].count("delay_notice") == 1


def test_cancelled_order_gets_only_a_cancellation_notice(services, clock, email, sms):
    place_order(services)
    with services.session_factory() as session, session.begin():
        services.ingest.cancel_order(session, "o1", clock.now(), clock.now())
    run_until(services, clock, START + timedelta(hours=2))
    assert [m.step for m in email.sent] == ["cancellation_notice"]
    with services.session_factory() as session:
        confirmation = session.scalar(select(Message).where(Message.step == "confirmation"))
    assert confirmation.status == "skipped" and confirmation.reason == "order_cancelled"


def test_marketing_sms_due_at_night_waits_for_local_morning(services, clock, email, sms):
    # START is 15:00 UTC = midnight in Seoul: the CSAT survey falls due at night there.
    place_order(services, customer=a_customer(1, locale="ko", timezone="Asia/Seoul", region="KR",
                                              phone="+821055551234"))
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=3, hours=7))  # 07:00 in Seoul
    assert [m for m in sms.sent if m.step == "csat"] == []
    run_until(services, clock, START + timedelta(days=3, hours=9))  # 09:00 in Seoul
    [csat] = [m for m in sms.sent if m.step == "csat"]
    assert csat.locale == "ko" and csat.to == "+821055551234"


def test_win_back_sequence_after_lapse_and_a_new_order_stops_it(services, clock, email, sms):
    place_order(services)
    fulfil(services)
    track(services, "delivered")
    delivered = clock.now()
    run_until(services, clock, delivered + timedelta(days=90, hours=1), tick=timedelta(hours=12))
    winbacks = [m for m in email.sent if m.step.startswith("winback")]
    assert [m.step for m in winbacks] == ["winback_1"]
    run_until(services, clock, delivered + timedelta(days=97, hours=13), tick=timedelta(hours=12))
    assert [m.step for m in email.sent if m.step.startswith("winback")] == ["winback_1", "winback_2"]
    place_order(services, n=2, customer=a_customer(1))  # the same customer comes back
    run_until(services, clock, delivered + timedelta(days=130), tick=timedelta(hours=12))
    assert [m.step for m in email.sent if m.step.startswith("winback")] == ["winback_1", "winback_2"]
    with services.session_factory() as session:
        third = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "winback_3"))
    assert third.status == "cancelled" and third.last_reason == "new_order"


def test_frequency_cap_defers_a_second_marketing_message_and_records_why(services, clock, email, sms):
    order_id = place_order(services)
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=3, hours=1))  # setup guide (day 1) and CSAT (day 3)
    answer_csat(services, order_id, 5)  # review due in 2 days
    with services.session_factory() as session:
        defers = session.scalars(select(DecisionLog.reason).where(DecisionLog.outcome == "defer")).all()
    marketing = [m for m in email.sent + sms.sent if m.marketing]
    assert len(marketing) == 2
    assert set(defers) <= {"frequency_cap", "quiet_hours"}


def test_every_decision_is_logged_with_its_reason(services, clock):
    place_order(services, customer=a_customer(1, consents=()))
    fulfil(services)
    track(services, "delivered")
    run_until(services, clock, START + timedelta(days=2))
    with services.session_factory() as session:
        rows = session.execute(select(DecisionLog.step, DecisionLog.outcome, DecisionLog.reason)).all()
    assert ("setup_guide", "skip", "no_marketing_consent") in rows
    assert ("confirmation", "send", None) in rows


def test_a_points_reminder_is_scheduled_once_per_customer_even_with_two_orders(services, clock, email, sms):
    expiring = dict(points_expiring=150, points_expire_at=START + timedelta(days=40))
    place_order(services, n=1, customer=a_customer(1, **expiring))
    place_order(services, n=2, customer=a_customer(1, **expiring))
    run_until(services, clock, START + timedelta(days=11), tick=timedelta(hours=6))
    reminders = [m for m in email.sent + sms.sent if m.step == "points_expiry_30"]
    assert len(reminders) == 1
