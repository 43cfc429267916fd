"""deployments/serve.py next to `prefect deploy`: one mode per server. Serving over deployments that
`prefect deploy` made (a work pool, pull steps) is refused by name unless --force; served ones are replaced."""

from __future__ import annotations

import logging

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from deployments.serve import build_deployments, quiet_http_logs, refuse_to_overwrite
from flows.journey_sweep import journey_sweep

POOL = "aftercare-serve-modes-pool"


@pytest.fixture
def deployed_by_prefect_deploy():
    """journey-sweep as `prefect deploy` leaves it: on a process work pool, with its pull step."""
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
        flow_id = client.create_flow(journey_sweep)
        deployment_id = client.create_deployment(
            flow_id=flow_id, name="journey-sweep", work_pool_name=POOL,
            entrypoint="flows/journey_sweep.py:journey_sweep",
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": "/srv/aftercare"}}])
        try:
            yield client
        finally:
            client.delete_deployment(deployment_id)
            client.delete_work_pool(POOL)


def test_serving_over_deployments_made_by_prefect_deploy_is_refused_by_name(deployed_by_prefect_deploy):
    client = deployed_by_prefect_deploy
    served = build_deployments(only={"journey-sweep", "run-journey"})
    with pytest.raises(SystemExit) as refused:
        refuse_to_overwrite(served, client, force=False)
    message = str(refused.value.code)
    assert "journey-sweep/journey-sweep" in message and f"work pool {POOL}" in message
    assert "set_working_directory" in message and "one mode per Prefect server" in message
    assert "run-journey" not in message  # not on the server: nothing to overwrite
    refuse_to_overwrite(served, client, force=True)  # --force: replaced, with a warning


def test_a_served_deployment_may_be_served_again(deployed_by_prefect_deploy):
    client = deployed_by_prefect_deploy
    [run_journey] = build_deployments(only={"run-journey"})
    deployment_id = run_journey.apply()  # what `serve` registers: no work pool, no pull steps
    try:
        refuse_to_overwrite([run_journey], client, force=False)
    finally:
        client.delete_deployment(deployment_id)


def test_serve_logs_no_line_per_http_request():
    quiet_http_logs()
    for name in ("httpx", "uvicorn.access"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
