"""Exactly once: repeated sweeps, concurrent sweeps, crashes between reserve and send, provider failures."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from aftercare.db.models import Customer, Message
from aftercare.providers.base import Outcome
from tests.conftest import START, run_until
from tests.journeys import Crash, a_customer, crash_at, fulfil, place_order


def statuses(services) -> dict[str, str]:
    with services.session_factory() as session:
        return dict(session.execute(select(Message.idempotency_key, Message.status)).all())


def test_a_second_sweep_sends_nothing(services, email):
    for n in range(1, 21):
        place_order(services, n=n)
    first = services.sweeper.run()
    second = services.sweeper.run()
    assert first.total_sent == 20 and len(email.sent) == 20
    assert second.claimed == 0 and second.total_sent == 0 and len(email.sent) == 20


def test_a_crash_after_reserving_loses_nothing_and_duplicates_nothing(services, clock, email):
    for n in range(1, 6):
        place_order(services, n=n)
    services.sweeper.fault = crash_at("reserved")
    with pytest.raises(Crash):
        services.sweeper.run()
    assert email.sent == [] and set(statuses(services).values()) == {"reserved"}
    services.sweeper.fault = None
    clock.advance(services.sweeper.lease + timedelta(seconds=1))
    services.sweeper.run()
    assert sorted(m.message_id for m in email.sent) == sorted(set(m.message_id for m in email.sent))
    assert len(email.sent) == 5 and set(statuses(services).values()) == {"sent"}


def test_a_crash_mid_send_marks_the_outcome_unknown_and_never_resends(services, clock, email):
    for n in range(1, 6):
        place_order(services, n=n)
    services.sweeper.fault = crash_at("sending")
    with pytest.raises(Crash):
        services.sweeper.run()
    services.sweeper.fault = None
    clock.advance(services.sweeper.lease + timedelta(seconds=1))
    report = services.sweeper.run()
    assert email.sent == []  # we cannot know whether they left: reconcile, do not resend
    assert set(statuses(services).values()) == {"unknown"} and sum(report.unknown.values()) == 5
    clock.advance(timedelta(hours=1))
    assert services.sweeper.run().claimed == 0


def test_a_crash_after_sending_records_nothing_twice(services, clock, email):
    place_order(services)
    services.sweeper.fault = crash_at("sent")
    with pytest.raises(Crash):
        services.sweeper.run()
    services.sweeper.fault = None
    clock.advance(services.sweeper.lease + timedelta(seconds=1))
    services.sweeper.run()
    assert len(email.sent) == 1 and list(statuses(services).values()) == ["unknown"]


def test_a_retried_run_with_the_same_worker_resumes_its_own_claims_at_once(services, clock, email):
    for n in range(1, 4):
        place_order(services, n=n)
    services.sweeper.fault = crash_at("reserved")
    with pytest.raises(Crash):
        services.sweeper.run(worker_id="run-1")
    services.sweeper.fault = None
    assert services.sweeper.run(worker_id="someone-else").claimed == 0  # leased to run-1
    services.sweeper.run(worker_id="run-1")  # the UI's retry of run-1
    assert len(email.sent) == 3


def test_two_concurrent_sweeps_never_send_a_message_twice(services, email, sms):
    for n in range(1, 201):
        place_order(services, n=n)
    errors: list[BaseException] = []

    def sweep(worker: str) -> None:
        try:
            services.sweeper.run(worker_id=worker, batch_size=20)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [m.message_id for m in email.sent]
    assert len(ids) == 200 and len(set(ids)) == 200


def test_a_transient_failure_is_retried_later_exactly_once(services, clock, email):
    place_order(services)
    email.script["c1@example.com"] = Outcome.RETRY
    report = services.sweeper.run()
    assert report.retried["confirmation"] == 1 and email.sent == []
    assert list(statuses(services).values()) == ["reserved"]
    del email.script["c1@example.com"]
    clock.advance(timedelta(minutes=30))
    services.sweeper.run()
    clock.advance(timedelta(minutes=30))
    services.sweeper.run()
    assert len(email.sent) == 1 and list(statuses(services).values()) == ["sent"]


def test_twilio_21610_records_an_sms_opt_out_and_is_not_retried(services, clock, sms):
    place_order(services)
    fulfil(services)
    sms.script["+12125550001"] = Outcome.OPTED_OUT
    run_until(services, clock, START + timedelta(hours=3))
    with services.session_factory() as session:
        row = session.scalar(select(Message).where(Message.channel == "sms"))
        customer = session.scalar(select(Customer))
    assert row.status == "failed" and row.reason == "recipient_opted_out"
    assert customer.sms_stopped_at is not None
    assert sms.sent == []


def test_an_invalid_number_is_a_recorded_skip_and_the_batch_goes_on(services, clock, email, sms):
    place_order(services, n=1, customer=a_customer(1, phone="+1555"))  # not a valid number
    place_order(services, n=2)
    fulfil(services, 1)
    fulfil(services, 2)
    run_until(services, clock, START + timedelta(hours=2))
    assert [m.to for m in sms.sent] == ["+12125550002"]
    with services.session_factory() as session:
        skipped = session.execute(select(Message.step, Message.reason).where(
            Message.channel == "sms", Message.status == "skipped")).all()
    assert ("shipped", "invalid_phone") in skipped
    assert len([m for m in email.sent if m.step == "shipped"]) == 2


def test_the_ledger_holds_one_row_per_message(services, clock):
    for n in range(1, 11):
        place_order(services, n=n)
        fulfil(services, n)
    run_until(services, clock, START + timedelta(hours=3))
    run_until(services, clock, START + timedelta(hours=6))
    with services.session_factory() as session:
        total = session.scalar(select(func.count()).select_from(Message))
        keys = session.scalar(select(func.count(func.distinct(Message.idempotency_key))))
    assert total == keys


def test_a_sweep_whose_lease_ran_out_leaves_the_step_to_the_sweep_that_took_it(services, clock, email):
    """Sweep A is slow: its lease runs out after it sent, and sweep B claims the same steps. A must not
    settle steps B now holds; B finds the messages in the ledger, sends nothing, and settles them."""
    from aftercare.db.models import ScheduledStep

    for n in range(1, 4):
        place_order(services, n=n)

    def taken_over(phase: str) -> None:
        if phase == "sent":  # A has sent; meanwhile its lease ran out and B claimed the steps
            with services.session_factory() as session, session.begin():
                session.execute(ScheduledStep.__table__.update()
                                .where(ScheduledStep.claimed_by == "sweep-a")
                                .values(claimed_by="sweep-b", claimed_until=clock.now() + services.sweeper.lease))

    services.sweeper.fault = taken_over
    a = services.sweeper.run(worker_id="sweep-a")
    services.sweeper.fault = None
    assert a.total_sent == 3 and len(email.sent) == 3
    with services.session_factory() as session:
        held = session.execute(select(ScheduledStep.status, ScheduledStep.claimed_by)
                               .where(ScheduledStep.step == "confirmation")).all()
    assert held and set(held) == {("pending", "sweep-b")}  # A did not settle B's steps

    b = services.sweeper.run(worker_id="sweep-b")  # a retried run of B takes back its own claims
    assert b.claimed == 3 and b.total_sent == 0 and len(email.sent) == 3
    with services.session_factory() as session:
        done = session.execute(select(ScheduledStep.status, ScheduledStep.claimed_by)
                               .where(ScheduledStep.step == "confirmation")).all()
    assert set(done) == {("done", None)}
    assert set(statuses(services).values()) == {"sent"}


def test_a_customer_is_in_one_batch_at_a_time(services, clock, email):
    """While one sweep holds a customer's step under its lease, another sweep leaves that customer's other due
    steps alone (and takes other customers'): one batch at a time decides a customer's state, so the
    frequency cap and the points / win-back merge hold across concurrent sweeps."""
    shopper = a_customer(7)
    first = place_order(services, n=1, customer=shopper, at=clock.now() - timedelta(minutes=2))
    second = place_order(services, n=2, customer=shopper, at=clock.now() - timedelta(minutes=1))
    place_order(services, n=3)  # someone else, due last
    other: dict[str, object] = {}

    def meanwhile(phase: str) -> None:
        if phase == "reserved" and not other:
            other["running"] = True
            other["report"] = services.sweeper.process_batch(worker_id="sweep-b", batch_size=10)

    services.sweeper.fault = meanwhile
    a = services.sweeper.process_batch(worker_id="sweep-a", batch_size=1)
    services.sweeper.fault = None
    b = other["report"]
    assert a.claimed == 1 and b.claimed == 1  # B took customer 3's step, not the shopper's second one
    orders_sent = [m.to for m in email.sent]
    assert orders_sent.count(shopper.email) == 1 and len(orders_sent) == 2

    rest = services.sweeper.run(worker_id="sweep-c")  # A has settled: the shopper is free again
    assert rest.claimed == 1 and [m.to for m in email.sent].count(shopper.email) == 2
    with services.session_factory() as session:
        ledger_orders = dict(session.execute(select(Message.order_id, Message.step).where(
            Message.order_id.in_([first, second]))).all())
    assert set(ledger_orders) == {first, second}
