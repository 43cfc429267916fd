"""`aftercare explain ORDER --step NAME` shows one step's rows: here a restock reminder deferred to its day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from typer.testing import CliRunner

from aftercare.bootstrap import use_services
from aftercare.cli import app
from aftercare.db.models import Product
from aftercare.services.commands import ItemIn
from tests.journeys import a_customer, fulfil, place_order, track

runner = CliRunner()


def test_explain_one_step_shows_why_and_until_when_it_waits(services, clock):
    with services.session_factory() as session, session.begin():
        session.merge(Product(id="sku-beans", title="Beans", category="coffee", use_cycle_days=30))
    place_order(services, n=7, customer=a_customer(7),
                items=(ItemIn("sku-beans", "Beans", 1, Decimal("24.50"), "coffee"),))
    fulfil(services, 7)
    track(services, "delivered", 7)
    clock.advance(timedelta(hours=1))
    services.sweeper.run()
    with use_services(services):
        result = runner.invoke(app, ["explain", "#1007", "--step", "restock_reminder"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    assert "restock_reminder [sku-beans]" in result.output and "item, delivered" in result.output
    assert "replenishment.not_yet" in result.output
    assert "until" in result.output and "confirmation" not in result.output
