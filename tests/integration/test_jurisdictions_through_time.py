"""Jurisdiction rules through the sweep: the order's address decides the law, the law decides the message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from tests.conftest import make_settings, run_until
from tests.journeys import a_customer, fulfil, place_order, track

SEOUL = {"name": "Jimin", "address1": "1 Sejong-daero", "city": "Seoul", "zip": "04524", "country_code": "KR"}
NEW_YORK = {"name": "Alex", "address1": "1 Main St", "city": "New York", "zip": "10001", "country_code": "US",
            "province_code": "NY"}


def deliver_and_wait_for_csat(services: Services, clock: FrozenClock) -> None:
    run_until(services, clock, clock.now() + timedelta(hours=1))
    fulfil(services)
    run_until(services, clock, clock.now() + timedelta(days=1))
    track(services, "delivered")
    run_until(services, clock, clock.now() + timedelta(days=4))


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_korean_ads_open_with_the_prefix_in_any_language_and_transactional_messages_do_not(
    services: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender, locale: str
) -> None:
    customer = a_customer(1, locale=locale, timezone=None, region="KR", phone="+821055551234")
    place_order(services, customer=customer, shipping_address=SEOUL)
    deliver_and_wait_for_csat(services, clock)
    setup_guide = next(m for m in email.sent if m.step == "setup_guide")
    assert setup_guide.subject.startswith("(광고)")
    csat = next(m for m in sms.sent if m.step == "csat")
    assert csat.body.startswith("(광고)")
    assert not any(m.subject.startswith("(광고)") for m in email.sent if not m.marketing)
    assert not any(m.body.startswith("(광고)") for m in sms.sent if not m.marketing)


@pytest.fixture
def production(tmp_path: Path, clock: FrozenClock, email: FakeEmailSender,
               sms: FakeSmsSender) -> Iterator[Services]:
    settings = make_settings(tmp_path, environment="production", link_secret="k" * 40,
                             store_postal_address="1 Main St, Springfield, IL 62701, USA")
    built = build_services(settings, clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


def test_in_production_a_korean_ad_sms_without_an_opt_out_number_is_skipped_and_us_email_shows_the_address(
    production: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender
) -> None:
    korean = a_customer(1, locale="ko", timezone=None, region="KR", phone="+821055551234",
                        email="c1@example.com")
    place_order(production, customer=korean, shipping_address=SEOUL)
    american = a_customer(2, region="US")
    place_order(production, n=2, customer=american, shipping_address=NEW_YORK)
    run_until(production, clock, clock.now() + timedelta(hours=1))
    fulfil(production, 1)
    fulfil(production, 2)
    run_until(production, clock, clock.now() + timedelta(days=1))
    track(production, "delivered", 1)
    track(production, "delivered", 2)
    run_until(production, clock, clock.now() + timedelta(days=4))
    with production.session_factory() as session:
        skipped = {(m.step, m.channel, m.reason) for m in session.scalars(select(Message))
                   if m.status == "skipped"}
    assert ("csat", "sms", "no_opt_out_number") in skipped  # Korea: a free opt-out number in ad SMS
    assert ("setup_guide", "email", "no_sender_contact") in skipped  # and the sender's contact in ads
    assert not any(m.to == "+821055551234" and m.marketing for m in sms.sent)
    us_setup = next(m for m in email.sent if m.step == "setup_guide" and m.to == "c2@example.com")
    assert "1 Main St, Springfield, IL 62701, USA" in us_setup.html
    assert "1 Main St, Springfield, IL 62701, USA" in us_setup.text


def test_a_shipped_sms_at_night_waits_for_eight_but_its_email_goes_with_it(
    services: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender
) -> None:
    # START is 00:00 in Seoul: the shipped notice waits for 08:00 KST (23:00 UTC).
    place_order(services, customer=a_customer(1, locale="ko", timezone=None, region="KR",
                                              phone="+821055551234"), shipping_address=SEOUL)
    services.sweeper.run()
    fulfil(services)
    services.sweeper.run()
    assert not [m for m in sms.sent if m.step == "shipped"]
    assert "shipped" not in [m.step for m in email.sent]  # one decision for the step: the email waits too
    run_until(services, clock, clock.now() + timedelta(hours=7, minutes=30))
    assert not [m for m in sms.sent if m.step == "shipped"]
    run_until(services, clock, clock.now() + timedelta(hours=1))
    [shipped] = [m for m in sms.sent if m.step == "shipped"]
    assert [m.step for m in email.sent].count("shipped") == 1
