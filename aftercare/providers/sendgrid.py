"""Email through SendGrid's v3 Mail Send, on the official `sendgrid` SDK.

Batching. Messages of one step and template go out together, up to 1000 personalizations a request.
Every message is rendered for its customer, so the bodies differ, and the API has no per-personalization
content. What it has is `personalizations[].substitutions`: tags in the shared `content` replaced per
recipient, at most 10,000 bytes per personalization. So the adapter cuts each part (HTML, text) into the
prefix and suffix that every message in the request shares (layout, styles, footer) and the middle that
differs, sends `prefix + tag + suffix` once as content, and each middle as that recipient's substitution;
each recipient's subject is its personalization's `subject`. A message whose differing middle does not
fit the substitution budget goes in a request of its own, with its own content. Recipients therefore
receive exactly the bytes the renderer produced.

Identity. The 202 carries one `X-Message-Id` for the whole request; it is stored as the provider id of
every message in it. Event webhooks carry `sg_message_id` (which starts with it) and our ledger id, which
travels in `personalizations[].custom_args[CUSTOM_ARG]` and nowhere else; categories carry only the step.
Neither ever holds personal data: SendGrid keeps both long-term and cannot erase them.

Marketing messages carry the configured unsubscribe group (`asm.group_id`) and a one-click
`List-Unsubscribe` + `List-Unsubscribe-Post` pair (RFC 8058) for their own unsubscribe URL; a marketing
message without either is refused before any send. Transactional steps carry neither.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import urllib.error
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Asm,
    Category,
    Content,
    CustomArg,
    From,
    GroupId,
    Header,
    Mail,
    Personalization,
    Substitution,
    To,
)

from aftercare.clock import Clock, SystemClock
from aftercare.providers.base import EmailMessage, Outcome, SendResult
from aftercare.providers.credentials import Credential, require, reveal
from aftercare.providers.ratelimit import RateLimiter, pool_size

CUSTOM_ARG = "aftercare_message_id"
MAX_PERSONALIZATIONS = 1000
SUBSTITUTION_BUDGET_BYTES = 10_000
HTML_TAG = "%aftercare_html%"
TEXT_TAG = "%aftercare_text%"
_PERMANENT_MEANING = {400: "bad request", 401: "unauthorized", 403: "forbidden", 413: "payload too large"}

RequestHeaders = Callable[[Sequence[EmailMessage]], Mapping[str, str]]


@dataclass(frozen=True)
class MailRequest:
    messages: tuple[EmailMessage, ...]
    body: dict[str, Any]


class SendGridEmailSender:
    name = "sendgrid"

    def __init__(
        self,
        *,
        api_key: Credential,
        from_email: str,
        api_url: str = "https://api.sendgrid.com",
        unsubscribe_group_id: int | None = None,
        timeout_seconds: float = 10.0,
        limiter: RateLimiter | None = None,
        max_concurrency: int = 4,
        clock: Clock | None = None,
        request_headers: RequestHeaders | None = None,
    ) -> None:
        """`limiter` takes one token per API request; `request_headers` is a test hook (e.g. Prism's
        `Prefer`) returning extra headers for the request carrying the given messages."""
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._api_key = require(api_key, "api_key")
        self.from_email = from_email
        self.api_url = api_url.rstrip("/")
        self.unsubscribe_group_id = unsubscribe_group_id
        self.timeout_seconds = timeout_seconds
        self.limiter = limiter
        self.max_concurrency = max(1, max_concurrency)
        self._clock = clock or SystemClock()
        self._request_headers = request_headers

    def __repr__(self) -> str:
        return f"SendGridEmailSender(api_url={self.api_url!r}, from_email={self.from_email!r})"

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        results: dict[str, SendResult] = {}
        sendable = []
        for message in messages:
            refusal = self._refusal(message)
            if refusal is None:
                sendable.append(message)
            else:
                results[message.message_id] = SendResult(
                    message.message_id, Outcome.REJECTED, error_code="not_sent", detail=refusal
                )
        requests = self.build_requests(sendable)
        rate_bound = pool_size(self.limiter.rate) if self.limiter else self.max_concurrency
        workers = min(len(requests), self.max_concurrency, rate_bound)
        if requests:
            with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sendgrid") as pool:
                for request_results in pool.map(self._send_request, requests):
                    results.update((result.message_id, result) for result in request_results)
        return [results[message.message_id] for message in messages]

    def build_requests(self, messages: Sequence[EmailMessage]) -> list[MailRequest]:
        """The Mail Send bodies for `messages`, as the SDK builds them (no network)."""
        groups: dict[tuple[str, str, bool, bool, bool], list[EmailMessage]] = {}
        for m in messages:
            groups.setdefault((m.step, m.template, m.marketing, bool(m.html), bool(m.text)), []).append(m)
        requests = []
        for group in groups.values():
            for start in range(0, len(group), MAX_PERSONALIZATIONS):
                requests.extend(self._chunk_requests(group[start : start + MAX_PERSONALIZATIONS]))
        return requests

    def _refusal(self, message: EmailMessage) -> str | None:
        if not (message.html or message.text) or not message.subject:
            return "email needs a subject and an HTML or text body"
        if message.marketing and not message.unsubscribe_url:
            return "marketing email needs an unsubscribe_url for one-click List-Unsubscribe"
        if message.marketing and self.unsubscribe_group_id is None:
            return "marketing email needs sendgrid_unsubscribe_group_id (ASM group)"
        return None

    def _chunk_requests(self, chunk: list[EmailMessage]) -> Iterator[MailRequest]:
        shared = _SharedContent.of(chunk)
        batched = [message for message in chunk if shared.fits(message)]
        alone = [message for message in chunk if not shared.fits(message)]
        if len(batched) == 1:
            alone, batched = batched + alone, []
        if batched:
            shared = _SharedContent.of(batched)  # a smaller set shares more, so every middle still fits
            yield MailRequest(tuple(batched), self._body(batched, shared))
        for message in alone:
            yield MailRequest((message,), self._body([message], None))

    def _body(self, messages: list[EmailMessage], shared: _SharedContent | None) -> dict[str, Any]:
        first = messages[0]
        mail = Mail()
        mail.from_email = From(self.from_email)
        for message in messages:
            personalization = Personalization()
            personalization.add_to(To(message.to))
            personalization.subject = message.subject
            personalization.add_custom_arg(CustomArg(CUSTOM_ARG, message.message_id))
            if message.marketing and message.unsubscribe_url:
                personalization.add_header(Header("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
                personalization.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
            if shared is not None:
                for tag, value in shared.substitutions(message).items():
                    personalization.add_substitution(Substitution(tag, value))
            mail.add_personalization(personalization, index=len(mail.personalizations or []))  # SDK prepends
        html, text = (shared.html, shared.text) if shared is not None else (first.html, first.text)
        if text:
            mail.add_content(Content("text/plain", text))
        if html:
            mail.add_content(Content("text/html", html))
        mail.add_category(Category(first.step))
        if first.marketing and self.unsubscribe_group_id is not None:
            mail.asm = Asm(GroupId(self.unsubscribe_group_id))
        body: dict[str, Any] = mail.get()
        return body

    def _send_request(self, request: MailRequest) -> list[SendResult]:
        def every(outcome: Outcome, **fields: Any) -> list[SendResult]:
            return [SendResult(m.message_id, outcome, **fields) for m in request.messages]

        try:
            if self.limiter is not None:
                self.limiter.acquire()
        except Exception as exc:  # noqa: BLE001 - nothing has left: safe to send later
            return every(Outcome.RETRY, error_code="rate_limiter", detail=type(exc).__name__)
        extra = dict(self._request_headers(request.messages)) if self._request_headers else None
        # A client per request: the SDK merges per-call headers into a dict its clients share.
        client = SendGridAPIClient(api_key=reveal(self._api_key), host=self.api_url)
        try:
            response = client.client.mail.send.post(
                request_body=request.body, request_headers=extra, timeout=self.timeout_seconds
            )
        except (HTTPError, OSError, http.client.HTTPException) as exc:
            outcome, code, meaning, retry_after = classify_sendgrid_error(exc, now=self._clock.now())
            return every(outcome, error_code=code, detail=meaning, retry_after_seconds=retry_after)
        if response.status_code != 202:
            return every(Outcome.UNKNOWN, error_code=str(response.status_code), detail="unexpected status")
        return every(Outcome.SENT, provider_id=response.headers.get("X-Message-Id"))


def classify_sendgrid_error(
    exc: BaseException, *, now: datetime
) -> tuple[Outcome, str, str, float | None]:
    """(outcome, error code, meaning, retry after seconds) for an exception from a Mail Send call.

    An HTTP error status is the provider's answer; a `URLError` means the connection failed before a
    response (nothing accepted, safe to resend); a timeout or broken connection while waiting for the
    response may follow an accepted send, so it is UNKNOWN and never resent.
    """
    if isinstance(exc, HTTPError):
        status = int(exc.status_code)
        if status == 429:
            return Outcome.RETRY, "429", "rate limited", _retry_after(exc.headers, now)
        if status >= 500:
            return Outcome.RETRY, str(status), "provider error", None
        return Outcome.REJECTED, str(status), _PERMANENT_MEANING.get(status, "refused"), None
    if isinstance(exc, urllib.error.URLError):
        return Outcome.RETRY, "connection", _reason_name(exc), None
    return Outcome.UNKNOWN, "no_response", type(exc).__name__, None


def _retry_after(headers: Any, now: datetime) -> float:
    """Seconds until `X-RateLimit-Reset` (a Unix time), at least one second."""
    try:
        reset = float(headers.get("X-RateLimit-Reset"))
    except (AttributeError, TypeError, ValueError):
        return 1.0
    return max(1.0, reset - now.timestamp())


def _reason_name(exc: urllib.error.URLError) -> str:
    reason = exc.reason
    return type(reason).__name__ if isinstance(reason, BaseException) else "URLError"


@dataclass(frozen=True)
class _SharedContent:
    html: str
    text: str
    html_cut: tuple[int, int]  # (prefix length, suffix length)
    text_cut: tuple[int, int]

    @classmethod
    def of(cls, messages: Sequence[EmailMessage]) -> _SharedContent:
        html_cut = _common_cut([m.html for m in messages])
        text_cut = _common_cut([m.text for m in messages])
        first = messages[0]
        return cls(
            html=_wrap(first.html, html_cut, HTML_TAG),
            text=_wrap(first.text, text_cut, TEXT_TAG),
            html_cut=html_cut,
            text_cut=text_cut,
        )

    def substitutions(self, message: EmailMessage) -> dict[str, str]:
        values = {}
        if self.html:
            values[HTML_TAG] = _middle(message.html, self.html_cut)
        if self.text:
            values[TEXT_TAG] = _middle(message.text, self.text_cut)
        return values

    def fits(self, message: EmailMessage) -> bool:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in self.substitutions(message).items())
        return size <= SUBSTITUTION_BUDGET_BYTES


def _common_cut(values: list[str]) -> tuple[int, int]:
    """Lengths of the prefix and the (non-overlapping) suffix that all `values` share."""
    if not all(values):
        return (0, 0)
    prefix = len(os.path.commonprefix(values))
    suffix = len(os.path.commonprefix([v[::-1] for v in values]))
    return (prefix, min(suffix, min(len(v) for v in values) - prefix))


def _wrap(value: str, cut: tuple[int, int], tag: str) -> str:
    if not value:
        return ""
    prefix, suffix = cut
    return value[:prefix] + tag + value[len(value) - suffix :]


def _middle(value: str, cut: tuple[int, int]) -> str:
    prefix, suffix = cut
    return value[prefix : len(value) - suffix]


class _RedactSdkDebug(logging.Filter):
    """python_http_client logs request headers (the API key) and payloads (addresses, bodies) at DEBUG."""

    _BEARER = re.compile(r"Bearer\s+[^'\"\s,}]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("PAYLOAD:"):
            record.msg, record.args = "PAYLOAD: <redacted>", None
        elif "Bearer" in message:
            record.msg, record.args = self._BEARER.sub("Bearer <redacted>", message), None
        return True


logging.getLogger("python_http_client.client").addFilter(_RedactSdkDebug())
