"""SendGrid event webhook events -> the ledger and the suppressions.

Each event finds its message by our ledger id (`aftercare_message_id`, set by the adapter in
`personalizations[].custom_args`, which SendGrid copies onto every event) or else by `sg_message_id`,
whose part before the first dot is the `X-Message-Id` we stored as provider_message_id. One request
carries up to 1000 messages under one `X-Message-Id`, so that fallback also matches the recipient.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.contact import normalise_email
from aftercare.db.models import Customer, Message
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import MessageStatus
from aftercare.providers.sendgrid import CUSTOM_ARG
from aftercare.services.ingest import Ingest
from aftercare.webhooks import ledger

# Event -> ledger status. Events not listed (group_resubscribe...) change no status. `processed` and
# `deferred` mean SendGrid accepted the message: an `unknown` row becomes `sent` (reconciliation relies on it).
STATUS = {
    "processed": MessageStatus.SENT,
    "deferred": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "open": MessageStatus.OPENED,
    "click": MessageStatus.CLICKED,
    "bounce": MessageStatus.BOUNCED,
    "dropped": MessageStatus.FAILED,
}
LEDGER_ID_KEYS = (CUSTOM_ARG, "ledger_id")


def event_time(event: dict[str, Any], default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return default


def find_message(session: Session, event: dict[str, Any]) -> Message | None:
    for key in LEDGER_ID_KEYS:
        if event.get(key) is not None:
            found = ledger.by_ledger_id(session, event[key])
            if found is not None and found.channel == "email":
                return found
    sg_id = event.get("sg_message_id")
    if isinstance(sg_id, str) and sg_id:
        email = normalise_email(event.get("email") if isinstance(event.get("email"), str) else None)
        return ledger.by_provider_id(session, sg_id.split(".", 1)[0], email=email)
    return None


def _customer(session: Session, message: Message | None, event: dict[str, Any]) -> Customer | None:
    customer = ledger.customer_of(session, message)
    if customer is None:
        email = normalise_email(event.get("email") if isinstance(event.get("email"), str) else None)
        if email:
            customer = session.scalar(select(Customer).where(Customer.email == email).limit(1))
    return customer


def apply(session: Session, ingest: Ingest, event: dict[str, Any], now: datetime) -> str:
    """Apply one event; returns a short note of what happened (for the inbox row, no personal data).

    An opt-out or resubscribe counts at the event's own time, so one delivered late (SendGrid retries for
    up to 72 hours) never undoes a newer choice the customer made."""
    kind = str(event.get("event") or "")
    at = event_time(event, now)
    message = find_message(session, event)
    status = STATUS.get(kind)
    note = "no_status_change"
    if message is not None and status is not None:
        reason = f"sendgrid_{kind}" if status in (MessageStatus.BOUNCED, MessageStatus.FAILED) else None
        code = (str(event.get("status") or "") or None) if kind == "bounce" else None
        note = (
            "advanced"
            if ledger.advance(message, status, at, error_code=code, reason=reason)
            else "not_forward"
        )
        sg_id = event.get("sg_message_id")
        if message.provider_message_id is None and isinstance(sg_id, str) and sg_id:
            message.provider_message_id = sg_id.split(".", 1)[0][:128]  # an unknown send's id, learnt late
    elif status is not None:
        note = "message_not_found"
    customer = _customer(session, message, event)
    if customer is None:
        return note
    if kind == "bounce" and event.get("type") != "blocked":  # `blocked` is a soft refusal: keep the address
        ingest.email_bounced(session, customer, at)
    elif kind == "dropped" and _suppressing_drop(str(event.get("reason") or "")):
        ingest.email_bounced(session, customer, at)
    elif kind == "spamreport":
        # SendGrid suppresses every later mail to a spam reporter; we stop both marketing and the rest.
        ingest.email_unsubscribed(session, customer, at, source="sendgrid:spamreport", kind=ConsentSource.COMPLAINT,
                                  received_at=now)
        ingest.email_bounced(session, customer, at)
    elif kind in ("unsubscribe", "group_unsubscribe"):
        ingest.email_unsubscribed(session, customer, at, source=f"sendgrid:{kind}",
                                  kind=ConsentSource.EMAIL_PROVIDER, received_at=now)
    elif kind == "group_resubscribe":
        ingest.email_resubscribed(session, customer, at, source="sendgrid:group_resubscribe",
                                  kind=ConsentSource.EMAIL_PROVIDER, received_at=now)
    return note


def _suppressing_drop(reason: str) -> bool:
    """Drops because the address is on a bounce, invalid or spam list; not e.g. for an unsubscribe group."""
    lowered = reason.lower()
    return any(word in lowered for word in ("bounce", "invalid", "spam"))
