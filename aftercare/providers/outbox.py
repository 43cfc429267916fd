"""The demo's provider: writes every email (HTML and text) and SMS under `.aftercare/outbox/`.

It sends nothing anywhere, so a new user can run the whole journey and read exactly what each customer
would have received. Files are named by ledger id, never by address.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from aftercare.providers.base import EmailMessage, Outcome, SendResult, SentSms, SmsMessage, body_digest


class OutboxEmailSender:
    name = "outbox"

    def __init__(self, root: Path) -> None:
        self.root = root / "email"

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        results = []
        for m in messages:
            folder = self.root / m.step
            folder.mkdir(parents=True, exist_ok=True)
            # `<id>.<locale>.html`, as documented: the name is built whole (`with_suffix` would take the
            # locale for a suffix and drop it).
            stem = f"{m.message_id}.{m.locale}"
            (folder / f"{stem}.html").write_text(m.html, encoding="utf-8")
            (folder / f"{stem}.txt").write_text(f"To: {m.to}\nSubject: {m.subject}\n\n{m.text}", encoding="utf-8")
            results.append(SendResult(m.message_id, Outcome.SENT, provider_id=f"outbox-email-{m.message_id}"))
        return results


class OutboxSmsSender:
    name = "outbox"

    def __init__(self, root: Path) -> None:
        self.root = root / "sms"

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        results = []
        for m in messages:
            folder = self.root / m.step
            folder.mkdir(parents=True, exist_ok=True)
            record = {"to": m.to, "body": m.body, "segments": m.segments, "locale": m.locale}
            (folder / f"{m.message_id}.{m.locale}.json").write_text(json.dumps(record, ensure_ascii=False),
                                                                    encoding="utf-8")
            results.append(SendResult(m.message_id, Outcome.SENT, provider_id=f"outbox-sms-{m.message_id}"))
        return results

    def lookup_sms(self, *, to: str, sent_after: datetime, sent_before: datetime) -> list[SentSms]:
        """What the outbox holds for `to` (whenever written: its files carry no simulated time)."""
        found = []
        for path in sorted(self.root.glob("*/*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("to") == to:
                ledger_id = path.name.split(".", 1)[0]
                found.append(SentSms(f"outbox-sms-{ledger_id}", None, body_digest(str(record.get("body", "")))))
        return found
