"""Two Prefect workers on one process work pool, one Postgres, four sweep flow runs at once.

What docs/scaling.md ("Prefect: several workers on one work pool") describes, on one machine: a real Prefect
server, `prefect work-pool create --type process`, a deployment of `journey_sweep` whose runs execute from
the repository root with the app's settings in the deployment's job environment, and two
`prefect worker start --pool ... --limit 2` processes. Four flow runs are created at once; each worker
launches some of them as separate processes, and the runs share the due steps through the claim (FOR UPDATE
SKIP LOCKED and a lease). Every step is then done once, every message is in the ledger once and left once
(the local outbox), and no address or phone number reached the Prefect server's logs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.flows.test_prefect_server import (
    FINAL,
    ROOT,
    _free_port,
    _start,
    _stop,
    prefect_cli,
    prefect_env,
    start_server,
)
from tests.integration.test_postgres_scale import _scalar, _seed

pytestmark = [pytest.mark.prefect_server, pytest.mark.postgres, pytest.mark.timeout(360)]

DUE = 3_000  # half `confirmation` (one email), half `shipped` (email + SMS): 4,500 messages
MESSAGES = DUE // 2 * 3
BATCH = 100
RUNS = 4
WORKERS = ("worker-a", "worker-b")
POOL = "aftercare-test-pool"
DONE = re.compile(r"sweep done worker=(\S+) claimed=(\d+) sent=(\d+) batches=(\d+)")


def _tails(logs: Path, chars: int = 2500) -> str:
    parts = []
    for log in sorted(logs.glob("*.log")):
        parts.append(f"--- {log.name} (tail) ---\n{log.read_text(errors='replace')[-chars:]}")
    return "\n".join(parts)


def _kill_leftover_flow_runs(client: Any, run_ids: list[UUID], api: str) -> None:
    """Flow-run processes are their own session leaders: a run still going at teardown is ended by its pid."""
    for run_id in run_ids:
        try:
            run = client.read_flow_run(run_id)
        except Exception:
            continue
        if (run.state is not None and run.state.type.value in FINAL) or not run.infrastructure_pid:
            continue
        pid = int(str(run.infrastructure_pid).rpartition(":")[2])
        try:  # only a process of ours: it talks to this test's Prefect server
            if f"PREFECT_API_URL={api}".encode() not in Path(f"/proc/{pid}/environ").read_bytes():
                continue
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.fixture
def stack(pg_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Prefect server (temp PREFECT_HOME, free port) and the due steps, seeded in a fresh Postgres."""
    _seed(pg_url, DUE, pending=0, now=datetime.now(UTC))  # due within the last hour by the system clock
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    logs = tmp_path / "logs"
    logs.mkdir()
    # The scheduler looks at new deployments every 5 s and keeps at most two future runs: the scheduled-runs
    # test gets its two runs within seconds, and no more pile up behind them.
    env = prefect_env(tmp_path, api, PREFECT_UI_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1",
                      PREFECT_WORKER_HEARTBEAT_SECONDS="5", PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS="2",
                      PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS="2")
    prefect = prefect_cli()
    server = start_server(port, env, logs / "server.log", logs=lambda: _tails(logs))
    try:
        with temporary_settings({PREFECT_API_URL: api}):
            (tmp_path / "app").mkdir()
            yield {"env": env, "api": api, "prefect": str(prefect), "logs": logs, "db": pg_url,
                   "home": tmp_path / "app"}
    finally:
        _stop(server)


def _job_env(db: str, home: Path) -> dict[str, str]:
    """The app's settings for the flow-run processes, carried by the deployment (not the workers' shell)."""
    return {
        "PYTHONPATH": str(ROOT),  # the code of this checkout, whatever the installed package points at
        "AFTERCARE_DATABASE_URL": db,
        "AFTERCARE_HOME": str(home),
        "AFTERCARE_OUTBOX_DIR": str(home / "outbox"),
        "AFTERCARE_HOLDOUT_SHARE": "0",  # no holdout hides a send
        "AFTERCARE_ENVIRONMENT": "development",  # a test: the built-in link secret is fine
    }


def _refuse_real_providers(job_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs read settings in the repository root, where a `.env` could name real SendGrid/Twilio keys."""
    from aftercare.settings import Settings

    with monkeypatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("AFTERCARE_")]:
            patch.delenv(key)
        for key, value in job_env.items():
            patch.setenv(key, value)
        patch.chdir(ROOT)
        settings = Settings()
    if settings.uses_sendgrid or settings.uses_twilio:
        pytest.skip(f"{ROOT / '.env'} configures a real provider; this test sends thousands of messages")


@contextmanager
def _workers(stack: dict[str, Any], client: Any, run_ids: list[UUID]) -> Iterator[Callable[[], list[Any]]]:
    """Yields a function that starts the two workers; on the way out they are stopped and any flow run of
    `run_ids` still going is ended, whatever the test asserted."""
    workers: list[subprocess.Popen[bytes]] = []

    def start() -> list[subprocess.Popen[bytes]]:
        for name in WORKERS:
            workers.append(_start([stack["prefect"], "worker", "start", "--pool", POOL, "--limit", "2",
                                   "--name", name], stack["env"], stack["logs"] / f"{name}.log"))
        return workers

    try:
        yield start
    finally:
        for worker in workers:
            _stop(worker)
        _kill_leftover_flow_runs(client, run_ids, stack["api"])


def _run(args: list[str], env: dict[str, str], logs: Path, name: str) -> None:
    with (logs / f"{name}.log").open("wb") as out:
        code = subprocess.run(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=90).returncode
    assert code == 0, f"{' '.join(args[1:])} exited {code}:\n{_tails(logs)}"


def _wait_for_workers(client: Any, workers: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        online = {w.name for w in client.read_workers_for_work_pool(POOL) if w.status.value == "ONLINE"}
        if online >= set(WORKERS):
            return
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            pytest.fail(f"workers online: {sorted(online)}, expected {WORKERS}:\n{_tails(logs)}")
        time.sleep(0.5)


def _wait_final(client: Any, run_ids: list[UUID], logs: Path, timeout: float = 150) -> dict[UUID, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {}
        for run_id in run_ids:
            state = client.read_flow_run(run_id).state
            states[run_id] = state.type.value if state is not None else "NONE"
        if all(s in FINAL for s in states.values()):
            return states
        if time.monotonic() > deadline:
            pytest.fail(f"flow runs not finished after {timeout:.0f}s: {states}\n{_tails(logs)}")
        time.sleep(1)


def _run_logs(client: Any, run_ids: list[UUID], logs: Path) -> str:
    """The runs' logs as the server holds them; the last lines arrive just after the runs finish."""
    deadline = time.monotonic() + 30
    while True:
        records: list[Any] = []
        while page := client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)),
                                       limit=200, offset=len(records)):
            records.extend(page)
        text = "\n".join(r.message for r in records)
        if len(DONE.findall(text)) >= len(run_ids) or time.monotonic() > deadline:
            return text
        time.sleep(1)


def _outbox_files(outbox: Path) -> dict[str, list[str]]:
    return {"email": sorted(p.stem for p in (outbox / "email").rglob("*.html")),
            "email_text": sorted(p.stem for p in (outbox / "email").rglob("*.txt")),
            "sms": sorted(p.stem for p in (outbox / "sms").rglob("*.json"))}


def test_two_workers_on_one_pool_share_the_sweeps_and_send_every_message_once(
        stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    env, logs, db, home = stack["env"], stack["logs"], stack["db"], stack["home"]
    job_env = _job_env(db, home)
    _refuse_real_providers(job_env, monkeypatch)

    # The documented setup: a process work pool, a deployment run from the repository root, two workers.
    _run([stack["prefect"], "work-pool", "create", POOL, "--type", "process"], env, logs, "work-pool")
    deployment_id = flow.from_source(source=str(ROOT), entrypoint="flows/journey_sweep.py:journey_sweep").deploy(
        name="sweep", work_pool_name=POOL, job_variables={"env": job_env}, parameters={"batch_size": BATCH},
        print_next_steps=False, ignore_warnings=True)

    run_ids: list[UUID] = []
    with get_client(sync_client=True) as client, _workers(stack, client, run_ids) as start_workers:
        _wait_for_workers(client, start_workers(), logs)
        started = time.monotonic()
        run_ids += [client.create_flow_run_from_deployment(deployment_id).id for _ in range(RUNS)]
        states = _wait_final(client, run_ids, logs)
        elapsed = time.monotonic() - started
        text = _run_logs(client, run_ids, logs)
        runs = [client.read_flow_run(run_id) for run_id in run_ids]
        assert set(states.values()) == {"COMPLETED"}, f"{states}\n{text[-3000:]}\n{_tails(logs)}"

    # Both workers ran flow runs. Both may try to submit the same run; the server lets one move it to Pending
    # (the other's attempt is aborted), and that worker labels the run with its name and starts the process.
    ran_by = {run.id: run.labels.get("prefect.worker.name") for run in runs}
    assert set(ran_by.values()) == set(WORKERS), f"flow runs by worker: {ran_by}\n{_tails(logs)}"
    for run in runs:  # the worker's own log agrees (by id: a run is renamed by its scheduled time once it starts)
        worker_log = (logs / f"{ran_by[run.id]}.log").read_text()
        assert f"Worker '{ran_by[run.id]}' submitting flow run '{run.id}'" in worker_log
        assert run.name.startswith("sweep-20")
    runs_per_worker = {name: sum(1 for w in ran_by.values() if w == name) for name in WORKERS}

    # Every run reported its sweep; the runs shared the due steps, each claimed exactly once in all.
    reports = {worker: (int(claimed), int(sent)) for worker, claimed, sent, _ in DONE.findall(text)}
    assert set(reports) == {f"sweep-{r}" for r in run_ids}, f"{reports}\n{text[-3000:]}"  # the whole run id
    assert sum(claimed for claimed, _ in reports.values()) == DUE, reports
    assert sum(sent for _, sent in reports.values()) == MESSAGES, reports
    assert sum(1 for claimed, _ in reports.values() if claimed > 0) >= 2, f"one run did all the work: {reports}"

    # Every step done once, decided once; no claim left behind.
    assert _scalar(db, "SELECT count(*) FROM scheduled_steps WHERE status = 'done'") == DUE
    assert _scalar(db, "SELECT count(*) FROM scheduled_steps WHERE claimed_by IS NOT NULL") == 0
    assert _scalar(db, "SELECT count(*) FROM scheduled_steps WHERE attempts <> 1") == 0
    assert _scalar(db, "SELECT count(*) FROM decisions") == DUE
    assert _scalar(db, "SELECT count(DISTINCT step_id) FROM decisions WHERE outcome = 'send'") == DUE
    # Every message in the ledger once, sent, with a provider id, through the local outbox.
    assert _scalar(db, "SELECT count(*) FROM messages") == MESSAGES
    assert _scalar(db, "SELECT count(DISTINCT idempotency_key) FROM messages") == MESSAGES
    assert _scalar(db, "SELECT count(*) FROM messages WHERE status = 'sent' AND provider = 'outbox' "
                       "AND provider_message_id IS NOT NULL") == MESSAGES
    assert _scalar(db, "SELECT count(DISTINCT provider_message_id) FROM messages") == MESSAGES
    # ...and left exactly once: one outbox file (two for an email: HTML and text) per ledger row.
    files = _outbox_files(home / "outbox")
    emails = _scalar(db, "SELECT count(*) FROM messages WHERE channel = 'email'")
    assert (len(files["email"]), len(files["sms"])) == (emails, MESSAGES - emails) == (DUE, DUE // 2)
    assert files["email_text"] == files["email"]
    ids = sorted(int(stem.split(".")[0]) for stem in files["email"] + files["sms"])
    assert ids == sorted(_scalar_list(db, "SELECT id FROM messages"))

    # Logs carry ids and counts only: no customer address or phone number reached the server.
    for where, content in [("flow run logs", text), *((f.name, f.read_text()) for f in sorted(logs.glob("*.log")))]:
        assert "@example.com" not in content and "+1212" not in content, f"an address or phone number in {where}"
    print(f"{RUNS} runs on {len(WORKERS)} workers: {DUE} steps, {MESSAGES} messages in {elapsed:.1f}s; "
          f"claimed per run: {sorted(c for c, _ in reports.values())}; runs per worker: {runs_per_worker}")


def _scalar_list(url: str, sql: str) -> list[Any]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [row[0] for row in conn.execute(sql)]


def test_runs_the_scheduler_creates_each_claim_as_their_own_worker(
        stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug this guards: the scheduler's run ids are time-ordered, so two runs it made for the same minute
    shared the first 8 hex digits that used to be the worker id; started late together, each took back the
    other's claims and the same steps were decided twice. Here the scheduler (not the client) makes the runs
    of an interval deployment; both are late when the workers come up, so they run at the same time."""
    from prefect import flow

    env, logs, db, home = stack["env"], stack["logs"], stack["db"], stack["home"]
    job_env = _job_env(db, home)
    _refuse_real_providers(job_env, monkeypatch)
    _run([stack["prefect"], "work-pool", "create", POOL, "--type", "process"], env, logs, "work-pool")
    deployment_id = flow.from_source(source=str(ROOT), entrypoint="flows/journey_sweep.py:journey_sweep").deploy(
        name="sweep-every-5s", work_pool_name=POOL, job_variables={"env": job_env},
        parameters={"batch_size": BATCH}, interval=5, print_next_steps=False, ignore_warnings=True)

    run_ids: list[UUID] = []
    with get_client(sync_client=True) as client, _workers(stack, client, run_ids) as start_workers:
        scheduled = _wait_for_scheduled_runs(client, deployment_id, 2, logs)
        run_ids += [run.id for run in scheduled]
        # Both runs late before any worker looks: they are picked up together, as after an outage.
        latest = max(run.expected_start_time for run in scheduled)
        time.sleep(max(0.0, (latest - datetime.now(UTC)).total_seconds()) + 1)
        client.pause_deployment(deployment_id)  # no third run
        start_workers()
        states = _wait_final(client, run_ids, logs)
        text = _run_logs(client, run_ids, logs)
        runs = [client.read_flow_run(run_id) for run_id in run_ids]
        assert set(states.values()) == {"COMPLETED"}, f"{states}\n{text[-3000:]}\n{_tails(logs)}"

    assert all(run.auto_scheduled for run in runs), "the scheduler, not the test, made these runs"
    reports = {worker: int(claimed) for worker, claimed, _, _ in DONE.findall(text)}
    # Each run claimed under its whole run id: two runs, two worker ids, even though the ids share a prefix.
    assert set(reports) == {f"sweep-{run.id}" for run in runs}, f"{reports}\n{text[-3000:]}"
    assert sum(reports.values()) == DUE, reports
    assert _scalar(db, "SELECT count(*) FROM scheduled_steps WHERE status = 'done'") == DUE
    assert _scalar(db, "SELECT count(*) FROM decisions") == DUE  # no step decided twice
    assert _scalar(db, "SELECT count(*) FROM messages") == MESSAGES
    assert _scalar(db, "SELECT count(DISTINCT idempotency_key) FROM messages") == MESSAGES
    for run in runs:
        print(f"scheduler-made run {run.name} (scheduled {run.expected_start_time:%H:%M:%S}Z, "
              f"auto_scheduled={run.auto_scheduled}): worker id sweep-{run.id}, claimed {reports[f'sweep-{run.id}']}")


def _wait_for_scheduled_runs(client: Any, deployment_id: UUID, count: int, logs: Path) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    deadline = time.monotonic() + 60
    while True:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                                     sort=FlowRunSort.EXPECTED_START_TIME_ASC)
        if len(runs) >= count:
            return list(runs[:count])
        if time.monotonic() > deadline:
            pytest.fail(f"the scheduler made {len(runs)} runs in 60 s, expected {count}:\n{_tails(logs)}")
        time.sleep(0.5)
