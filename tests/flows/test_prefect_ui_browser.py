"""The Prefect UI in a real browser: an operator starts a custom run of run-journey from its form.

Debian's Chromium (packages chromium and chromium-driver, installed by .ci/run) opens the local Prefect
server's UI, reads the run form as a person sees it (every field explained, the step a drop-down of the
journey's own steps), fills it in, submits, and reads the decisions table the run published as an artifact.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from aftercare.bootstrap import build_services, configured_journey
from aftercare.clock import SystemClock
from aftercare.db.models import Message
from tests.conftest import make_settings, skip_or_fail
from tests.flows.test_prefect_server import _deployment_id, _free_port, _start, _stop, _wait, prefect_env, start_server
from tests.journeys import place_order

pytestmark = [pytest.mark.prefect_server, pytest.mark.browser, pytest.mark.timeout(420)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Prefect server with the run-journey deployment served, over a store with three orders."""
    if not (shutil.which("chromium") or Path(CHROMIUM).exists()) or not Path(CHROMEDRIVER).exists():
        skip_or_fail("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                     "chromium-driver)")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    app_home = tmp_path / "app"
    app_home.mkdir()
    env = prefect_env(tmp_path, api, PREFECT_RUNNER_POLL_FREQUENCY="1", AFTERCARE_HOME=str(app_home),
                      AFTERCARE_DATABASE_URL=f"sqlite:///{(app_home / 'test.db').as_posix()}",
                      AFTERCARE_OUTBOX_DIR=str(app_home / "outbox"), AFTERCARE_HOLDOUT_SHARE="0")
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(start_server(port, env, tmp_path / "server.log", timeout=180))
        services = build_services(make_settings(app_home, outbox_dir=app_home / "outbox"), clock=SystemClock())
        order_ids = [place_order(services, n=n) for n in range(1, 4)]
        runner = _start([sys.executable, "deployments/serve.py", "--no-schedules", "--only", "run-journey"], env,
                        tmp_path / "serve.log")
        started.append(runner)
        with temporary_settings({PREFECT_API_URL: api}):
            yield {"services": services, "order_ids": order_ids, "base": f"http://127.0.0.1:{port}",
                   "runner": runner, "logs": tmp_path}
        services.engine.dispose()
    finally:
        for process in reversed(started):
            _stop(process)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _form_fields(driver: Any) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    fields = {}
    for prop in driver.find_elements(By.CSS_SELECTOR, ".schema-form-property"):
        label = prop.find_element(By.CSS_SELECTOR, ".schema-form-property__label").text
        help_text = " ".join(e.text for e in prop.find_elements(By.CSS_SELECTOR, ".schema-form-property__description"))
        fields[label.removesuffix(" (Optional)")] = help_text
    return fields


def test_an_operator_runs_one_step_of_one_order_from_the_ui_form_and_reads_its_decisions(ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    services, logs = ui["services"], ui["logs"]
    wait = WebDriverWait(browser, 90, poll_frequency=0.5)
    with get_client(sync_client=True) as client:
        deployment = _deployment_id(client, "run-journey/run-journey", ui["runner"], logs)

    # The form, as a person sees it: every field explained, the step a list of the journey's steps.
    browser.get(f"{ui['base']}/deployments/deployment/{deployment}/run")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".schema-form-property textarea"))
    fields = _form_fields(browser)
    print("run-journey form:", fields)
    assert list(fields) == ["order", "step", "dry_run", "force"]
    assert all(len(text) > 20 for text in fields.values()), fields
    assert "#1042" in fields["order"]
    step_select = next(s for s in browser.find_elements(By.CSS_SELECTOR, "select")
                       if s.find_elements(By.TAG_NAME, "option"))
    options = [o.get_attribute("value") for o in Select(step_select).options]
    print("step choices:", options)
    assert options == ["all", *configured_journey().names]

    # Fill it in: the store's order number, one step from the list; submit.
    browser.find_element(By.CSS_SELECTOR, ".schema-form-property textarea").send_keys("#1002")
    Select(step_select).select_by_value("confirmation")
    next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Submit").click()
    # The UI validates the parameters on the server, creates the run, and leaves the form.
    try:
        wait.until(lambda d: "/run" not in d.current_url.rsplit("/", 1)[-1])
    finally:
        browser.save_screenshot(str(logs / "after-submit.png"))

    with get_client(sync_client=True) as client:
        run = _the_run(client, deployment, logs)
        assert _wait(client, run.id, logs, timeout=120) == "COMPLETED"
        run = client.read_flow_run(run.id)
    assert run.parameters == {"order": "#1002", "step": "confirmation", "dry_run": False, "force": False}
    assert run.name == "run-journey-run-order-1002-confirmation"
    with services.session_factory() as session:
        sent = list(session.scalars(select(Message)))
    assert [(m.order_id, m.step, m.status) for m in sent] == [(ui["order_ids"][1], "confirmation", "sent")]

    # The run's page, its Artifacts tab, the artifact: the decisions table as the UI shows it.
    browser.get(f"{ui['base']}/runs/flow-run/{run.id}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.p-tab#artifacts")).__getitem__(0).click()
    key = f"run-journey-order-{ui['order_ids'][1]}"
    card = wait.until(lambda d: d.find_elements(By.XPATH, f"//*[normalize-space(text())='{key}']"))
    card[0].click()
    table = wait.until(lambda d: d.find_elements(By.TAG_NAME, "table"))[0]
    header = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table.find_elements(By.TAG_NAME, "tr")]
    rows = [r for r in rows if r]
    print("artifact table:", header, rows)
    assert header == ["step", "decision", "reason", "until", "channels"]
    assert rows == [["confirmation", "send", "", "", "email"]]


def _the_run(client: Any, deployment: Any, logs: Path) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment])))
        if runs:
            return runs[0]
        time.sleep(0.5)
    pytest.fail(f"the form's submit created no run: {(logs / 'serve.log').read_text()[-2000:]}")
