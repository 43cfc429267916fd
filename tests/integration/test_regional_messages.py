"""Through ingest and the sweep: a London customer's confirmation in British formats, in London's time."""

from __future__ import annotations

from aftercare.bootstrap import Services
from aftercare.providers.fakes import FakeEmailSender
from tests.journeys import a_customer, place_order

LONDON = {"name": "Alex", "address1": "10 Downing St", "city": "London", "zip": "SW1A 2AA", "country_code": "GB"}


def test_a_london_customer_reads_british_dates_with_the_zone_named(
    services: Services, email: FakeEmailSender
) -> None:
    customer = a_customer(1, timezone=None, region="GB", phone="+447700900123")
    place_order(services, customer=customer, shipping_address=LONDON)
    services.sweeper.run()
    [confirmation] = email.sent
    # Placed at START, 15:00 UTC on 2 March; the cancel window ends two hours later.
    assert "2 March 2026, 15:00 GMT" in confirmation.text
    assert "3/2/26" not in confirmation.text and "Mar 2, 2026" not in confirmation.text
    assert "United Kingdom" in confirmation.text
