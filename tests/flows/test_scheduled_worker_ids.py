"""Sweep runs the Prefect scheduler creates get worker ids of their own.

The scheduler creates a deployment's runs in one batch with time-ordered ids, so runs made together share
their first hex digits; a worker id cut from that prefix made two late scheduled runs one worker, each
taking back the other's claims. Client-created runs (`test_prefect_workers.py`) never showed it. Here a
served deployment with an interval schedule gets its runs from the server's scheduler service, the runner
executes two of them, and each run's own log names the worker id it swept with: the whole run id.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.flows.test_prefect_server import _free_port, _start, _stop, prefect_env, start_server

pytestmark = [pytest.mark.prefect_server, pytest.mark.timeout(360)]

DONE = re.compile(r"sweep done worker=(\S+) claimed=")
SERVE = """
from datetime import timedelta
from flows.journey_sweep import journey_sweep
journey_sweep.serve(name="scheduled-sweep", interval=timedelta(seconds=10), limit=1)
"""


def test_two_runs_the_scheduler_creates_sweep_with_different_worker_ids(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "app"
    home.mkdir()
    env = prefect_env(tmp_path, api, PREFECT_UI_ENABLED="false", PREFECT_RUNNER_POLL_FREQUENCY="1",
                      PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
                      AFTERCARE_HOME=str(home), AFTERCARE_DATABASE_URL=f"sqlite:///{(home / 'test.db').as_posix()}",
                      AFTERCARE_OUTBOX_DIR=str(home / "outbox"), AFTERCARE_ENVIRONMENT="development")
    server = start_server(port, env, tmp_path / "server.log")
    runner = None
    try:
        runner = _start([sys.executable, "-c", SERVE], env, tmp_path / "serve.log")
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            runs = _completed_runs(client, runner, tmp_path, want=2)
            logs = _logs(client, [r.id for r in runs])
    finally:
        if runner is not None:
            _stop(runner)
        _stop(server)

    assert all(r.auto_scheduled for r in runs)  # made by the scheduler service, not by a client
    assert all(r.name.startswith("sweep-20") for r in runs)  # named by their scheduled time
    workers = {r.id: DONE.findall(logs[r.id]) for r in runs}
    assert all(len(found) == 1 for found in workers.values()), workers
    assert {run_id: found[0] for run_id, found in workers.items()} == {r.id: f"sweep-{r.id}" for r in runs}
    assert len({found[0] for found in workers.values()}) == 2
    for r in runs:  # the old 8-digit prefix is printed too: runs made together usually share it
        print(f"scheduled run {r.name} (scheduled {r.expected_start_time:%H:%M:%S}) swept as {workers[r.id][0]} "
              f"(old prefix id: sweep-{str(r.id)[:8]})")


def _completed_runs(client, runner, logs: Path, want: int):
    deadline = time.monotonic() + 240
    while True:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scheduled-sweep"])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED]))))
        if len(runs) >= want:
            assert {r.state.type for r in runs} == {StateType.COMPLETED}, (logs / "serve.log").read_text()[-3000:]
            return sorted(runs, key=lambda r: r.expected_start_time)[:want]
        if runner.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{len(runs)} scheduled runs finished:\n{(logs / 'serve.log').read_text()[-3000:]}")
        time.sleep(1)


def _logs(client, run_ids) -> dict:
    deadline = time.monotonic() + 30
    while True:
        records = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)), limit=200)
        text = {run_id: "\n".join(r.message for r in records if r.flow_run_id == run_id) for run_id in run_ids}
        if all(DONE.search(t) for t in text.values()) or time.monotonic() > deadline:
            return text
        time.sleep(1)
