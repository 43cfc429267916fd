"""Recording consent statements: append each to the evidence history, then re-derive the current state.

The current state (`consents` rows, and the customer's `email_unsubscribed_at` / `sms_stopped_at`) is
recomputed from the whole history of the keys a statement touches, with the pure rules in
`aftercare.domain.consent`, so arrival order, replays and platform echoes cannot undo what a customer told
us. A statement identical to one already kept (the same body replayed under a fresh webhook id) adds
nothing. The customer's row is locked first (Postgres), so two webhooks for one customer cannot derive
the state from each other's half-written history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Consent, ConsentEvent, Customer
from aftercare.domain.consent import ConsentSource, Resolved, Statement, resolve, sms_block
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.services.commands import ConsentIn

Key = tuple[Channel, Purpose]


def record(session: Session, customer: Customer, statements: Sequence[ConsentIn], received_at: datetime) -> None:
    """Keep each new statement and bring the current state of the keys they touch up to date."""
    if not statements:
        return
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    history = list(session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == customer.id)
                                   .order_by(ConsentEvent.id)))
    touched: set[Key] = set()
    for said in statements:
        row = _event(customer.id, said, received_at)
        if any(_same(row, kept) for kept in history):
            continue
        session.add(row)
        history.append(row)
        touched.add((said.channel, said.purpose))
    if not touched:
        return
    session.flush()  # ids: the receipt order that breaks ties between equal times
    by_id = {e.id: e for e in history}
    current = {(Channel(c.channel), Purpose(c.purpose)): c for c in session.scalars(
        select(Consent).where(Consent.customer_id == customer.id))}
    for channel, purpose in touched:
        resolved = resolve(channel, statements_of(history, channel, purpose))
        detail = by_id[resolved.holding.seq].detail if resolved else ""
        _store(session, customer.id, channel, purpose, resolved, detail, current.get((channel, purpose)))
        if (channel, purpose) == (Channel.EMAIL, Purpose.MARKETING):
            customer.email_unsubscribed_at = resolved.holding.stated_at if resolved and resolved.opted_out else None
    if any(channel is Channel.SMS for channel, _ in touched):
        block = sms_block(statements_of(history, Channel.SMS, None))
        customer.sms_stopped_at = block.stated_at if block is not None else None
    session.flush()


def statements_of(history: Iterable[ConsentEvent], channel: Channel, purpose: Purpose | None) -> list[Statement]:
    """The domain's view of the kept rows for one key (`purpose` None: every purpose of the channel)."""
    return [
        Statement(e.granted, ConsentSource(e.source), as_utc(e.stated_at), e.id, e.explicit)
        for e in history
        if e.channel == channel.value and (purpose is None or e.purpose == purpose.value)
    ]


def _event(customer_id: int, said: ConsentIn, received_at: datetime) -> ConsentEvent:
    """The row for a statement; one dated after it reached us (a skewed clock) counts as said on receipt."""
    return ConsentEvent(
        customer_id=customer_id, channel=said.channel.value, purpose=said.purpose.value, granted=said.granted,
        source=said.source.value, detail=said.detail[:64], explicit=said.explicit,
        stated_at=min(as_utc(said.stated_at or received_at), as_utc(received_at)), received_at=received_at,
        text_version=said.text_version,
    )


def _same(new: ConsentEvent, kept: ConsentEvent) -> bool:
    return (new.channel, new.purpose, new.granted, new.source, new.detail, new.explicit) == (
        kept.channel, kept.purpose, kept.granted, kept.source, kept.detail, kept.explicit
    ) and as_utc(new.stated_at) == as_utc(kept.stated_at)


def _store(session: Session, customer_id: int, channel: Channel, purpose: Purpose, resolved: Resolved | None,
           detail: str, row: Consent | None) -> None:
    """The current-state row: the holding statement's value, detail and own time; no row when none holds."""
    if resolved is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(Consent(customer_id=customer_id, channel=channel.value, purpose=purpose.value,
                            granted=resolved.granted, source=detail, recorded_at=resolved.holding.stated_at))
    else:
        row.granted, row.source, row.recorded_at = resolved.granted, detail, resolved.holding.stated_at
