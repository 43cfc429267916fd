"""A real local Prefect server, the served deployments, and the API calls the UI makes.

Creates a run of the one-order deployment with custom parameters, makes a sweep run fail after it sent
half its work, retries it exactly as the UI's Retry does (a Scheduled state named AwaitingRetry, forced),
and checks the ledger and the outbox: every message exactly once, none lost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Scheduled
from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.clock import SystemClock
from aftercare.db.models import Message
from tests.conftest import STARTUP_TIMEOUT, make_settings, skip_or_fail
from tests.journeys import place_order

pytestmark = [pytest.mark.prefect_server, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 9
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process group we started (the server and its children), then kill if need be."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def prefect_cli() -> str:
    prefect = Path(sys.executable).with_name("prefect")
    if not prefect.exists():
        skip_or_fail("the prefect CLI is not installed next to this Python")
    return str(prefect)


def prefect_env(tmp_path: Path, api: str, **extra: str) -> dict[str, str]:
    """The environment of the Prefect processes a test starts: none of this shell's PREFECT_ or AFTERCARE_
    settings, a PREFECT_HOME of the test's own, its API, and this checkout's code first on the path."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(STARTUP_TIMEOUT),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def start_server(port: int, env: dict[str, str], log: Path, *, timeout: float = STARTUP_TIMEOUT,
                 logs: Callable[[], str] | None = None) -> subprocess.Popen[bytes]:
    """`prefect server start` on 127.0.0.1:port, returned once its health endpoint answers."""
    server = _start([prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(server)
            skip_or_fail(f"the Prefect server did not start:\n{logs() if logs else log.read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    app_home = tmp_path / "app"
    app_home.mkdir()
    env = prefect_env(
        tmp_path, api,
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        AFTERCARE_HOME=str(app_home),
        AFTERCARE_DATABASE_URL=f"sqlite:///{(app_home / 'test.db').as_posix()}",
        AFTERCARE_OUTBOX_DIR=str(app_home / "outbox"),
        AFTERCARE_HOLDOUT_SHARE="0",
        AFTERCARE_ENVIRONMENT="development",
        AFTERCARE_FAULT_AFTER_SENDS="4",
        AFTERCARE_FAULT_ONCE_FILE=str(tmp_path / "crashed-once"),
        # The test counts one confirmation per order; a forced rerun would also send the month's points
        # statement, another step's business.
        AFTERCARE_JOURNEY_POINTS_STATEMENT_ENABLED="false",
    )
    monkeypatch.setenv("AFTERCARE_JOURNEY_POINTS_STATEMENT_ENABLED", "false")  # the seeding services too
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(start_server(port, env, tmp_path / "server.log"))
        # Seed the shared database before the runner starts, through the same Ingest the webhooks use.
        services = build_services(make_settings(app_home, outbox_dir=app_home / "outbox"), clock=SystemClock())
        order_ids = [place_order(services, n=n) for n in range(1, ORDERS + 1)]
        runner = _start([sys.executable, "deployments/serve.py", "--no-schedules", "--only", "journey-sweep",
                         "--only", "run-journey"], env, tmp_path / "serve.log")
        started.append(runner)
        with temporary_settings({PREFECT_API_URL: api}):
            yield {"services": services, "order_ids": order_ids, "outbox": app_home / "outbox",
                   "logs": tmp_path, "runner": runner}
        services.engine.dispose()
    finally:
        for process in reversed(started):
            _stop(process)


def _deployment_id(client, name: str, runner: subprocess.Popen[bytes], logs: Path):
    deadline = time.monotonic() + 60
    while True:
        try:
            return client.read_deployment_by_name(name).id
        except Exception:  # noqa: BLE001 - not registered yet
            if runner.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"deployment {name} never appeared: {(logs / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.5)


def _wait(client, run_id, logs: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.read_flow_run(run_id).state
        if state is not None and state.type.value in FINAL:
            return state.type.value
        time.sleep(0.5)
    pytest.fail(f"flow run {run_id} did not finish: {(logs / 'serve.log').read_text()[-3000:]}")


def _ledger(services) -> list[Message]:
    with services.session_factory() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def _outbox_files(outbox: Path) -> list[str]:
    return sorted(p.name for p in (outbox / "email").rglob("*.html"))


def test_ui_reruns_and_a_retried_half_failed_sweep_send_every_message_exactly_once(stack):
    services, order_ids, outbox, logs = stack["services"], stack["order_ids"], stack["outbox"], stack["logs"]
    with get_client(sync_client=True) as client:
        run_journey = _deployment_id(client, "run-journey/run-journey", stack["runner"], logs)
        sweep = _deployment_id(client, "journey-sweep/journey-sweep", stack["runner"], logs)

        # "Run" with custom parameters on the one-order deployment: a real rerun, then a dry run.
        run = client.create_flow_run_from_deployment(
            run_journey, parameters={"order": str(order_ids[0]), "step": "all", "dry_run": False, "force": True})
        assert _wait(client, run.id, logs) == "COMPLETED"
        assert client.read_flow_run(run.id).name == f"run-journey-force-order-{order_ids[0]}"
        dry = client.create_flow_run_from_deployment(run_journey, parameters={"order": str(order_ids[1]),
                                                                              "dry_run": True})
        assert _wait(client, dry.id, logs) == "COMPLETED"
        assert [m.status for m in _ledger(services)] == ["sent"]

        # A sweep that crashes after sending half its work (4 of 8; batches of 4).
        failing = client.create_flow_run_from_deployment(sweep, parameters={"batch_size": 4})
        assert _wait(client, failing.id, logs) == "FAILED"
        statuses = sorted(m.status for m in _ledger(services))
        assert statuses == ["reserved"] * 4 + ["sent"] * 5
        assert len(_outbox_files(outbox)) == 5

        # The UI's Retry: a forced Scheduled state named AwaitingRetry; the runner runs it again.
        client.set_flow_run_state(failing.id, Scheduled(name="AwaitingRetry", scheduled_time=datetime.now(UTC)),
                                  force=True)
        assert _wait(client, failing.id, logs) == "COMPLETED"
        retried = client.read_flow_run(failing.id)
        assert retried.run_count >= 2

        # And a second sweep finds nothing to do.
        again = client.create_flow_run_from_deployment(sweep, parameters={})
        assert _wait(client, again.id, logs) == "COMPLETED"

        # Logs are logfmt with ids and counts; no address or phone number reaches the server.
        run_ids = [run.id, dry.id, failing.id, again.id]
        records = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
        text = "\n".join(r.message for r in records)
        assert "sweep batch worker=" in text and "claimed=" in text
        assert "@example.com" not in text and "+1212555" not in text

    ledger = _ledger(services)
    assert len(ledger) == ORDERS
    assert {m.status for m in ledger} == {"sent"}
    assert sorted(m.order_id for m in ledger) == sorted(order_ids)  # none lost
    assert len({m.idempotency_key for m in ledger}) == ORDERS
    assert len({m.provider_message_id for m in ledger}) == ORDERS
    files = _outbox_files(outbox)
    assert len(files) == ORDERS and len(set(files)) == ORDERS  # each message left exactly once
    assert sorted(f.split(".")[0] for f in files) == sorted(str(m.id) for m in ledger)
