"""The real SendGrid adapter, through the official SDK, against Prism serving SendGrid's Mail Send document.

Every request must validate against `sendgrid_mail.mock.json` (SendGrid's `tsg_mail_v3`, plus a mock-only
X-Message-Id on 202, a 429 with X-RateLimit-*, and the message-level custom_args typed as the API takes
it): Prism's `sl-violations` header must be absent. The bodies on the wire are inspected too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from aftercare.clock import FrozenClock
from aftercare.providers.base import EmailMessage, Outcome
from aftercare.providers.sendgrid import CUSTOM_ARG, SendGridEmailSender
from tests.integration.contract_support import MockProvider, assert_all_valid

pytestmark = pytest.mark.contract

API_KEY = "SG.contract-test-key"
PRISM_MESSAGE_ID = "W9Cb3R0dS7yQ9XyPK8Yf6A"  # the 202 example's X-Message-Id
PRISM_RATE_LIMIT_RESET = 1_700_000_000  # the 429 example's X-RateLimit-Reset
LAYOUT_HEAD = "<html><body><h1>Demo Store</h1>"
LAYOUT_FOOT = "<footer>Demo Store</footer></body></html>"


def email(n: int, *, step: str = "shipping", marketing: bool = False, filler: int = 0) -> EmailMessage:
    return EmailMessage(
        message_id=f"ledger-{n}",
        to=f"customer{n}@example.com",
        subject=f"Order {n} is on its way",
        html=f"{LAYOUT_HEAD}<p>Hello customer {n}</p>{'x' * filler}{LAYOUT_FOOT}",
        text=f"Hello customer {n}",
        step=step,
        template=step,
        locale="en",
        marketing=marketing,
        unsubscribe_url=f"https://shop.example/u/{n}" if marketing else None,
    )


def sender(mock: MockProvider, prefer: str | None = None, **overrides: object) -> SendGridEmailSender:
    options: dict[str, object] = {
        "api_key": SecretStr(API_KEY),
        "from_email": "orders@example.com",
        "api_url": mock.url,
        "unsubscribe_group_id": 4242,
        # test hook: which response Prism should give
        "request_headers": (lambda messages: {"Prefer": prefer}) if prefer else None,
    }
    options.update(overrides)
    return SendGridEmailSender(**options)  # type: ignore[arg-type]


def test_a_transactional_batch_is_one_valid_request_and_every_message_gets_its_x_message_id(
    sendgrid_mock: MockProvider,
) -> None:
    messages = [email(n) for n in range(3)]
    results = sender(sendgrid_mock).send_emails(messages)

    [exchange] = sendgrid_mock.take()
    assert_all_valid([exchange])
    assert (exchange.method, exchange.path, exchange.status) == ("POST", "/v3/mail/send", 202)
    assert exchange.request_headers["authorization"] == f"Bearer {API_KEY}"
    assert [(r.outcome, r.provider_id) for r in results] == [(Outcome.SENT, PRISM_MESSAGE_ID)] * 3
    body = exchange.json()
    assert [p["to"] for p in body["personalizations"]] == [[{"email": m.to}] for m in messages]
    assert [p["subject"] for p in body["personalizations"]] == [m.subject for m in messages]
    custom_args = [p["custom_args"] for p in body["personalizations"]]
    assert custom_args == [{CUSTOM_ARG: m.message_id} for m in messages]
    assert body["categories"] == ["shipping"]
    assert "asm" not in body and "custom_args" not in body
    assert all("headers" not in p for p in body["personalizations"])
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]


def test_a_marketing_request_carries_its_asm_group_and_one_click_list_unsubscribe(
    sendgrid_mock: MockProvider,
) -> None:
    results = sender(sendgrid_mock).send_emails(
        [email(1, step="review_request", marketing=True), email(2, step="review_request", marketing=True)]
    )

    [exchange] = sendgrid_mock.take()
    assert_all_valid([exchange])
    assert all(r.outcome is Outcome.SENT for r in results)
    body = exchange.json()
    assert body["asm"] == {"group_id": 4242}
    assert [p["headers"] for p in body["personalizations"]] == [
        {
            "List-Unsubscribe": f"<https://shop.example/u/{n}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        for n in (1, 2)
    ]


def test_1001_messages_go_out_in_two_valid_requests(sendgrid_mock: MockProvider) -> None:
    results = sender(sendgrid_mock).send_emails([email(n) for n in range(1001)])

    exchanges = sendgrid_mock.take()
    assert_all_valid(exchanges)
    assert sorted(len(e.json()["personalizations"]) for e in exchanges) == [1, 1000]
    assert len(results) == 1001 and all(r.outcome is Outcome.SENT for r in results)
    sent_ids = sorted(p["custom_args"][CUSTOM_ARG] for e in exchanges for p in e.json()["personalizations"])
    assert sent_ids == sorted(f"ledger-{n}" for n in range(1001))


def test_steps_and_oversized_messages_get_their_own_valid_requests(sendgrid_mock: MockProvider) -> None:
    messages = [email(1), email(2, step="delivered"), email(3, filler=20_000), email(4)]
    results = sender(sendgrid_mock).send_emails(messages)

    exchanges = sendgrid_mock.take()
    assert_all_valid(exchanges)
    assert len(exchanges) == 3
    assert sorted(len(e.json()["personalizations"]) for e in exchanges) == [1, 1, 2]
    assert all(r.outcome is Outcome.SENT for r in results)


def test_a_429_is_retryable_after_the_rate_limit_reset(sendgrid_mock: MockProvider) -> None:
    thirty_seconds_before_reset = datetime.fromtimestamp(PRISM_RATE_LIMIT_RESET - 30, tz=UTC)
    limited = sender(sendgrid_mock, prefer="code=429", clock=FrozenClock(thirty_seconds_before_reset))
    results = limited.send_emails([email(1), email(2)])

    [exchange] = sendgrid_mock.take()
    assert_all_valid([exchange])
    assert exchange.status == 429
    assert [(r.outcome, r.error_code, r.retry_after_seconds) for r in results] == [
        (Outcome.RETRY, "429", 30.0)
    ] * 2


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_a_refused_request_is_permanent_for_all_its_messages(
    sendgrid_mock: MockProvider, status: int
) -> None:
    results = sender(sendgrid_mock, prefer=f"code={status}").send_emails([email(1), email(2)])

    [exchange] = sendgrid_mock.take()
    assert_all_valid([exchange])
    assert exchange.status == status
    assert [(r.outcome, r.error_code) for r in results] == [(Outcome.REJECTED, str(status))] * 2
    assert all(API_KEY not in (r.detail or "") for r in results)


def test_a_provider_error_is_retryable(sendgrid_mock: MockProvider) -> None:
    [result] = sender(sendgrid_mock, prefer="code=500").send_emails([email(1)])

    assert_all_valid(sendgrid_mock.take())
    assert (result.outcome, result.error_code) == (Outcome.RETRY, "500")
