"""The real Prefect flows, on a temporary Prefect API, with recording fakes: reruns never send twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from aftercare.bootstrap import use_services
from aftercare.db.models import Message, ScheduledStep
from flows.journey_sweep import journey_sweep
from flows.run_journey import run_journey
from tests.journeys import a_customer, fulfil, place_order, track


def test_the_sweep_flow_sends_once_and_a_second_run_sends_nothing(services, email):
    for n in range(1, 8):
        place_order(services, n=n)
    with use_services(services):
        first = journey_sweep()
        second = journey_sweep()
    assert first["sent"] == 7 and len(email.sent) == 7
    assert second["claimed"] == 0 and second["sent"] == 0 and len(email.sent) == 7


def test_rerunning_one_order_with_force_never_resends_what_was_sent(services, clock, email):
    order_id = place_order(services)
    with use_services(services):
        journey_sweep()
        result = run_journey(order_id=order_id, force=True)
    assert [m.step for m in email.sent] == ["confirmation"]
    assert result["sent"] == 0


def test_a_forced_rerun_reopens_a_skipped_step_once_the_cause_is_fixed(services, clock, email):
    order_id = place_order(services, customer=a_customer(1, consents=()))
    fulfil(services)
    track(services, "delivered")
    clock.advance(timedelta(days=1, hours=1))
    with use_services(services):
        journey_sweep()
    with services.session_factory() as session:
        guide = session.scalar(select(Message).where(Message.step == "setup_guide"))
    assert guide.status == "skipped" and guide.reason == "no_marketing_consent"
    place_order(services, n=2, customer=a_customer(1))  # the customer now consents (at a new checkout)
    with use_services(services):
        run_journey(order_id=order_id, step="setup_guide", force=True)
        run_journey(order_id=order_id, step="setup_guide", force=True)
    assert [m.step for m in email.sent].count("setup_guide") == 1


def test_a_dry_run_decides_without_sending_or_claiming(services, clock, email):
    order_id = place_order(services)
    with use_services(services):
        result = run_journey(order_id=order_id, dry_run=True)
    assert email.sent == []
    assert [d["step"] for d in result["decisions"]] == ["confirmation"]
    assert result["decisions"][0]["decision"] == "Send"
    with services.session_factory() as session:
        step = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "confirmation"))
    assert step.status == "pending" and step.claimed_by is None


def test_an_unknown_step_name_is_a_clear_error(services):
    order_id = place_order(services)
    with use_services(services), pytest.raises(KeyError, match="unknown journey step"):
        run_journey(order_id=order_id, step="nonsense")


def test_run_names_carry_ids_only(services, email):
    order_id = place_order(services)
    from prefect.client.orchestration import get_client

    with use_services(services):
        state = run_journey(order_id=order_id, return_state=True)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"run-journey-order-{order_id}"
    assert "@" not in run.name and "example.com" not in run.name


def test_a_sweep_with_several_batches_in_flight_sends_every_message_once(services, email):
    for n in range(1, 31):
        place_order(services, n=n)
    with use_services(services):
        report = journey_sweep(batch_size=4, concurrency=3)
    ids = [m.message_id for m in email.sent]
    assert report["claimed"] == 30 and len(ids) == 30 and len(set(ids)) == 30
    with services.session_factory() as session:
        assert set(session.scalars(select(ScheduledStep.status).where(ScheduledStep.step == "confirmation"))) == {
            "done"}


def test_batches_in_flight_reach_every_due_step_of_customers_with_several(services, email):
    """A customer's steps are in one batch at a time, so a batch in flight can come back short while steps
    are still due; the sweep waits for its other batches and claims again instead of stopping early."""
    for customer in range(1, 6):
        for k in range(3):
            place_order(services, n=customer * 10 + k, customer=a_customer(customer))
    with use_services(services):
        report = journey_sweep(batch_size=2, concurrency=2)
    ids = [m.message_id for m in email.sent]
    assert report["claimed"] == 15 and len(ids) == 15 and len(set(ids)) == 15


def test_two_runs_whose_ids_share_their_first_8_hex_digits_never_take_each_others_claims(
        services, email, monkeypatch):
    """Scheduled runs get time-ordered (UUIDv7) ids: runs created in the same minute share a prefix. A run that
    holds claims (here: it crashed after reserving its batch, its lease still running) keeps them; the next
    run, whatever its id's prefix, neither reclaims nor decides them (with a prefix worker id it took them back
    as its own, and two late runs decided each step twice)."""
    from aftercare.providers.faults import SimulatedCrash

    for n in range(1, 6):
        place_order(services, n=n)
    first, second = "0193a1b2-0000-7000-8000-000000000001", "0193a1b2-3c4d-7abc-9def-0123456789ab"
    current = [first]
    monkeypatch.setattr("flows.journey_sweep.flow_run.get_id", lambda: current[0])
    crashes = iter([True])

    def crash_once(phase: str) -> None:
        if phase == "reserved" and next(crashes, False):
            raise SimulatedCrash("the first run stops after reserving its batch")

    services.sweeper.fault = crash_once
    with use_services(services):
        late = journey_sweep(return_state=True)
        assert late.is_failed()
        current[0] = second
        later = journey_sweep()
    assert later["claimed"] == 0 and email.sent == []
    with services.session_factory() as session:
        owners = set(session.scalars(select(ScheduledStep.claimed_by).where(ScheduledStep.step == "confirmation")))
    assert owners == {f"sweep-{first}"}


def test_with_a_prefect_api_the_cli_sweep_runs_as_a_flow_run(services, email):
    """The tests' Prefect API is configured (the session's harness), so `aftercare sweep` is a flow run."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from typer.testing import CliRunner

    from aftercare.cli import app

    place_order(services)
    sweeps = FlowFilter(name=FlowFilterName(any_=["journey-sweep"]))
    with get_client(sync_client=True) as client:
        before = client.count_flow_runs(flow_filter=sweeps)
        with use_services(services):
            result = CliRunner().invoke(app, ["sweep"])
        after = client.count_flow_runs(flow_filter=sweeps)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 1 and len(email.sent) == 1
    assert "running directly" not in result.output
    assert after == before + 1
