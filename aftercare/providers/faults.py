"""Test-only: crash a sweep after N messages have been sent, once, to prove a retried run never resends.

Selected by settings (`AFTERCARE_FAULT_AFTER_SENDS`, `AFTERCARE_FAULT_ONCE_FILE`) in `bootstrap`, and only
then; production never sets them. The providers are wrapped to count what they sent in this process; the
Sweeper's `fault` seam raises at the `reserved` phase of the next batch (after its ledger rows are
committed, before any send), and creates the once-file so the retried run goes through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aftercare.providers.base import EmailMessage, EmailSender, Outcome, SendResult, SmsMessage, SmsSender


class SimulatedCrash(RuntimeError):
    """Raised by the fault seam; not retryable, so the task and the flow run fail."""


@dataclass
class SendCounter:
    sent: int = 0

    def count(self, results: list[SendResult]) -> list[SendResult]:
        self.sent += sum(1 for r in results if r.outcome is Outcome.SENT)
        return results


@dataclass
class CountingEmailSender:
    inner: EmailSender
    counter: SendCounter

    @property
    def name(self) -> str:
        return self.inner.name

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        return self.counter.count(self.inner.send_emails(messages))


@dataclass
class CountingSmsSender:
    inner: SmsSender
    counter: SendCounter

    @property
    def name(self) -> str:
        return self.inner.name

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        return self.counter.count(self.inner.send_sms(messages))


def crash_after_sends(counter: SendCounter, after: int, once_file: Path | None) -> Callable[[str], None]:
    def fault(phase: str) -> None:
        if phase != "reserved" or counter.sent < after:
            return
        if once_file is not None:
            if once_file.exists():
                return
            once_file.parent.mkdir(parents=True, exist_ok=True)
            once_file.touch()
        raise SimulatedCrash(f"simulated crash after {counter.sent} sends")
    return fault
