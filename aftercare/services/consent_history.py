"""A customer's consent history as plain data: what `aftercare consent` and `aftercare explain` print.

Every statement kept (aftercare.services.consent_ledger), oldest first by its own time, and the current
state per (channel, purpose) with the statement it rests on. No email address, phone number or name leaves
this module: the customer is shown by our id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.contact import normalise_email
from aftercare.db.models import Consent, ConsentEvent, Customer


class CustomerNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StatementLine:
    stated_at: datetime
    received_at: datetime
    channel: str
    purpose: str
    granted: bool
    source: str
    detail: str
    explicit: bool
    text_version: str | None


@dataclass(frozen=True)
class CurrentLine:
    channel: str
    purpose: str
    granted: bool
    source: str  # the holding statement's detail
    since: datetime  # the holding statement's own time


@dataclass(frozen=True)
class ConsentHistory:
    customer_id: int
    statements: list[StatementLine]
    current: list[CurrentLine]
    email_unsubscribed_at: datetime | None
    email_bounced_at: datetime | None
    sms_stopped_at: datetime | None


def find_customer(session: Session, ref: str) -> Customer:
    """Our customer id ("17"), the store's external id ("shopify:207119551") or the email address."""
    ref = ref.strip()
    if ref.isdigit():
        found = session.get(Customer, int(ref))
        if found is not None:
            return found
    found = session.scalars(select(Customer).where(Customer.external_id == ref).limit(1)).first()
    email = normalise_email(ref) if "@" in ref else None
    if found is None and email:
        found = session.scalars(select(Customer).where(func.lower(Customer.email) == email.lower())
                                .order_by(Customer.id).limit(1)).first()
    if found is None:
        raise CustomerNotFound("no customer matches (our id, external id or email address)")
    return found


def consent_history(session: Session, customer_id: int) -> ConsentHistory:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == customer_id))
    statements = sorted(
        (StatementLine(as_utc(e.stated_at), as_utc(e.received_at), e.channel, e.purpose, e.granted, e.source,
                       e.detail, e.explicit, e.text_version) for e in events),
        key=lambda s: (s.stated_at, s.received_at),
    )
    current = sorted(
        (CurrentLine(c.channel, c.purpose, c.granted, c.source, as_utc(c.recorded_at))
         for c in session.scalars(select(Consent).where(Consent.customer_id == customer_id))),
        key=lambda c: (c.channel, c.purpose),
    )
    return ConsentHistory(
        customer.id, statements, current,
        as_utc(customer.email_unsubscribed_at) if customer.email_unsubscribed_at else None,
        as_utc(customer.email_bounced_at) if customer.email_bounced_at else None,
        as_utc(customer.sms_stopped_at) if customer.sms_stopped_at else None,
    )
