"""Two delay notices about one slip falling due in the same sweep batch: one goes, the other is skipped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.db.models import Message
from aftercare.settings import JourneyTimings
from tests.conftest import START, make_settings, run_until
from tests.journeys import fulfil, place_order


def test_a_stall_and_the_passed_promise_due_in_one_batch_send_one_notice(tmp_path, clock, email, sms):
    # Promised for Tuesday 3 March (New York): the day ends Wednesday 05:00 UTC, the notice is due 12 h later,
    # Wednesday 17:00 UTC; shipped Monday 15:00 UTC and stalled 2 days 2 hours later: the same moment.
    timings = JourneyTimings(transit_stalled_days=2 + 2 / 24)
    services = build_services(make_settings(tmp_path, journey=timings), clock=clock, email=email, sms=sms)
    place_order(services, promise="2026-03-03")
    fulfil(services, promised_in=timedelta(hours=1))  # the carrier's estimate: no later day
    run_until(services, clock, START + timedelta(days=4))
    told = [m.step for m in email.sent if m.step in ("delay_notice", "transit_stalled")]
    assert len(told) == 1, told  # one notice, not two
    assert [m.step for m in sms.sent if m.step in ("delay_notice", "transit_stalled")] == told
    with services.session_factory() as session:
        reasons = {(m.step, m.reason) for m in session.scalars(select(Message).where(Message.status == "skipped"))}
    assert ("delay_notice", "slip_already_notified") in reasons or (
        "transit_stalled", "slip_already_notified") in reasons
    services.engine.dispose()
