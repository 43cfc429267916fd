"""`aftercare preview` opened in a real browser (issue 15, item 10).

Debian's Chromium (packages chromium and chromium-driver, installed by .ci/run) opens every page of the gallery
as a phone would (375 CSS pixels wide): each loads without console errors, nothing is wider than the screen,
and every Arabic page runs right to left.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aftercare.cli import app
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE_WIDTH = 375


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("preview")
    env = {"AFTERCARE_ENVIRONMENT": "development", "AFTERCARE_SHOP_URL": "https://shop.example"}
    result = CliRunner().invoke(app, ["preview", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "largest email" in result.output
    return out


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    if not (shutil.which("chromium") or Path(CHROMIUM).exists()) or not Path(CHROMEDRIVER).exists():
        skip_or_fail("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                     "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": PHONE_WIDTH, "height": 800, "pixelRatio": 2.0}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_gallery_lists_every_step_locale_and_channel(gallery: Path) -> None:
    from aftercare.journeys import default_journey
    from aftercare.rendering.catalogs import shipped_locales

    journey = default_journey()
    index = (gallery / "index.html").read_text(encoding="utf-8")
    for spec in journey.steps:
        for locale in shipped_locales():
            for channel in spec.channels:
                kind = "email" if channel.value == "email" else "sms"
                assert f'href="{spec.name}.{locale}.{kind}.html"' in index
                assert (gallery / f"{spec.name}.{locale}.{kind}.html").is_file()
    for locale in shipped_locales():
        for page in ("score", "unsubscribe", "preferences", "error"):
            assert f'href="web-{page}.{locale}.page.html"' in index
    assert "Gmail clips" not in index


def test_each_preview_shows_the_steps_own_data_as_a_customer_gets_it(gallery: Path) -> None:
    """A step's `sample` fills its links and amounts: the renewal, exchange and restock previews show their
    buttons, not an empty message."""
    from aftercare.journeys import default_journey

    # Steps whose button is a link of their own (a loyalty step's "use my points" is the shop's link, shown
    # when AFTERCARE_SHOP_URL is set).
    linked = ("renewal_reminder", "payment_failed_notice", "exchange_offer", "restock_reminder")
    journey = default_journey()
    assert all(journey.step(name).sample for name in linked)
    for name in linked:
        html = (gallery / f"{name}.pt_BR.email.html").read_text(encoding="utf-8")
        assert "data-primary-action" in html, name
    renewal = (gallery / "renewal_reminder.en.email.html").read_text(encoding="utf-8")
    assert "subscription?t=skip" in renewal and "April 3, 2026" in renewal


def test_every_page_loads_cleanly_fits_a_phone_and_arabic_runs_right_to_left(gallery: Path, phone: Any) -> None:
    pages = sorted(gallery.glob("*.html"))
    assert len(pages) > 100
    problems: list[str] = []
    for page in pages:
        phone.get(page.as_uri())
        state = phone.execute_script(
            "return {ready: document.readyState, width: document.documentElement.scrollWidth,"
            " viewport: window.innerWidth, dir: getComputedStyle(document.body).direction,"
            " lang: document.documentElement.lang}")
        errors = [entry["message"] for entry in phone.get_log("browser") if entry["level"] == "SEVERE"]
        if state["viewport"] != PHONE_WIDTH:  # a phone widens the layout viewport to fit what overflows
            problems.append(f"{page.name}: laid out {state['viewport']} px wide on a {PHONE_WIDTH} px phone")
        if state["ready"] != "complete" or errors:
            problems.append(f"{page.name}: {state['ready']} {errors}")
        if state["width"] > PHONE_WIDTH:
            problems.append(f"{page.name}: {state['width']} px wide on a {PHONE_WIDTH} px screen")
        if ".ar." in page.name and (state["dir"] != "rtl" or state["lang"] != "ar"):
            problems.append(f"{page.name}: direction {state['dir']}, lang {state['lang']}")
        if ".ar." not in page.name and state["dir"] != "ltr":
            problems.append(f"{page.name}: direction {state['dir']}")
    assert not problems, "\n".join(problems)
