"""The one small interface every email and SMS provider implements.

Senders take a batch and return one `SendResult` per message, in order, instead of raising: one invalid
number or refused address must never sink the rest of a batch. `TransientSendError` and
`PermanentSendError` exist for the places that do raise (a whole request failing), so Prefect retries
only what a retry can help.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Outcome(StrEnum):
    SENT = "sent"  # accepted; provider_id is set
    REJECTED = "rejected"  # permanent: do not retry (SendGrid 400/401/403/413, most Twilio 4xx)
    OPTED_OUT = "opted_out"  # the recipient sent STOP (Twilio 21610): record the opt-out, do not retry
    INVALID_RECIPIENT = "invalid_recipient"  # Twilio 21211, or a number/address that fails validation
    RETRY = "retry"  # transient: 429, 5xx, connection refused before the request left; safe to resend
    UNKNOWN = "unknown"  # timed out after the request left: may have been sent; reconcile, never resend


@dataclass(frozen=True)
class EmailMessage:
    message_id: str  # our ledger id: goes to personalizations[].custom_args; never personal data
    to: str
    subject: str
    html: str
    text: str
    step: str  # used as the category
    template: str
    locale: str
    marketing: bool  # marketing messages carry an ASM group and one-click List-Unsubscribe
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class SmsMessage:
    message_id: str
    to: str  # E.164
    body: str
    step: str
    template: str
    locale: str
    marketing: bool
    segments: int = 1


@dataclass(frozen=True)
class SendResult:
    message_id: str
    outcome: Outcome
    provider_id: str | None = None
    error_code: str | None = None
    detail: str | None = None  # never personal data
    retry_after_seconds: float | None = None
    segments: int | None = None  # SMS only: billed segments, as counted before the send


class SendError(Exception):
    """A whole provider request failed."""


class TransientSendError(SendError):
    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentSendError(SendError):
    pass


class EmailSender(Protocol):
    name: str

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        """Send a batch; return one result per message, in the same order."""
        ...


class SmsSender(Protocol):
    name: str

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        """Send a batch; return one result per message, in the same order."""
        ...


@dataclass(frozen=True)
class SentSms:
    """An outbound SMS as the provider holds it: its id, when it was created, and a digest of its body
    (never the body or the number, so nothing personal travels further than the adapter)."""

    provider_id: str
    created_at: datetime | None
    body_digest: str


@runtime_checkable
class SmsLookup(Protocol):
    """An SMS sender that can say what it sent: how an `unknown` outcome is reconciled (Twilio's Messages
    list). Senders without it leave their unknowns to the operator."""

    def lookup_sms(self, *, to: str, sent_after: datetime, sent_before: datetime) -> list[SentSms]:
        """Outbound messages from our sender to `to` created in the window; raises SendError if it cannot tell."""
        ...


def body_digest(body: str) -> str:
    """The SHA-256 of an SMS body as sent: stored on the ledger row, compared with the provider's records."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientSendError)
