"""The local outbox names files `<ledger id>.<locale>.<ext>`, as README documents."""

from __future__ import annotations

import json
from pathlib import Path

from aftercare.providers.base import EmailMessage, SmsMessage
from aftercare.providers.outbox import OutboxEmailSender, OutboxSmsSender


def test_email_and_sms_files_carry_the_locale(tmp_path: Path) -> None:
    OutboxEmailSender(tmp_path).send_emails([
        EmailMessage("41", "a@example.com", "Subject", "<p>مرحبا</p>", "مرحبا", "shipped", "ar/shipped.email",
                     "ar", marketing=False),
    ])
    OutboxSmsSender(tmp_path).send_sms([SmsMessage("42", "+821055551234", "안녕하세요", "csat", "ko/csat.sms",
                                                   "ko", marketing=True)])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "email/shipped/41.ar.html", "email/shipped/41.ar.txt", "sms/csat/42.ko.json"]
    assert (tmp_path / "email/shipped/41.ar.html").read_text(encoding="utf-8") == "<p>مرحبا</p>"
    assert json.loads((tmp_path / "sms/csat/42.ko.json").read_text(encoding="utf-8"))["locale"] == "ko"
