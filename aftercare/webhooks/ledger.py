"""Moving a ledger row forward on a provider's word: never backwards, whatever order events arrive in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.db.models import Customer, Message
from aftercare.domain.vocabulary import MESSAGE_PROGRESS, MessageStatus


def advance(
    message: Message,
    status: MessageStatus,
    at: datetime,
    *,
    error_code: str | None = None,
    reason: str | None = None,
) -> bool:
    """Set `status` only if it is further along than the current one; True when the row changed."""
    current = MESSAGE_PROGRESS.get(MessageStatus(message.status), 0)
    if MESSAGE_PROGRESS[status] <= current:
        return False
    message.status = status.value
    message.status_at = at
    if error_code is not None:
        message.error_code = error_code[:32]
    if reason is not None:
        message.reason = reason[:64]
    return True


def by_provider_id(session: Session, provider_message_id: str, *, email: str | None = None) -> Message | None:
    """The message with this provider id; where a batched request shared one id, the one sent to `email`."""
    query = select(Message).where(Message.provider_message_id == provider_message_id)
    if email is not None:
        query = query.join(Customer, Customer.id == Message.customer_id).where(Customer.email == email)
    matches = session.scalars(query.limit(2)).all()
    return matches[0] if len(matches) == 1 else None


def by_ledger_id(session: Session, value: object) -> Message | None:
    try:
        ledger_id = int(str(value))
    except ValueError:
        return None
    return session.get(Message, ledger_id)


def customer_of(session: Session, message: Message | None) -> Customer | None:
    return session.get(Customer, message.customer_id) if message is not None else None
