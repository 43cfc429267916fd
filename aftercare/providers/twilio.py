"""SMS through Twilio's Messages API, on the official `twilio` SDK.

One Messages create per message, sent from a Messaging Service (preferred) or a From number, with the
status callback URL when one is configured. Before any send, each number is normalised to E.164 with
`phonenumbers`; an invalid number is a recorded INVALID_RECIPIENT, never a crash of the batch. The sends
of a batch overlap in a thread pool, each taking a token from the sender's rate limiter first, so the
configured rate holds across threads and (with Redis) across workers.

Outcomes come from a lookup table of Twilio error codes: 21610 (the recipient sent STOP) is OPTED_OUT,
21211/21614 INVALID_RECIPIENT, 429/20429 and 5xx RETRY, other 4xx REJECTED. A connection that failed
before the request left is RETRY; a timeout or broken connection after it left is UNKNOWN (it may have
been sent; Twilio has no idempotency key, so it must not be resent blindly). Details never carry
Twilio's message text, which quotes the phone number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from aftercare.providers.base import (
    Outcome,
    SendResult,
    SentSms,
    SmsMessage,
    TransientSendError,
    body_digest,
)
from aftercare.providers.credentials import Credential, require, reveal
from aftercare.providers.phone import normalise_phone
from aftercare.providers.ratelimit import RateLimiter, pool_size

try:  # the renderer's counter, once it exists in this tree
    from aftercare.rendering.segments import count_segments
except ImportError:  # pragma: no cover - depends on the branch

    def count_segments(body: str) -> tuple[int, str]:
        return _count_segments(body)


# Twilio error code -> (outcome, meaning). Anything not listed: 5xx RETRY, other 4xx REJECTED.
TWILIO_ERRORS: dict[int, tuple[Outcome, str]] = {
    21610: (Outcome.OPTED_OUT, "recipient has opted out (STOP)"),
    21211: (Outcome.INVALID_RECIPIENT, "invalid To number"),
    21614: (Outcome.INVALID_RECIPIENT, "To number is not a mobile number"),
    20429: (Outcome.RETRY, "too many requests"),
    20003: (Outcome.REJECTED, "authentication failed"),
    21408: (Outcome.REJECTED, "region not enabled for this account"),
}

RequestHeaders = Callable[[SmsMessage], Mapping[str, str]]


class TwilioSmsSender:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: Credential,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        status_callback_url: str | None = None,
        api_url: str | None = None,
        timeout_seconds: float = 10.0,
        limiter: RateLimiter | None = None,
        max_concurrency: int = 32,
        default_region: str | None = None,
        request_headers: RequestHeaders | None = None,
        lookup_headers: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        """`request_headers` and `lookup_headers` are test hooks (e.g. Prism's `Prefer`) returning extra headers
        per message sent, and per recipient looked up."""
        if not (messaging_service_sid or from_number):
            raise ValueError("Twilio needs a messaging_service_sid or a from_number")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.account_sid = account_sid
        self._auth_token = require(auth_token, "auth_token")
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        self.status_callback_url = status_callback_url
        self.api_url = api_url.rstrip("/") if api_url else None
        self.timeout_seconds = timeout_seconds
        self.limiter = limiter
        self.max_concurrency = max(1, max_concurrency)
        self.default_region = default_region
        self._request_headers = request_headers
        self._lookup_headers = lookup_headers
        self.lookup_page_size = 100
        self.lookup_max_pages = 3
        self._client: Client | None = None
        self._http: _HeaderHttpClient | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        sender = self.messaging_service_sid or self.from_number
        return f"TwilioSmsSender(account_sid={self.account_sid!r}, sender={sender!r})"

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        if not messages:
            return []
        rate_bound = pool_size(self.limiter.rate) if self.limiter else self.max_concurrency
        workers = min(len(messages), self.max_concurrency, rate_bound)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twilio") as pool:
            return list(pool.map(self._send_one, messages))

    def _send_one(self, message: SmsMessage) -> SendResult:
        segments, _encoding = count_segments(message.body)
        to = normalise_phone(message.to, self.default_region)
        if to is None:
            return SendResult(
                message.message_id,
                Outcome.INVALID_RECIPIENT,
                error_code="invalid_number",
                detail="not a valid phone number",
                segments=segments,
            )
        try:
            if self.limiter is not None:
                self.limiter.acquire()
        except Exception as exc:  # noqa: BLE001 - nothing has left: safe to send later
            return SendResult(
                message.message_id, Outcome.RETRY, error_code="rate_limiter", detail=type(exc).__name__
            )
        client, http = self._sdk()
        http.local.headers = dict(self._request_headers(message)) if self._request_headers else None
        try:
            created = client.messages.create(to=to, body=message.body, **self._sender_fields())
        except Exception as exc:  # noqa: BLE001 - any other failure of one send stays with that message
            return _result_for_error(message.message_id, exc, segments)
        finally:
            http.local.headers = None
        return SendResult(message.message_id, Outcome.SENT, provider_id=created.sid, segments=segments)

    def lookup_sms(self, *, to: str, sent_after: datetime, sent_before: datetime) -> list[SentSms]:
        """Our outbound messages to `to` created in the window, from Twilio's Messages list.

        Filtered by `To` (and `From` when we send from a number) and `DateSent>` a day before the window
        (Twilio reads that filter by day); then here by direction, by our sender (number or messaging
        service) and by `date_created` in the window. At most `lookup_max_pages` pages are read. Only ids,
        times and body digests leave this method. A failed lookup raises TransientSendError: the caller
        must not take "could not ask" for "not sent".
        """
        number = normalise_phone(to, self.default_region)
        if number is None:
            return []
        client, http = self._sdk()
        filters: dict[str, Any] = {"to": number, "date_sent_after": _day_start(sent_after - timedelta(days=1))}
        if not self.messaging_service_sid and self.from_number:
            filters["from_"] = self.from_number
        found: dict[str, SentSms] = {}
        http.local.headers = dict(self._lookup_headers(number)) if self._lookup_headers else None
        try:
            page = client.messages.page(page_size=self.lookup_page_size, **filters)
            for pages_read in range(1, self.lookup_max_pages + 1):
                for m in page:
                    if self._ours(m) and _within(m.date_created, sent_after, sent_before):
                        found.setdefault(m.sid, SentSms(m.sid, m.date_created, body_digest(m.body or "")))
                if pages_read == self.lookup_max_pages or (page := page.next_page()) is None:
                    break
        except Exception as exc:  # noqa: BLE001 - any failure means we do not know
            _outcome, code, _meaning = classify_twilio_error(exc)
            raise TransientSendError(f"Twilio Messages list failed: {code} {type(exc).__name__}") from None
        finally:
            http.local.headers = None
        return list(found.values())

    def _ours(self, message: Any) -> bool:
        if not str(message.direction or "").startswith("outbound"):
            return False
        if self.messaging_service_sid:
            return bool(message.messaging_service_sid == self.messaging_service_sid)
        return bool(message.from_ == self.from_number)

    def _sender_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.messaging_service_sid:
            fields["messaging_service_sid"] = self.messaging_service_sid
        else:
            fields["from_"] = self.from_number
        if self.status_callback_url:
            fields["status_callback"] = self.status_callback_url
        return fields

    def _sdk(self) -> tuple[Client, _HeaderHttpClient]:
        with self._client_lock:
            if self._client is None or self._http is None:
                self._http = _HeaderHttpClient(timeout=self.timeout_seconds, pool=self.max_concurrency)
                self._client = Client(
                    username=self.account_sid,
                    password=reveal(self._auth_token),
                    account_sid=self.account_sid,
                    http_client=self._http,
                )
                if self.api_url:
                    self._client.api.base_url = self.api_url
            return self._client, self._http


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is None or start <= moment <= end


def classify_twilio_error(exc: BaseException) -> tuple[Outcome, str, str]:
    """(outcome, error code, meaning) for an exception raised by a Messages create."""
    if isinstance(exc, TwilioRestException):
        code = int(exc.code) if exc.code else None
        if code in TWILIO_ERRORS:
            outcome, meaning = TWILIO_ERRORS[code]
            return outcome, str(code), meaning
        status = int(exc.status)
        label = str(code or status)
        if status == 429:
            return Outcome.RETRY, label, "too many requests"
        if status >= 500:
            return Outcome.RETRY, label, "provider error"
        return Outcome.REJECTED, label, "refused"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _failed_to_connect(exc):
        return Outcome.RETRY, "connection", type(exc).__name__
    return Outcome.UNKNOWN, "no_response", type(exc).__name__


def _failed_to_connect(exc: BaseException) -> bool:
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError | ConnectTimeoutError)


def _result_for_error(message_id: str, exc: BaseException, segments: int) -> SendResult:
    outcome, code, meaning = classify_twilio_error(exc)
    return SendResult(message_id, outcome, error_code=code, detail=meaning, segments=segments)


class _HeaderHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, with a pool as wide as our threads and optional per-thread extra headers."""

    def __init__(self, *, timeout: float, pool: int) -> None:
        super().__init__(timeout=timeout)
        adapter = HTTPAdapter(pool_maxsize=pool)
        assert self.session is not None
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.local = threading.local()

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        extra = getattr(self.local, "headers", None)
        if extra:
            headers = {**(headers or {}), **extra}
        return super().request(method, url, params=params, data=data, headers=headers, **kwargs)


_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def _count_segments(body: str) -> tuple[int, str]:
    """Minimal segment count (GSM-7 160/153, UCS-2 70/67) until `aftercare.rendering.segments` lands.

    Ignores that a GSM escape pair is never split across segments, so it can undercount by one at the
    edge; UCS-2 counts UTF-16 code units, so an emoji costs two.
    """
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in body):
        septets = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        return (1 if septets <= 160 else -(-septets // 153)), "GSM-7"
    units = len(body.encode("utf-16-le")) // 2
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"
