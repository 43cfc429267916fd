"""The real Twilio adapter, through the official SDK, against Prism serving Twilio's Messages document.

Every request must validate against `twilio_messages.mock.json` (Twilio's `twilio_api_v2010` spec trimmed
to Messages, plus mock-only 400/429 error examples): Prism's `sl-violations` header must be absent.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from aftercare.providers.base import Outcome, SentSms, SmsMessage, TransientSendError, body_digest
from aftercare.providers.ratelimit import TokenBucket
from aftercare.providers.twilio import TwilioSmsSender
from tests.integration.contract_support import MockProvider, assert_all_valid, assert_requests_valid

pytestmark = pytest.mark.contract

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SERVICE_SID = "MG" + "fedcba9876543210" * 2
AUTH_TOKEN = "contract-test-auth-token"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
PRISM_EXAMPLE_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
PREFER = {
    "opted_out": {"Prefer": "code=400, example=unsubscribed_21610"},
    "invalid": {"Prefer": "code=400, example=invalid_to_21211"},
    "throttled": {"Prefer": "code=429"},
}


def sms(message_id: str, to: str = "+1 415-555-2671", body: str = "Your order has shipped") -> SmsMessage:
    return SmsMessage(message_id=message_id, to=to, body=body, step="shipping", template="shipping",
                      locale="en", marketing=False)


def sender(mock: MockProvider, **overrides: object) -> TwilioSmsSender:
    options: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": SecretStr(AUTH_TOKEN),
        "messaging_service_sid": SERVICE_SID,
        "status_callback_url": "https://hooks.example.com/twilio/status",
        "api_url": mock.url,
        # test hook: the message id names the error Prism should answer with
        "request_headers": lambda message: PREFER.get(message.message_id.split("-")[0], {}),
    }
    options.update(overrides)
    return TwilioSmsSender(**options)  # type: ignore[arg-type]


def test_a_batch_from_a_messaging_service_validates_and_records_each_message_sid(
    twilio_mock: MockProvider,
) -> None:
    messages = [sms("ok-1"), sms("ok-2", to="+44 20 7946 0958"), sms("ok-3", body="Ваш заказ отправлен")]
    results = sender(twilio_mock).send_sms(messages)

    exchanges = twilio_mock.take()
    assert_all_valid(exchanges)
    assert [(r.outcome, r.provider_id) for r in results] == [(Outcome.SENT, PRISM_EXAMPLE_SID)] * 3
    assert [r.segments for r in results] == [1, 1, 1]
    assert {(e.method, e.path, e.status) for e in exchanges} == {("POST", MESSAGES_PATH, 201)}
    forms = sorted((e.form() for e in exchanges), key=lambda form: form["To"])
    assert [form["To"] for form in forms] == ["+14155552671", "+14155552671", "+442079460958"]
    for form in forms:
        assert form["MessagingServiceSid"] == SERVICE_SID
        assert form["StatusCallback"] == "https://hooks.example.com/twilio/status"
        assert "From" not in form
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert all(e.request_headers["authorization"] == f"Basic {credentials}" for e in exchanges)


def test_a_send_from_a_number_without_a_messaging_service_validates(twilio_mock: MockProvider) -> None:
    results = sender(
        twilio_mock, messaging_service_sid=None, from_number="+14155550100", status_callback_url=None
    ).send_sms([sms("ok-1")])

    [exchange] = twilio_mock.take()
    assert_all_valid([exchange])
    assert results[0].outcome is Outcome.SENT
    form = exchange.form()
    assert (form["From"], form["To"]) == ("+14155550100", "+14155552671")
    assert "MessagingServiceSid" not in form and "StatusCallback" not in form


def test_opt_out_invalid_number_and_throttling_map_to_outcomes_without_sinking_the_batch(
    twilio_mock: MockProvider,
) -> None:
    messages = [sms("opted_out-1"), sms("invalid-2"), sms("throttled-3"), sms("ok-4")]
    results = sender(twilio_mock).send_sms(messages)

    exchanges = twilio_mock.take()
    assert_all_valid(exchanges)
    assert sorted(e.status for e in exchanges) == [201, 400, 400, 429]
    assert [(r.message_id, r.outcome, r.error_code) for r in results] == [
        ("opted_out-1", Outcome.OPTED_OUT, "21610"),
        ("invalid-2", Outcome.INVALID_RECIPIENT, "21211"),
        ("throttled-3", Outcome.RETRY, "20429"),
        ("ok-4", Outcome.SENT, None),
    ]
    assert AUTH_TOKEN not in repr(results)


def test_an_invalid_number_is_skipped_before_any_request(twilio_mock: MockProvider) -> None:
    results = sender(twilio_mock).send_sms([sms("ok-1", to="555-01"), sms("ok-2")])

    exchanges = twilio_mock.take()
    assert_all_valid(exchanges)
    assert [r.outcome for r in results] == [Outcome.INVALID_RECIPIENT, Outcome.SENT]
    assert [e.form()["To"] for e in exchanges] == ["+14155552671"]


def test_a_long_unicode_message_records_its_segments_and_validates(twilio_mock: MockProvider) -> None:
    [result] = sender(twilio_mock).send_sms([sms("ok-1", body="한국어 배송 안내입니다. " * 10)])
    assert_all_valid(twilio_mock.take())
    assert (result.outcome, result.segments) == (Outcome.SENT, 3)


def test_the_send_rate_holds_while_the_sends_of_a_batch_overlap(twilio_mock: MockProvider) -> None:
    rate, burst = 20.0, 1
    results = sender(twilio_mock, limiter=TokenBucket(rate, burst)).send_sms(
        [sms(f"ok-{n}") for n in range(30)]
    )

    exchanges = twilio_mock.take()
    assert_all_valid(exchanges)
    assert all(r.outcome is Outcome.SENT for r in results)
    starts = [e.started for e in exchanges]
    most_in_a_second = max(sum(1 for s in starts if first <= s < first + 1.0) for first in starts)
    assert most_in_a_second <= rate + burst


# Reconciling an unknown outcome: the Messages list (GET), filtered by recipient and date (issue 11, item 16).
EXAMPLE_SERVICE_SID = "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  # the sender of Prism's `readFullPage1` example
LIST_EXAMPLES = {"+18182008801": {}, "+14155552671": {"Prefer": "example=readEmptySentdateGreater"}}


def lookup_sender(mock: MockProvider, **overrides: object) -> TwilioSmsSender:
    options: dict[str, object] = {"messaging_service_sid": EXAMPLE_SERVICE_SID,
                                  "lookup_headers": lambda number: LIST_EXAMPLES.get(number, {})}
    return sender(mock, **{**options, **overrides})


def test_the_lookup_lists_messages_by_recipient_and_date_and_keeps_only_our_outbound_ones(
    twilio_mock: MockProvider,
) -> None:
    attempted = datetime(2019, 5, 24, 17, 44, 40, tzinfo=UTC)
    found = lookup_sender(twilio_mock).lookup_sms(to="+1 818-200-8801", sent_after=attempted - timedelta(minutes=10),
                                                  sent_before=attempted + timedelta(minutes=10))

    exchanges = twilio_mock.take()
    assert_requests_valid(exchanges)
    assert exchanges and {(e.method, e.status) for e in exchanges} == {("GET", 200)}
    first = parse_qs(urlsplit(exchanges[0].path).query)
    assert urlsplit(exchanges[0].path).path == MESSAGES_PATH
    assert first["To"] == ["+18182008801"] and first["DateSent>"] == ["2019-05-23T00:00:00Z"]
    assert "From" not in first  # a messaging service sends from a pool: filtered by its SID here instead
    assert len(exchanges) <= 3  # paging is bounded
    # The example page holds an outbound message from our service and an inbound one: only the first is ours.
    assert found == [SentSms("SMded05904ccb347238880ca9264e8fe1c", datetime(2019, 5, 24, 17, 44, 46, tzinfo=UTC),
                             body_digest("testing"))]


def test_the_lookup_ignores_other_senders_and_other_times(twilio_mock: MockProvider) -> None:
    attempted = datetime(2019, 5, 24, 17, 44, 40, tzinfo=UTC)
    window = {"sent_after": attempted - timedelta(minutes=10), "sent_before": attempted + timedelta(minutes=10)}
    assert lookup_sender(twilio_mock, messaging_service_sid=SERVICE_SID).lookup_sms(to="+18182008801", **window) == []
    assert lookup_sender(twilio_mock).lookup_sms(to="+18182008801", sent_after=attempted + timedelta(hours=1),
                                                 sent_before=attempted + timedelta(hours=2)) == []
    assert_requests_valid(twilio_mock.take())
    from_number = lookup_sender(twilio_mock, messaging_service_sid=None, from_number="+12019235161")
    assert [s.provider_id for s in from_number.lookup_sms(to="+18182008801", **window)] == [
        "SMded05904ccb347238880ca9264e8fe1c"]
    exchanges = twilio_mock.take()
    assert_requests_valid(exchanges)
    assert parse_qs(urlsplit(exchanges[0].path).query)["From"] == ["+12019235161"]  # a number is filtered on


def test_an_empty_list_means_twilio_never_got_it(twilio_mock: MockProvider) -> None:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert lookup_sender(twilio_mock).lookup_sms(to="+1 415-555-2671", sent_after=now - timedelta(minutes=10),
                                                 sent_before=now) == []
    [exchange] = twilio_mock.take()
    assert_requests_valid([exchange])
    assert parse_qs(urlsplit(exchange.path).query)["To"] == ["+14155552671"]


def test_a_lookup_that_fails_says_so_instead_of_answering_not_found() -> None:
    broken = TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token=SecretStr(AUTH_TOKEN),
                             messaging_service_sid=SERVICE_SID, api_url="http://127.0.0.1:9", timeout_seconds=2)
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    with pytest.raises(TransientSendError) as raised:
        broken.lookup_sms(to="+14155552671", sent_after=now - timedelta(minutes=10), sent_before=now)
    assert "4155552671" not in str(raised.value) and AUTH_TOKEN not in str(raised.value)
