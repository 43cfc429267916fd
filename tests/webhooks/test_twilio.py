"""Twilio inbound SMS and status callbacks: signatures over the public URL, STOP/START/HELP, CSAT replies."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from aftercare.bootstrap import Services
from aftercare.db.models import Consent, CsatAnswer, Customer, InboxEvent
from tests.journeys import place_order
from tests.webhooks.conftest import a_message, message_row, snapshot, twilio_post

PHONE = "+12125550001"  # the phone of tests.journeys.a_customer(1)


def inbound(body: str, sid: str, phone: str = PHONE) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "ACtest", "From": phone, "To": "+15005550006", "Body": body}


def customer(services: Services) -> Customer:
    with services.session_factory() as session:
        found = session.scalar(select(Customer))
        assert found is not None
        return found


def test_stop_then_start_opts_out_with_time_and_source_then_back_in(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    response = twilio_post(client, "/webhooks/twilio/inbound", inbound("  stop ", "SM1"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    stopped = customer(services)
    assert stopped.sms_stopped_at == services.clock.now()
    with services.session_factory() as session:
        sms = list(session.scalars(select(Consent).where(Consent.channel == "sms")))
        assert sms and all(not c.granted and c.source == "sms:stop" for c in sms)
    services.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    twilio_post(client, "/webhooks/twilio/inbound", inbound("START", "SM2"))
    assert customer(services).sms_stopped_at is None
    with services.session_factory() as session:
        assert all(c.granted for c in session.scalars(select(Consent).where(Consent.channel == "sms")))


def test_help_answers_with_the_help_text_once(client: TestClient, services: Services) -> None:
    params = inbound("help", "SM3")
    first = twilio_post(client, "/webhooks/twilio/inbound", params)
    assert "<Message>Test Store" in first.text and "help@store.test" in first.text
    replay = twilio_post(client, "/webhooks/twilio/inbound", params)
    assert replay.status_code == 200 and "<Message>" not in replay.text


def test_a_reply_in_the_survey_window_records_the_csat_answer(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    a_message(services, order_id=order_id, channel="sms", provider_id="SMcsat", sent_ago=timedelta(days=2))
    twilio_post(client, "/webhooks/twilio/inbound", inbound("5", "SM4"))
    with services.session_factory() as session:
        answer = session.scalar(select(CsatAnswer))
        assert answer is not None and (answer.order_id, answer.score, answer.channel) == (order_id, 5, "sms")


def test_a_csat_reply_with_no_survey_outstanding_is_only_stored(
    client: TestClient, services: Services
) -> None:
    order_id = place_order(services)
    a_message(services, order_id=order_id, channel="sms", provider_id="SMold", sent_ago=timedelta(days=8))
    twilio_post(client, "/webhooks/twilio/inbound", inbound("4", "SM5"))
    twilio_post(client, "/webhooks/twilio/inbound", inbound("3", "SM6", phone="+12125559999"))
    with services.session_factory() as session:
        assert session.scalar(select(CsatAnswer)) is None
        notes = [e.dedup_key for e in session.scalars(select(InboxEvent))]
    assert len(notes) == 2


def test_status_callbacks_update_the_ledger_and_record_30007(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="sms", provider_id="SMout")
    status = {
        "MessageSid": "SMout",
        "AccountSid": "ACtest",
        "MessageStatus": "undelivered",
        "ErrorCode": "30007",
    }
    assert twilio_post(client, "/webhooks/twilio/status", status).status_code == 204
    row = message_row(services, mid)
    assert (row.status, row.error_code, row.reason) == ("failed", "30007", "twilio_30007")
    # A late `sent` callback does not move it back.
    twilio_post(client, "/webhooks/twilio/status", {**status, "MessageStatus": "sent", "ErrorCode": ""})
    assert message_row(services, mid).status == "failed"


def test_delivered_status_then_replay_with_idempotency_token(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="sms", provider_id="SMok")
    status = {"MessageSid": "SMok", "AccountSid": "ACtest", "MessageStatus": "delivered"}
    headers = {"I-Twilio-Idempotency-Token": "tok-1"}
    twilio_post(client, "/webhooks/twilio/status", status, headers=headers)
    assert message_row(services, mid).status == "delivered"
    before = snapshot(services)
    assert twilio_post(client, "/webhooks/twilio/status", status, headers=headers).status_code == 204
    assert snapshot(services) == before


def test_forged_and_missing_signatures_get_401_and_change_nothing(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    before = snapshot(services)
    params = inbound("STOP", "SM7")
    assert twilio_post(client, "/webhooks/twilio/inbound", params, token="wrong-token").status_code == 401
    assert client.post("/webhooks/twilio/inbound", data=params).status_code == 401
    # Signed for the URL the app sees behind the proxy rather than the public one Twilio called.
    from twilio.request_validator import RequestValidator

    internal = RequestValidator("twilio-test-auth-token").compute_signature(
        "http://internal:8000/webhooks/twilio/inbound", params
    )
    assert (
        client.post(
            "/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": internal}
        ).status_code
        == 401
    )
    assert snapshot(services) == before


def test_a_signed_form_without_a_message_sid_gets_400(client: TestClient, services: Services) -> None:
    before = snapshot(services)
    assert twilio_post(client, "/webhooks/twilio/inbound", {"Body": "STOP"}).status_code == 400
    assert twilio_post(client, "/webhooks/twilio/status", {"MessageSid": "SMx"}).status_code == 400
    assert snapshot(services) == before


def test_a_signed_start_replayed_without_its_idempotency_header_changes_nothing(
    client: TestClient, services: Services
) -> None:
    """`I-Twilio-Idempotency-Token` is not signed: a captured START replayed without it must not re-subscribe."""
    place_order(services)
    twilio_post(client, "/webhooks/twilio/inbound", inbound("STOP", "SM10"))
    start = inbound("START", "SM11")
    twilio_post(client, "/webhooks/twilio/inbound", start, headers={"I-Twilio-Idempotency-Token": "idem-11"})
    services.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    twilio_post(client, "/webhooks/twilio/inbound", inbound("STOP", "SM12"))
    assert customer(services).sms_stopped_at is not None
    before = snapshot(services)
    services.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert twilio_post(client, "/webhooks/twilio/inbound", start).status_code == 200
    assert twilio_post(client, "/webhooks/twilio/inbound", start,
                       headers={"I-Twilio-Idempotency-Token": "a-fresh-one"}).status_code == 200
    assert snapshot(services) == before
    assert customer(services).sms_stopped_at is not None


def test_a_status_callback_replayed_under_another_idempotency_token_changes_nothing(
    client: TestClient, services: Services
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="sms", provider_id="SMst")
    failed = {"MessageSid": "SMst", "AccountSid": "ACtest", "MessageStatus": "undelivered", "ErrorCode": "21610"}
    twilio_post(client, "/webhooks/twilio/status", failed, headers={"I-Twilio-Idempotency-Token": "t-1"})
    assert message_row(services, mid).status == "failed"
    with services.session_factory() as session:
        session.execute(update(Customer).values(sms_stopped_at=None))  # say the customer texted START since
        session.commit()
    before = snapshot(services)
    assert twilio_post(client, "/webhooks/twilio/status", failed,
                       headers={"I-Twilio-Idempotency-Token": "t-2"}).status_code == 204
    assert snapshot(services) == before
