"""With no Prefect API configured, the CLI's sweep, run-journey and demo run the same code directly: no
temporary Prefect server (which a busy machine fails to start in time), and the sweep does not even import
Prefect. Each command runs in its own process, as a user runs it, with a Prefect home of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.clock import SystemClock
from aftercare.db.models import Message
from tests.conftest import make_settings
from tests.journeys import place_order

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This shell's environment without any Prefect or aftercare setting; a temporary server is forbidden, so a
    command that tried to start one would fail."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
        "AFTERCARE_HOME": str(tmp_path / "app"),
        "AFTERCARE_DATABASE_URL": f"sqlite:///{(tmp_path / 'app' / 'test.db').as_posix()}",
        "AFTERCARE_OUTBOX_DIR": str(tmp_path / "app" / "outbox"),
        "AFTERCARE_HOLDOUT_SHARE": "0",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)


def _seeded(tmp_path: Path, orders: int) -> list[int]:
    (tmp_path / "app").mkdir()
    services = build_services(make_settings(tmp_path / "app", outbox_dir=tmp_path / "app" / "outbox"),
                              clock=SystemClock())
    try:
        return [place_order(services, n=n) for n in range(1, orders + 1)]
    finally:
        services.engine.dispose()


def _ledger(tmp_path: Path) -> list[tuple[int, str, str]]:
    services = build_services(make_settings(tmp_path / "app"), clock=SystemClock())
    try:
        with services.session_factory() as session:
            return [(m.order_id, m.step, m.status) for m in session.scalars(select(Message).order_by(Message.id))]
    finally:
        services.engine.dispose()


SWEEP = """
import json, sys
from aftercare.cli import app
try:
    app(["sweep"])
except SystemExit as exit:
    assert not exit.code, exit.code
print(json.dumps(sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))))
"""


def test_a_sweep_with_no_prefect_api_sends_what_is_due_without_importing_prefect(tmp_path):
    order_ids = _seeded(tmp_path, 3)
    done = _python(SWEEP, _env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    result, imported = _split(done.stdout)
    assert result["claimed"] == 3 and result["sent"] == 3
    assert imported == []
    assert "running directly" in done.stderr
    assert _ledger(tmp_path) == [(order_id, "confirmation", "sent") for order_id in order_ids]

    again = _python(SWEEP, _env(tmp_path), tmp_path)
    assert _split(again.stdout)[0]["claimed"] == 0
    assert len(_ledger(tmp_path)) == 3


def _split(stdout: str) -> tuple[dict[str, object], list[str]]:
    """The sweep's JSON result, then the list of Prefect modules the process imported (the last line)."""
    body, _, last = stdout.strip().rpartition("\n")
    return json.loads(body), json.loads(last)


def test_run_journey_with_no_prefect_api_runs_the_flow_body_directly(tmp_path):
    order_id, other = _seeded(tmp_path, 2)
    aftercare = str(Path(sys.executable).with_name("aftercare"))
    env = _env(tmp_path)
    dry = subprocess.run([aftercare, "run-journey", str(order_id), "--dry-run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["decisions"][0]["step"] == "confirmation"
    assert _ledger(tmp_path) == []
    run = subprocess.run([aftercare, "run-journey", str(order_id)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sent"] == 1
    assert _ledger(tmp_path) == [(order_id, "confirmation", "sent")]  # only that order's journey


def test_the_demo_with_no_prefect_api_runs_without_a_prefect_server(tmp_path):
    aftercare = str(Path(sys.executable).with_name("aftercare"))
    done = subprocess.run([aftercare, "demo", "--customers", "40", "--order-days", "5", "--days", "12",
                           "--home", str(tmp_path / "demo")], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "running directly" in done.stderr
    sent = int(done.stdout.split("messages sent: ")[1].split(",")[0])
    assert sent > 0
    assert len(list((tmp_path / "demo" / "outbox").rglob("*.json"))) + \
        len(list((tmp_path / "demo" / "outbox").rglob("*.html"))) == sent


ASK = ("import sys; from aftercare.prefect_api import prefect_api_url; "
       "print(prefect_api_url(), 'prefect' in sys.modules)")


@pytest.mark.parametrize(("profiles", "dotenv", "env", "expected"), [
    (None, None, {}, "None False"),  # a fresh machine: Prefect would start a temporary server
    ('active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n', None, {},
     "http://127.0.0.1:4200/api False"),
    ('active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "true"\n', None, {},
     "None False"),
    (None, None, {"PREFECT_API_URL": "http://prefect.internal/api"}, "http://prefect.internal/api False"),
    # A source this module does not read itself: Prefect's own settings answer.
    (None, "PREFECT_API_URL=http://from-dotenv.internal/api\n", {}, "http://from-dotenv.internal/api True"),
], ids=["nothing", "active-profile", "ephemeral-profile", "environment", "dotenv-asks-prefect"])
def test_the_prefect_api_is_read_from_prefect_s_own_settings_sources(tmp_path, profiles, dotenv, env, expected):
    if profiles is not None:
        (tmp_path / "prefect").mkdir()
        (tmp_path / "prefect" / "profiles.toml").write_text(profiles)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    done = _python(ASK, _env(tmp_path, **env), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
