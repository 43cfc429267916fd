"""Recording fakes for tests: they keep what was sent so tests assert on recipients, locales and bodies.

`script` lets a test make sends to a given recipient fail in a given way (transient, permanent, opted
out, unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aftercare.providers.base import EmailMessage, Outcome, SendResult, SmsMessage

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


@dataclass
class FakeSmsSender(_Recorder[SmsMessage]):
    name: str = "fake-sms"
    id_prefix: str = "SMfake"

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        return self._send(messages)
