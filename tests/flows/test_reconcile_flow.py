"""The scheduled reconcile flow settles unknown outcomes as `aftercare reconcile` does (issue 11, item 16)."""

from __future__ import annotations

from datetime import timedelta

from aftercare.bootstrap import use_services
from flows.reconcile_unknown import reconcile_unknown_messages
from tests.journeys import fulfil, kill_sweep_at, place_order


def test_the_flow_resends_an_sms_twilio_never_got_once_and_a_second_run_sends_nothing(services, clock, sms):
    place_order(services)
    services.sweeper.run()
    fulfil(services)
    kill_sweep_at(services, clock, "sending")
    clock.advance(timedelta(hours=1))

    with use_services(services):
        first = reconcile_unknown_messages()
        second = reconcile_unknown_messages()

    assert len(first["resent"]) == 1 and [m.step for m in sms.sent] == ["shipped"]
    assert [h["reason"] for h in first["held"]] == ["event_webhook_not_live"]  # the email: no webhook here
    assert second["resent"] == [] and len(sms.sent) == 1
    assert "@" not in repr(first) and "+1212" not in repr(first)
