"""The real Prefect flows, on a temporary Prefect API, with recording fakes: reruns never send twice."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.exceptions import ParameterTypeError
from sqlalchemy import select

from aftercare.bootstrap import use_services
from aftercare.db.models import Message, ScheduledStep
from aftercare.services.explain import OrderNotFound
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
        run_journey(order=str(order_id), force=True)  # also sends what was still open (the month's statement)
        sent_once = list(email.sent)
        result = run_journey(order=str(order_id), force=True)
    assert [m.step for m in email.sent].count("confirmation") == 1
    assert email.sent == sent_once and result["sent"] == 0


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
        run_journey(order=str(order_id), step="setup_guide", force=True)
        run_journey(order=str(order_id), step="setup_guide", force=True)
    assert [m.step for m in email.sent].count("setup_guide") == 1


def test_a_dry_run_decides_without_sending_or_claiming(services, clock, email):
    place_order(services)
    with use_services(services):
        state = run_journey(order="#1001", dry_run=True, return_state=True)
    result = state.result()
    assert email.sent == []
    assert result["decisions"][0]["step"] == "confirmation"  # in journey order; open steps after it
    assert result["decisions"][0]["decision"] == "send" and result["decisions"][0]["channels"] == "email"
    assert _artifact_rows(state) == result["decisions"]
    with services.session_factory() as session:
        step = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "confirmation"))
    assert step.status == "pending" and step.claimed_by is None


def test_an_unknown_step_name_is_refused_before_the_run_starts(services, email):
    place_order(services)
    with use_services(services), pytest.raises(ParameterTypeError, match="step"):
        run_journey(order="#1001", step="setup_guid")
    assert email.sent == []


def test_run_names_say_the_mode_and_carry_ids_only(services, email):
    order_id = place_order(services)
    with use_services(services):
        names = [_run(run_journey(order=str(order_id), return_state=True)).name,
                 _run(run_journey(order="#1001", dry_run=True, return_state=True)).name,
                 _run(run_journey(order="#1001", step="confirmation", force=True, return_state=True)).name]
    assert names == [f"run-journey-run-order-{order_id}", "run-journey-dry-run-order-1001",
                     "run-journey-force-order-1001-confirmation"]
    assert not any("@" in n or "example.com" in n for n in names)


def test_a_chosen_step_runs_now_without_force_and_its_decisions_are_published(services, clock, email):
    """Naming a step is enough: the setup guide (due a day after delivery) goes out now, and the artifact
    lists what was decided and why; steps not chosen stay where they were."""
    order_id = place_order(services)
    with use_services(services):
        journey_sweep()
    fulfil(services)
    track(services, "delivered")
    with use_services(services):
        journey_sweep()  # shipped and delivered notices
        state = run_journey(order="o1", step="setup_guide", return_state=True)
    assert [m.step for m in email.sent].count("setup_guide") == 1
    rows = _artifact_rows(state)
    assert rows == [{"step": "setup_guide", "decision": "send", "reason": "", "until": "", "channels": "email"}]
    assert state.result()["order_id"] == order_id
    with services.session_factory() as session:
        csat = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "csat"))
    assert csat.status == "pending" and csat.due_at > clock.now()  # not chosen: not moved


def test_a_plain_rerun_moves_nothing_and_reports_nothing_due(services, clock, email):
    place_order(services)
    with use_services(services):
        journey_sweep()
        state = run_journey(order="#1001", return_state=True)
    assert state.result()["made_due"] == 0 and len(email.sent) == 1
    assert _artifact_rows(state)[0]["decision"] == "nothing to decide"


def test_an_order_that_does_not_exist_fails_the_run_with_a_clear_message(services):
    with use_services(services), pytest.raises(OrderNotFound, match="no order matches"):
        run_journey(order="#9999")


def _run(state):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def _artifact_rows(state) -> list[dict]:
    run = _run(state)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    tables = [a for a in artifacts if a.type == "table"]
    assert len(tables) == 1 and tables[0].key.startswith("run-journey-order-")
    data = tables[0].data
    return json.loads(data) if isinstance(data, str) else data


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
