"""The artifacts the UI shows: the sweep's per-step table and the daily report; the win-back scan flow."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import delete, func, select

from aftercare.bootstrap import use_services
from aftercare.db.models import ScheduledStep
from flows.daily_report import daily_report
from flows.journey_sweep import journey_sweep
from flows.winback_scan import winback_scan
from tests.journeys import a_customer, answer_csat, fulfil, place_order, track


def _artifacts(state):
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))


def test_a_sweep_publishes_a_table_per_step_with_sent_deferred_and_skipped_by_reason(services, clock):
    place_order(services, n=1)
    place_order(services, n=2, customer=a_customer(2, consents=(), email=None))  # no email, no consent
    with use_services(services):
        state = journey_sweep(return_state=True)
    [artifact] = _artifacts(state)
    assert artifact.key == "journey-sweep" and artifact.type == "table"
    rows = {r["step"]: r for r in json.loads(artifact.data)}
    assert rows["confirmation"]["sent_email"] == 1
    assert rows["confirmation"]["skipped"] == 1 and rows["confirmation"]["skip_reasons"]
    assert {"deferred", "waiting", "held_out", "failed"} <= set(rows["confirmation"])


def test_the_sweep_table_is_in_journey_order_with_a_totals_row(services, clock):
    for n in (1, 2):
        place_order(services, n=n)
    place_order(services, n=3, customer=a_customer(3, consents=(), email=None))  # skipped: no address
    fulfil(services)
    track(services, "delivered")
    with use_services(services):
        state = journey_sweep(return_state=True)
    [artifact] = _artifacts(state)
    rows = json.loads(artifact.data)
    # Alphabetical would put delivered_notice before shipped.
    # restock_reminder: scheduled per item at delivery; these products have no use cycle, so it is skipped
    assert [r["step"] for r in rows] == ["confirmation", "shipped", "delivered_notice", "restock_reminder", "total"]
    assert rows[3]["skipped"] == 2 and rows[3]["skip_reasons"] == "replenishment.no_use_cycle=2"
    *steps, total = rows
    for column in ("sent_email", "sent_sms", "skipped", "deferred", "held_out", "failed"):
        assert total[column] == sum(r[column] for r in steps)
    # Fulfilled and delivered before the sweep: the shipped notice is superseded by the delivered one.
    assert total["sent_email"] == 3 and total["sent_sms"] == 1 and total["skipped"] == 4
    assert total["skip_reasons"] == "replenishment.no_use_cycle=2, invalid_email=1, already_delivered=1"


def test_a_sweep_run_is_named_by_its_scheduled_time(services):
    with use_services(services):
        state = journey_sweep(return_state=True)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"sweep-{run.expected_start_time.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def test_the_daily_report_publishes_funnel_csat_reviews_and_winback_as_markdown(services, clock):
    order_id = place_order(services)
    fulfil(services)
    track(services, "delivered")
    services.sweeper.run()
    answer_csat(services, order_id, 4)
    with use_services(services):
        state = daily_report(return_state=True)
    [artifact] = _artifacts(state)
    assert artifact.key == "daily-report" and artifact.type == "markdown"
    for heading in ("## Funnel", "## CSAT (1 answers)", "| 4 | 1 | 100.0% |", "Review conversion",
                    "Win-back recovery"):
        assert heading in artifact.data
    assert "@example.com" not in artifact.data


def test_the_winback_scan_flow_restores_a_missing_winback_step_once(services, clock):
    place_order(services)
    fulfil(services)
    track(services, "delivered")
    with services.session_factory() as session, session.begin():
        session.execute(delete(ScheduledStep).where(ScheduledStep.step == "winback_1"))
    clock.advance(timedelta(hours=1))
    with use_services(services):
        assert winback_scan() == {"created": 1}
        assert winback_scan() == {"created": 0}
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ScheduledStep)
                              .where(ScheduledStep.step == "winback_1")) == 1
