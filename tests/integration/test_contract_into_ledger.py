"""Provider error paths end to end: the real adapters, through the official SDKs, against Prism serving
the providers' OpenAPI documents, driven by the sweep, and checked in the ledger and customer state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.db.models import Customer, Message, ScheduledStep
from aftercare.providers.sendgrid import SendGridEmailSender
from aftercare.providers.twilio import TwilioSmsSender
from tests.conftest import make_settings
from tests.integration.contract_support import MockProvider, assert_all_valid
from tests.journeys import a_customer, fulfil, place_order

pytestmark = pytest.mark.contract

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SERVICE_SID = "MG" + "fedcba9876543210" * 2
# Which answer Prism gives, by recipient: the mock-only examples of the providers' error responses.
SMS_ANSWERS = {
    "+12125550002": "code=400, example=unsubscribed_21610",
    "+12125550003": "code=400, example=invalid_to_21211",
    "+12125550004": "code=429",
}
EMAIL_ANSWERS = {"c5@example.com": "code=429"}


@pytest.fixture
def wired(tmp_path: Path, clock, twilio_mock: MockProvider, sendgrid_mock: MockProvider):
    sms = TwilioSmsSender(
        account_sid=ACCOUNT_SID, auth_token=SecretStr("contract-test-token"), messaging_service_sid=SERVICE_SID,
        status_callback_url="https://hooks.example.com/webhooks/twilio/status", api_url=twilio_mock.url,
        request_headers=lambda m: {"Prefer": SMS_ANSWERS[m.to]} if m.to in SMS_ANSWERS else {},
    )
    email = SendGridEmailSender(
        api_key=SecretStr("SG.contract-test-key"), from_email="orders@example.com", api_url=sendgrid_mock.url,
        unsubscribe_group_id=4242,
        request_headers=lambda batch: ({"Prefer": EMAIL_ANSWERS[batch[0].to]} if batch[0].to in EMAIL_ANSWERS
                                       else {}),
    )
    services = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms)
    yield services, twilio_mock, sendgrid_mock
    services.engine.dispose()


def ledger(services, channel: str) -> dict[int, Message]:
    with services.session_factory() as session:
        return {m.customer_id: m for m in session.scalars(select(Message).where(Message.channel == channel))}


def test_sms_error_paths_end_in_the_ledger_and_the_customer_state(wired, clock):
    services, twilio, _ = wired
    for n in range(1, 5):
        place_order(services, n=n)
        fulfil(services, n)
    services.sweeper.run()
    assert_all_valid(twilio.take())

    rows = ledger(services, "sms")
    assert rows[1].status == "sent" and rows[1].provider_message_id.startswith("SM")
    assert (rows[2].status, rows[2].reason, rows[2].error_code) == ("failed", "recipient_opted_out", "21610")
    assert (rows[3].status, rows[3].reason, rows[3].error_code) == ("skipped", "invalid_phone", "21211")
    assert rows[4].status == "reserved" and rows[4].reason == "transient_error"  # 429: retried later
    with services.session_factory() as session:
        customers = {c.id: c for c in session.scalars(select(Customer))}
        retry_step = session.scalar(select(ScheduledStep).where(ScheduledStep.customer_id == 4,
                                                                ScheduledStep.step == "shipped"))
    assert customers[2].sms_stopped_at is not None  # 21610 records the opt-out
    assert customers[3].phone_valid is False  # 21211 marks the number invalid
    assert retry_step.status == "pending" and retry_step.due_at > clock.now()

    # The throttled number is retried after its backoff, and nothing else is sent again.
    SMS_ANSWERS.pop("+12125550004")
    try:
        clock.advance(timedelta(hours=2))
        services.sweeper.run()
    finally:
        SMS_ANSWERS["+12125550004"] = "code=429"
    exchanges = twilio.take()
    assert_all_valid(exchanges)
    assert [e.form()["To"] for e in exchanges] == ["+12125550004"]
    assert ledger(services, "sms")[4].status == "sent"


def test_a_sendgrid_429_is_retried_later_and_sent_once(wired, clock):
    services, _, sendgrid = wired
    place_order(services, n=5, customer=a_customer(5, locale="ko"))
    place_order(services, n=6)
    services.sweeper.run()
    assert_all_valid(sendgrid.take())
    rows = ledger(services, "email")
    assert rows[2].status == "sent" and rows[2].provider_message_id  # X-Message-Id stored
    assert rows[1].status == "reserved" and rows[1].reason == "transient_error"

    EMAIL_ANSWERS.pop("c5@example.com")
    try:
        clock.advance(timedelta(hours=2))
        services.sweeper.run()
        clock.advance(timedelta(hours=2))
        services.sweeper.run()
    finally:
        EMAIL_ANSWERS["c5@example.com"] = "code=429"
    exchanges = sendgrid.take()
    assert_all_valid(exchanges)
    assert len(exchanges) == 1 and ledger(services, "email")[1].status == "sent"
