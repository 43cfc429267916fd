"""Recording fakes for tests: they keep what was sent so tests assert on recipients, locales and bodies.

`script` lets a test make sends to a given recipient fail in a given way (transient, permanent, opted
out, unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from aftercare.providers.base import EmailMessage, Outcome, SendResult, SentSms, SmsMessage, body_digest

M = TypeVar("M", EmailMessage, SmsMessage)


@dataclass
class _Recorder(Generic[M]):
    name: str
    id_prefix: str
    sent: list[M] = field(default_factory=list)
    script: dict[str, Outcome] = field(default_factory=dict)  # recipient -> outcome to return instead
    calls: int = 0

    def _send(self, messages: Sequence[M]) -> list[SendResult]:
        self.calls += 1
        results = []
        for m in messages:
            outcome = self.script.get(m.to, Outcome.SENT)
            if outcome is Outcome.SENT:
                self.sent.append(m)
                results.append(SendResult(m.message_id, outcome, provider_id=f"{self.id_prefix}{len(self.sent)}"))
            else:
                results.append(SendResult(m.message_id, outcome, error_code="scripted"))
        return results

    def to(self, recipient: str) -> list[M]:
        return [m for m in self.sent if m.to == recipient]


@dataclass
class FakeEmailSender(_Recorder[EmailMessage]):
    name: str = "fake-email"
    id_prefix: str = "fake-"

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        return self._send(messages)


@dataclass(frozen=True)
class Lookup:
    to: str
    sent_after: datetime
    sent_before: datetime


@dataclass
class FakeSmsSender(_Recorder[SmsMessage]):
    """Also answers `lookup_sms` from what it really accepted (the provider's records), ignoring the window;
    `lookups` records every question, `foreign` adds messages someone else sent (recipient -> bodies)."""

    name: str = "fake-sms"
    id_prefix: str = "SMfake"
    lookups: list[Lookup] = field(default_factory=list)
    foreign: dict[str, list[str]] = field(default_factory=dict)

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        return self._send(messages)

    def lookup_sms(self, *, to: str, sent_after: datetime, sent_before: datetime) -> list[SentSms]:
        self.lookups.append(Lookup(to, sent_after, sent_before))
        ours = [SentSms(f"{self.id_prefix}{n}", None, body_digest(m.body))
                for n, m in enumerate(self.sent, start=1) if m.to == to]
        theirs = [SentSms(f"SMforeign{n}", None, body_digest(body))
                  for n, body in enumerate(self.foreign.get(to, []), start=1)]
        return ours + theirs
