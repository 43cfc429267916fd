"""Reconciling `unknown` outcomes after a crash mid-send: found at the provider, or sent again once, on the same
ledger row, and never twice (issue 11, item 16). SendGrid's webhook side is in tests/webhooks/test_reconcile_email.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from aftercare.bootstrap import Services, build_reconciler, use_services
from aftercare.cli import app
from aftercare.db.models import Customer, Message, ScheduledStep
from aftercare.providers.base import body_digest
from aftercare.providers.fakes import FakeSmsSender
from tests.journeys import Crash, crash_at, fulfil, kill_sweep_at, place_order

runner = CliRunner()




def crash_shipped_notice(services: Services, clock, phase: str) -> None:
    """An order shipped; the sweep sending its email and SMS is killed at `phase`; the next sweep (after the
    lease) finds the rows in `sending` and marks them `unknown`."""
    place_order(services)
    services.sweeper.run()  # the confirmation
    fulfil(services)
    kill_sweep_at(services, clock, phase)


def shipped(services: Services, channel: str) -> Message:
    with services.session_factory() as session:
        row = session.scalar(select(Message).where(Message.step == "shipped", Message.channel == channel))
        assert row is not None
        return row


def test_a_crash_after_sending_leaves_the_message_unknown_and_reconcile_settles_it(services, clock, email, sms):
    crash_shipped_notice(services, clock, "sending")
    assert shipped(services, "sms").status == "unknown" and shipped(services, "email").status == "unknown"
    assert sms.sent == []
    clock.advance(timedelta(hours=1))
    build_reconciler(services).run()
    assert shipped(services, "sms").status == "sent"  # not left unknown for good


def test_an_sms_twilio_has_is_recorded_as_sent_with_its_sid_and_not_sent_again(services, clock, sms):
    crash_shipped_notice(services, clock, "sent")  # the provider accepted it; the crash lost the answer
    assert len(sms.sent) == 1 and shipped(services, "sms").status == "unknown"
    clock.advance(timedelta(hours=1))

    report = build_reconciler(services).run()

    row = shipped(services, "sms")
    assert report.found_ids == [row.id] and report.resent_ids == []
    assert (row.status, row.provider_message_id, row.resends) == ("sent", "SMfake1", 0)
    assert len(sms.sent) == 1  # nothing sent again
    (lookup,) = sms.lookups
    assert lookup.to == "+12125550001"
    assert lookup.sent_after <= row.sent_at <= lookup.sent_before


def test_an_sms_twilio_never_got_is_sent_again_once_on_the_same_ledger_row(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")  # killed before the provider call
    before = shipped(services, "sms")
    clock.advance(timedelta(hours=1))

    report = build_reconciler(services).run()

    row = shipped(services, "sms")
    assert report.resent_ids == [row.id] and report.outcomes == {row.id: "sent"}
    assert [m.message_id for m in sms.sent] == [str(before.id)]  # the same ledger row, sent once
    assert "https://ups.example/1" in sms.sent[0].body and sms.sent[0].to == "+12125550001"
    assert (row.status, row.resends, row.provider_message_id, row.body_digest) == (
        "sent", 1, "SMfake1", body_digest(sms.sent[0].body))


def test_running_reconcile_again_sends_nothing_more(services, clock, email, sms):
    crash_shipped_notice(services, clock, "sending")
    clock.advance(timedelta(hours=1))
    build_reconciler(services).run()
    sent = (len(email.sent), len(sms.sent))
    clock.advance(timedelta(hours=2))
    again = build_reconciler(services).run()
    services.sweeper.run()
    assert again.resent_ids == [] and again.found_ids == []
    assert (len(email.sent), len(sms.sent)) == sent and len(sms.sent) == 1


def test_an_sms_is_not_looked_up_before_its_window(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")
    report = build_reconciler(services).run()  # about five minutes after the attempt
    assert sms.lookups == [] and sms.sent == []
    assert {w.reason for w in report.waiting} == {"sms_lookup_window", "email_event_window"}
    assert shipped(services, "sms").status == "unknown"


def test_an_outbound_sms_we_cannot_explain_is_held_for_the_operator_not_resent(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")
    sms.foreign["+12125550001"] = ["Your order has shipped! Reply STOP to opt out"]  # rewritten? someone else's?
    clock.advance(timedelta(hours=1))
    report = build_reconciler(services).run()
    row = shipped(services, "sms")
    assert sms.sent == [] and row.status == "unknown"
    assert [(h.ledger_id, h.reason) for h in report.held if h.channel == "sms"] == [(row.id, "sms_ambiguous")]


def test_a_resend_that_crashes_again_is_never_resent_automatically_a_second_time(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")
    clock.advance(timedelta(hours=1))
    services.sweeper.fault = crash_at("sending")  # the resend's sweep dies at the same place
    with pytest.raises(Crash):
        build_reconciler(services).run()
    services.sweeper.fault = None
    clock.advance(services.sweeper.lease + timedelta(seconds=1))
    services.sweeper.run()
    row = shipped(services, "sms")
    assert (row.status, row.resends) == ("unknown", 1)
    clock.advance(timedelta(hours=1))
    report = build_reconciler(services).run()
    assert sms.sent == [] and shipped(services, "sms").status == "unknown"
    assert (row.id, "already_resent_once") in [(h.ledger_id, h.reason) for h in report.held]


def test_two_reconcilers_racing_resend_a_message_once(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")
    clock.advance(timedelta(hours=1))
    row = shipped(services, "sms")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            build_reconciler(services).run()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [m.message_id for m in sms.sent] == [str(row.id)]
    assert shipped(services, "sms").resends == 1
    assert build_reconciler(services).claim_resend(row.id, row.step_id, 0, clock.now()) == "lost_race"


def test_the_resend_claim_is_a_conditional_update_only_one_caller_wins(services, clock):
    crash_shipped_notice(services, clock, "sending")
    row = shipped(services, "sms")
    reconciler = build_reconciler(services)
    assert reconciler.claim_resend(row.id, row.step_id, 0, clock.now()) == "claimed"
    assert reconciler.claim_resend(row.id, row.step_id, 0, clock.now()) == "lost_race"
    with services.session_factory() as session:
        step = session.get(ScheduledStep, row.step_id)
        assert step is not None and (step.status, step.due_at) == ("pending", clock.now())
    assert (shipped(services, "sms").status, shipped(services, "sms").resends) == ("reserved", 1)


def test_a_resend_is_decided_again_and_a_customer_who_stopped_meanwhile_gets_nothing(services, clock, sms):
    crash_shipped_notice(services, clock, "sending")
    with services.session_factory() as session, session.begin():
        session.execute(update(Customer).values(sms_stopped_at=clock.now()))
    clock.advance(timedelta(hours=1))
    build_reconciler(services).run()
    row = shipped(services, "sms")
    assert sms.sent == [] and (row.status, row.reason) == ("skipped", "sms_stopped")


def test_a_win_back_found_at_twilio_starts_the_next_win_back_step(services, clock, sms):
    place_order(services)
    with services.session_factory() as session, session.begin():
        step = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "confirmation"))
        assert step is not None
        journey_id = step.journey_id
    services.sweeper.run()
    with services.session_factory() as session, session.begin():  # a win-back SMS left unknown by a crash
        customer = session.scalar(select(Customer))
        assert customer is not None
        step = ScheduledStep(journey_id=journey_id, customer_id=customer.id, order_id=step.order_id,
                             step="winback_1", status="done", trigger="test", due_at=clock.now(),
                             first_due_at=clock.now(), updated_at=clock.now(), attempts=1)
        session.add(step)
        session.flush()
        body = "We miss you"
        session.add(Message(idempotency_key=f"j{journey_id}:winback_1:sms", step_id=step.id, journey_id=journey_id,
                            customer_id=customer.id, order_id=step.order_id, step="winback_1", purpose="marketing",
                            channel="sms", status="unknown", created_at=clock.now(), sent_at=clock.now(),
                            status_at=clock.now(), attempts=1, body_digest=body_digest(body)))
    sms.sent.append(type("Sent", (), {"to": "+12125550001", "body": body})())  # Twilio has it
    clock.advance(timedelta(hours=1))
    report = build_reconciler(services).run()
    assert len(report.found) == 1
    with services.session_factory() as session:
        steps = set(session.scalars(select(ScheduledStep.step).where(ScheduledStep.journey_id == journey_id)))
    assert "winback_2" in steps


def test_an_sms_sender_without_a_lookup_holds_unknowns_for_the_operator(services, clock):
    class NoLookup:
        name = "plain"

        def __init__(self, inner: FakeSmsSender) -> None:
            self.inner = inner

        def send_sms(self, messages):
            return self.inner.send_sms(messages)

    crash_shipped_notice(services, clock, "sending")
    inner = FakeSmsSender()
    services.sweeper.sms = NoLookup(inner)  # type: ignore[assignment]
    clock.advance(timedelta(hours=1))
    report = build_reconciler(services).run()
    assert inner.sent == [] and ("sms", "sms_lookup_unavailable") in [(h.channel, h.reason) for h in report.held]
    with use_services(services):
        result = runner.invoke(app, ["reconcile", "--resend"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [m.message_id for m in inner.sent] == [str(shipped(services, "sms").id)]


def test_status_shows_unknown_messages_and_their_age_without_contact_details(services, clock):
    crash_shipped_notice(services, clock, "sending")
    clock.advance(timedelta(hours=2))
    row = shipped(services, "sms")
    with use_services(services):
        result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Unknown outcomes: 2" in result.output
    line = next(ln for ln in result.output.splitlines()
                if [c.strip() for c in ln.strip("│ ").split("│")][:3] == [str(row.id), "shipped", "sms"])
    assert "2h 05m" in line
    assert "2125550001" not in result.output and "c1@example.com" not in result.output


def test_the_local_outbox_answers_lookups_too(tmp_path, clock):
    from aftercare.bootstrap import build_services
    from tests.conftest import make_settings

    services = build_services(make_settings(tmp_path), clock=clock)  # no credentials: the outbox
    try:
        crash_shipped_notice(services, clock, "sent")
        clock.advance(timedelta(hours=1))
        report = build_reconciler(services).run()
        row = shipped(services, "sms")
        assert report.found_ids == [row.id]
        assert (row.status, row.provider_message_id) == ("sent", f"outbox-sms-{row.id}")
        assert len(list((tmp_path / "outbox" / "sms").glob("*/*.json"))) == 1
    finally:
        services.engine.dispose()
