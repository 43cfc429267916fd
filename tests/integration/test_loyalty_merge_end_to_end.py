"""End to end with fake providers: a points reminder due a few hours after a win-back rides along with it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftercare.db.models import Message
from tests.conftest import run_until
from tests.journeys import a_customer, fulfil, place_order, track


def test_one_win_back_carries_the_points_reminder_and_the_reminder_is_skipped_as_merged(
    services, clock, email, sms
):
    delivered_at = clock.now() + timedelta(days=2)
    # The 7-day points reminder falls due 3 hours after winback_1 (90 days after delivery).
    expire_at = delivered_at + timedelta(days=90 + 7, hours=3)
    customer = a_customer(1, points_expiring=150, points_expire_at=expire_at, points_balance=400)
    place_order(services, n=1, customer=customer)
    fulfil(services, 1)
    clock.advance(timedelta(days=2))
    track(services, "delivered", 1)
    run_until(services, clock, delivered_at + timedelta(days=89), tick=timedelta(hours=12))
    run_until(services, clock, delivered_at + timedelta(days=91), tick=timedelta(hours=1))

    winback = [m for m in email.sent + sms.sent if m.step == "winback_1"]
    assert len(winback) == 1
    body = getattr(winback[0], "text", None) or winback[0].body
    assert "150" in body and "expire" in body
    assert not [m for m in email.sent + sms.sent if m.step == "points_expiry_7"]
    with services.session_factory() as session:
        row = session.execute(
            select(Message.status, Message.reason).where(Message.step == "points_expiry_7")
        ).one()
    assert tuple(row) == ("skipped", "merged_into_other_message")
    # The 30-day reminder, weeks earlier, went out on its own.
    assert [m.step for m in email.sent + sms.sent if m.step == "points_expiry_30"] == ["points_expiry_30"]


def test_a_points_reminder_with_no_win_back_nearby_goes_out_on_its_own(services, clock, email, sms):
    expire_at = clock.now() + timedelta(days=27)
    customer = a_customer(1, points_expiring=150, points_expire_at=expire_at, points_balance=400)
    place_order(services, n=1, customer=customer)
    fulfil(services, 1)
    clock.advance(timedelta(days=2))
    track(services, "delivered", 1)
    run_until(services, clock, expire_at, tick=timedelta(hours=3))
    # The 30-day reminder is overdue at the order (but inside its expiry), so it goes out at once; the 7-day one
    # on time.
    reminders = [m.step for m in email.sent + sms.sent if m.step.startswith("points_expiry")]
    assert reminders == ["points_expiry_30", "points_expiry_7"]
