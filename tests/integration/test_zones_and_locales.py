"""A wrong time zone or locale is refused where an operator sets it, and never fails a customer's message
where it comes from data (issue 11, item 12)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from aftercare.bootstrap import Services
from aftercare.cli import app
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.providers.fakes import FakeEmailSender
from aftercare.settings import Settings, get_settings
from tests.conftest import run_until
from tests.journeys import a_customer, fulfil, place_order


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EST+5", "", "../../etc/passwd", "America/New York"])
def test_an_unknown_default_timezone_stops_the_cli_with_the_settings_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path, fresh_settings: None, zone: str
) -> None:
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERCARE_SHOPIFY_DEFAULT_TIMEZONE", zone)
    result = CliRunner().invoke(app, ["init-db"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)
    assert "AFTERCARE_SHOPIFY_DEFAULT_TIMEZONE" in str(result.exception)
    assert not (tmp_path / "aftercare.db").exists()  # refused before it touched anything


def test_a_known_default_timezone_is_accepted(tmp_path) -> None:
    assert Settings(home=tmp_path, shopify_default_timezone="Asia/Seoul").shopify_default_timezone == "Asia/Seoul"


@pytest.mark.parametrize(("zone", "locale"), [("Mars/Olympus", "en"), ("", "xx-!!"), ("Asia/Seoul", "zz" * 8),
                                              ("../etc", "")])
def test_a_customer_row_with_an_unknown_zone_or_locale_still_gets_every_transactional_message(
    services: Services, clock: FrozenClock, email: FakeEmailSender, zone: str, locale: str
) -> None:
    place_order(services, customer=a_customer(timezone=zone, locale=locale))
    services.sweeper.run()
    fulfil(services)
    # A shipped SMS waits for 08:00 where the customer is (midnight in Seoul at START): sweep through the day.
    run_until(services, clock, clock.now() + timedelta(hours=12))
    assert [m.step for m in email.sent] == ["confirmation", "shipped"]
    assert {m.locale for m in email.sent} == {"en"}
    with services.session_factory() as session:
        assert set(session.scalars(select(Message.status).where(Message.channel == "email"))) == {"sent"}
