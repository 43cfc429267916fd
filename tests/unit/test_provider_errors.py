"""Provider errors become outcomes without any network: permanent, transient, opted out, or unknown."""

from __future__ import annotations

import logging
import socket
import threading
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message

import pytest
import requests
from pydantic import SecretStr
from python_http_client.exceptions import HTTPError
from twilio.base.exceptions import TwilioRestException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from aftercare.providers.base import EmailMessage, Outcome, SmsMessage
from aftercare.providers.sendgrid import SendGridEmailSender, classify_sendgrid_error
from aftercare.providers.twilio import TwilioSmsSender, classify_twilio_error

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
API_KEY = "SG.unit-test-key-that-must-never-leak"
AUTH_TOKEN = "twilio-unit-test-token-that-must-never-leak"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


def twilio_error(status: int, code: int | None) -> TwilioRestException:
    return TwilioRestException(
        status, "/2010-04-01/Accounts/AC/Messages.json", msg="The 'To' number +14155552671 is bad", code=code
    )


def sendgrid_error(status: int, headers: dict[str, str] | None = None) -> HTTPError:
    message = Message()
    for name, value in (headers or {}).items():
        message[name] = value
    return HTTPError(status, "reason", b'{"errors":[{"message":"x"}]}', message)


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, 21610, Outcome.OPTED_OUT),
        (400, 21211, Outcome.INVALID_RECIPIENT),
        (400, 21614, Outcome.INVALID_RECIPIENT),
        (429, 20429, Outcome.RETRY),
        (429, None, Outcome.RETRY),
        (500, None, Outcome.RETRY),
        (503, 20500, Outcome.RETRY),
        (401, 20003, Outcome.REJECTED),
        (400, 21602, Outcome.REJECTED),
        (404, 20404, Outcome.REJECTED),
    ],
)
def test_twilio_errors_map_to_outcomes_by_code_then_status(
    status: int, code: int | None, outcome: Outcome
) -> None:
    assert classify_twilio_error(twilio_error(status, code))[0] is outcome


def test_a_twilio_error_detail_never_quotes_the_providers_message_with_the_number() -> None:
    _, code, meaning = classify_twilio_error(twilio_error(400, 21211))
    assert code == "21211"
    assert "+1415" not in meaning


def test_a_twilio_connection_refused_is_retryable_but_a_broken_or_timed_out_response_is_unknown() -> None:
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/x", NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    )
    aborted = requests.exceptions.ConnectionError(ProtocolError("Connection aborted."))
    assert classify_twilio_error(refused)[0] is Outcome.RETRY
    assert classify_twilio_error(requests.exceptions.ConnectTimeout())[0] is Outcome.RETRY
    assert classify_twilio_error(aborted)[0] is Outcome.UNKNOWN
    assert classify_twilio_error(requests.exceptions.ReadTimeout())[0] is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (403, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_sendgrid_4xx_is_permanent_and_5xx_transient(status: int, outcome: Outcome) -> None:
    assert classify_sendgrid_error(sendgrid_error(status), now=NOW)[0] is outcome


def test_a_sendgrid_429_retries_after_the_rate_limit_reset() -> None:
    reset = int(NOW.timestamp()) + 42
    outcome, code, _, retry_after = classify_sendgrid_error(
        sendgrid_error(429, {"X-RateLimit-Reset": str(reset), "X-RateLimit-Remaining": "0"}), now=NOW
    )
    assert (outcome, code, retry_after) == (Outcome.RETRY, "429", 42.0)


def test_a_sendgrid_429_with_a_past_or_missing_reset_waits_at_least_a_second() -> None:
    past = sendgrid_error(429, {"X-RateLimit-Reset": "1700000000"})
    assert classify_sendgrid_error(past, now=NOW)[3] == 1.0
    assert classify_sendgrid_error(sendgrid_error(429), now=NOW)[3] == 1.0


def test_a_sendgrid_connection_failure_is_retryable_but_a_response_timeout_is_unknown() -> None:
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    assert classify_sendgrid_error(refused, now=NOW)[:2] == (Outcome.RETRY, "connection")
    assert classify_sendgrid_error(TimeoutError("timed out"), now=NOW)[0] is Outcome.UNKNOWN
    assert classify_sendgrid_error(ConnectionResetError(), now=NOW)[0] is Outcome.UNKNOWN


# --- the adapters against loopback sockets: nothing listening, or a server that never answers ----------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and reads requests but never answers: the request has left, no response."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def email(message_id: str = "ledger-1") -> EmailMessage:
    return EmailMessage(
        message_id=message_id, to="ana@example.com", subject="Your order", html="<p>Hi</p>", text="Hi",
        step="order_confirmation", template="order_confirmation", locale="en", marketing=False,
    )


def sms(message_id: str = "ledger-1", to: str = "+14155552671") -> SmsMessage:
    return SmsMessage(message_id=message_id, to=to, body="Your order shipped", step="shipping",
                      template="shipping", locale="en", marketing=False)


def sendgrid_at(port: int, timeout: float = 5.0) -> SendGridEmailSender:
    return SendGridEmailSender(api_key=SecretStr(API_KEY), from_email="orders@example.com",
                               api_url=f"http://127.0.0.1:{port}", timeout_seconds=timeout)


def twilio_at(port: int, timeout: float = 5.0) -> TwilioSmsSender:
    return TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=SecretStr(AUTH_TOKEN),
        from_number="+14155550100",
        api_url=f"http://127.0.0.1:{port}",
        timeout_seconds=timeout,
    )


def test_a_failed_sendgrid_send_never_shows_the_api_key_in_results_reprs_or_logs(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sender = sendgrid_at(closed_port())
    [result] = sender.send_emails([email()])
    assert (result.outcome, result.error_code) == (Outcome.RETRY, "connection")
    assert API_KEY not in repr(result) + repr(sender) + caplog.text
    assert "ana@example.com" not in caplog.text  # the SDK's payload log is redacted too


def test_a_failed_twilio_send_never_shows_the_auth_token_in_results_reprs_or_logs(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sender = twilio_at(closed_port())
    [result] = sender.send_sms([sms()])
    assert result.outcome is Outcome.RETRY
    assert AUTH_TOKEN not in repr(result) + repr(sender) + caplog.text


def test_a_sendgrid_request_that_left_but_got_no_answer_is_unknown_not_retried(silent_server: int) -> None:
    [result] = sendgrid_at(silent_server, timeout=0.5).send_emails([email()])
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "no_response")


def test_a_twilio_request_that_left_but_got_no_answer_is_unknown_not_retried(silent_server: int) -> None:
    [result] = twilio_at(silent_server, timeout=0.5).send_sms([sms()])
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "no_response")


def test_an_invalid_number_is_a_recorded_skip_and_the_rest_of_the_batch_still_goes() -> None:
    results = twilio_at(closed_port()).send_sms([sms("a", to="12"), sms("b"), sms("c", to="+1 099 555 2671")])
    assert [(r.message_id, r.outcome) for r in results] == [
        ("a", Outcome.INVALID_RECIPIENT),
        ("b", Outcome.RETRY),
        ("c", Outcome.INVALID_RECIPIENT),
    ]
    assert all(r.segments == 1 for r in results)
