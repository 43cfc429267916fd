"""`aftercare explain` and `aftercare status` print the timeline and the queue, and no personal data."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from aftercare.bootstrap import use_services
from aftercare.cli import app
from tests.journeys import a_customer, fulfil, place_order, track

runner = CliRunner()


def test_explain_prints_every_step_with_its_decision_and_no_contact_details(services, clock):
    place_order(services, n=7, customer=a_customer(7, consents=(), timezone="Asia/Seoul"))
    fulfil(services, 7)
    track(services, "delivered", 7)
    clock.advance(timedelta(days=1, hours=1))
    services.sweeper.run()
    with use_services(services):
        result = runner.invoke(app, ["explain", "#1007"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("confirmation", "setup_guide", "no_marketing_consent", "UTC", "KST", "en/confirmation.email"):
        assert text in result.output
    assert "c7@example.com" not in result.output and "2125550007" not in result.output


def test_explain_an_unknown_order_exits_non_zero(services):
    with use_services(services):
        result = runner.invoke(app, ["explain", "nope"])
    assert result.exit_code == 1 and "no order matches" in result.output


def test_status_prints_the_backlog_and_the_lag(services, clock):
    place_order(services)
    clock.advance(timedelta(hours=2))
    with use_services(services):
        result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "confirmation" in result.output and "lag: 2h 00m" in result.output
    assert "failures waiting: none" in result.output
