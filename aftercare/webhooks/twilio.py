"""Twilio inbound SMS and status callbacks -> opt-outs, CSAT answers and the ledger.

Inbound bodies are matched whole (trimmed, case-insensitive), as Twilio's own opt-out handling does, with
Twilio's documented keywords. An opt-in keyword (START, UNSTOP, YES) lifts a STOP and restores only what it
removed: it never creates consent (aftercare.domain.consent). HELP changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.contact import normalise_phone
from aftercare.db.models import CsatAnswer, Customer, Message
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import MessageStatus
from aftercare.services.ingest import Ingest
from aftercare.webhooks import ledger

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_SCORE = re.compile(r"^\s*([1-5])\s*[.!]?\s*$")
_SURVEYED = (
    MessageStatus.SENT.value,
    MessageStatus.DELIVERED.value,
    MessageStatus.OPENED.value,
    MessageStatus.CLICKED.value,
    MessageStatus.UNKNOWN.value,
)

# Twilio MessageStatus -> ledger status; queued/accepted/sending/scheduled change nothing.
STATUS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.OPENED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
}


class Intent(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    SCORE = "score"
    OTHER = "other"


def classify(body: str) -> tuple[Intent, int | None]:
    match = _SCORE.match(body)
    if match:
        return Intent.SCORE, int(match.group(1))
    word = re.sub(r"[^A-Z]", "", body.strip().upper())
    if word in STOP_WORDS:
        return Intent.STOP, None
    if word in START_WORDS:
        return Intent.START, None
    if word in HELP_WORDS:
        return Intent.HELP, None
    return Intent.OTHER, None


def twiml(text: str | None = None) -> str:
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


def help_text(store_name: str, support_email: str) -> str:
    return f"{store_name}: order updates and offers. Help: {support_email}. Reply STOP to opt out."


def customers_by_phone(session: Session, raw: str) -> list[Customer]:
    phone = normalise_phone(raw)
    if phone is None:
        return []
    return list(session.scalars(select(Customer).where(Customer.phone == phone).order_by(Customer.id)))


def apply_inbound(
    session: Session, ingest: Ingest, params: dict[str, str], now: datetime, survey_window: timedelta,
    received_at: datetime | None = None,
) -> str:
    """Apply one inbound SMS; a keyword counts as said when it reached us (`received_at`), not when applied."""
    said = received_at or now
    intent, score = classify(params.get("Body", ""))
    customers = customers_by_phone(session, params.get("From", ""))
    if not customers:
        return f"{intent.value}:unknown_sender"
    if intent is Intent.STOP:
        for customer in customers:
            ingest.sms_stopped(session, customer, said, source="sms:stop", received_at=said)
        return "stop:recorded"
    if intent is Intent.START:
        for customer in customers:
            ingest.sms_started(session, customer, said, source="sms:start", received_at=said)
        return "start:recorded"
    if intent is Intent.SCORE and score is not None:
        order_id = surveyed_order(session, [c.id for c in customers], now, survey_window,
                                  ingest.journey.tagged("survey"))
        if order_id is None:
            return "score:no_survey_outstanding"
        answer = ingest.record_csat(session, order_id=order_id, score=score, channel="sms", at=now, now=now)
        return "score:recorded" if answer is not None else "score:already_answered"
    return f"{intent.value}:stored"


def surveyed_order(session: Session, customer_ids: list[int], now: datetime, window: timedelta,
                   survey_steps: tuple[str, ...]) -> int | None:
    """The most recent order whose CSAT survey (a step tagged `survey`) went out within `window`, unanswered."""
    answered = select(CsatAnswer.order_id)
    return session.scalar(
        select(Message.order_id)
        .where(
            Message.customer_id.in_(customer_ids),
            Message.step.in_(survey_steps),
            Message.status.in_(_SURVEYED),
            Message.sent_at >= now - window,
            Message.order_id.is_not(None),
            Message.order_id.not_in(answered),
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )


def apply_status(session: Session, ingest: Ingest, params: dict[str, str], now: datetime) -> str:
    message = ledger.by_provider_id(session, params.get("MessageSid") or params.get("SmsSid") or "")
    status = STATUS.get((params.get("MessageStatus") or params.get("SmsStatus") or "").lower())
    if message is None:
        return "message_not_found"
    if status is None:
        return "no_status_change"
    code = params.get("ErrorCode") or None
    reason = f"twilio_{code}" if code and status is MessageStatus.FAILED else None
    moved = ledger.advance(
        message, status, now, error_code=code if status is MessageStatus.FAILED else None, reason=reason
    )
    if code == "21610":  # the recipient had sent STOP: record it as ours too
        customer = ledger.customer_of(session, message)
        if customer is not None:
            ingest.sms_stopped(session, customer, now, source="provider:21610", kind=ConsentSource.CARRIER)
    return "advanced" if moved else "not_forward"
