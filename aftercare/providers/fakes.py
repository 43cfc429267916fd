"""Recording fakes for tests: they keep what was sent so tests assert on recipients, locales and bodies.

`script` lets a test make the next sends fail in a given way (transient, permanent, opted out, unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aftercare.providers.base import EmailMessage, Outcome, SendResult, SmsMessage


@dataclass
class FakeEmailSender:
    name: str = "fake-email"
    sent: list[EmailMessage] = field(default_factory=list)
    script: dict[str, Outcome] = field(default_factory=dict)  # recipient -> outcome to return instead
    calls: int = 0

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        self.calls += 1
        results = []
        for m in messages:
            outcome = self.script.get(m.to, Outcome.SENT)
            if outcome is Outcome.SENT:
                self.sent.append(m)
                results.append(SendResult(m.message_id, outcome, provider_id=f"fake-{len(self.sent)}"))
            else:
                results.append(SendResult(m.message_id, outcome, error_code="scripted"))
        return results

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m.to == address]


@dataclass
class FakeSmsSender:
    name: str = "fake-sms"
    sent: list[SmsMessage] = field(default_factory=list)
    script: dict[str, Outcome] = field(default_factory=dict)
    calls: int = 0

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        self.calls += 1
        results = []
        for m in messages:
            outcome = self.script.get(m.to, Outcome.SENT)
            if outcome is Outcome.SENT:
                self.sent.append(m)
                results.append(SendResult(m.message_id, outcome, provider_id=f"SMfake{len(self.sent)}"))
            else:
                results.append(SendResult(m.message_id, outcome, error_code="scripted"))
        return results

    def to(self, number: str) -> list[SmsMessage]:
        return [m for m in self.sent if m.to == number]
