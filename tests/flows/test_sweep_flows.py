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
        result = run_journey(order=str(order_id), force=True)
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
        run_journey(order=str(order_id), step="setup_guide", force=True)
        run_journey(order=str(order_id), step="setup_guide", force=True)
    assert [m.step for m in email.sent].count("setup_guide") == 1


def test_a_dry_run_decides_without_sending_or_claiming(services, clock, email):
    place_order(services)
    with use_services(services):
        state = run_journey(order="#1001", dry_run=True, return_state=True)
    result = state.result()
    assert email.sent == []
    assert [d["step"] for d in result["decisions"]] == ["confirmation"]
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
