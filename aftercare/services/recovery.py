"""Service-recovery cases: finding one, resolving it from outside Python, and the ones left open too long.

A case opens when a customer answers CSAT 1-2 (`Ingest.record_csat`). It is resolved by the support team,
through whichever door they use: the helpdesk webhook (a ticket closed), `aftercare recovery resolve CASE`, or
the signed link in the notification support receives. All three end here, so a case resolves the same way
(and only once) whichever door was used. A case still open after the recovery window no longer holds the
customer's review request or promotions back (see `decisions`); `overdue_cases` lists it for support.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Order, RecoveryCase
from aftercare.links import LinkSigner
from aftercare.services.ingest import Ingest

LINK_KIND = "recovery"
LINK_PATH = "/recovery/resolve"
MAX_RESOLUTION = 255  # the column's width: a long helpdesk note is cut, never refused


class UnknownCase(LookupError):
    """No recovery case matches the reference."""


@dataclass(frozen=True)
class CaseView:
    """What support needs to see about a case (no contact details)."""

    case_id: int
    order_id: int
    order_number: str
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None


@dataclass(frozen=True)
class Resolved:
    case: CaseView
    changed: bool  # False: it was already resolved (a replay, a second door), nothing changed


def find_case(session: Session, *, case_id: int | None = None, order_ref: str | None = None) -> RecoveryCase:
    """A case by its id, or by its order: our order id, the store's order number (#1042) or its external id."""
    case: RecoveryCase | None = None
    if case_id is not None:
        case = session.get(RecoveryCase, case_id)
    elif order_ref:
        ref = order_ref.strip()
        order = session.scalar(select(Order).where((Order.number == ref) | (Order.external_id == ref)).limit(1))
        if order is None and ref.isdigit():
            order = session.get(Order, int(ref))
        if order is not None:
            case = session.scalar(select(RecoveryCase).where(RecoveryCase.order_id == order.id))
    if case is None:
        raise UnknownCase(str(case_id if case_id is not None else order_ref))
    return case


def resolve_case(
    session: Session, ingest: Ingest, case: RecoveryCase, *, resolution: str, at: datetime, now: datetime
) -> Resolved:
    """Resolve once: the review request is released (a day later, as the journey says) and held promotions too.

    The resolution time is kept between the case's opening and now: a helpdesk clock that is off (or a time from
    another ticket) must neither schedule the review request in the future nor back-date it into expiry.
    """
    when = max(min(at, now), as_utc(case.opened_at))
    changed = ingest.resolve_recovery(session, order_id=case.order_id, at=when, now=now,
                                      resolution=resolution[:MAX_RESOLUTION] or "resolved")
    session.flush()
    return Resolved(view(session, case), changed)


def view(session: Session, case: RecoveryCase) -> CaseView:
    order = session.get(Order, case.order_id)
    assert order is not None
    return CaseView(case.id, case.order_id, order.number, as_utc(case.opened_at),
                    as_utc(case.resolved_at) if case.resolved_at else None, case.resolution)


def overdue_cases(session: Session, now: datetime, window: timedelta, limit: int = 100) -> list[CaseView]:
    """Open cases older than the recovery window: they no longer hold the customer back; support should act."""
    cases = session.scalars(
        select(RecoveryCase)
        .where(RecoveryCase.resolved_at.is_(None), RecoveryCase.opened_at <= now - window)
        .order_by(RecoveryCase.opened_at)
        .limit(limit)
    )
    return [view(session, c) for c in cases]


def resolve_link(links: LinkSigner, case_id: int, now: datetime) -> str:
    """The signed link in support's notification: a GET shows a confirm page, only a POST resolves."""
    return links.url(LINK_PATH, {"k": LINK_KIND, "r": case_id}, now)


def case_id_from_link(links: LinkSigner, token: str, now: datetime) -> int:
    """The case a resolve link names; raises `InvalidLink` for a tampered, expired or wrong-kind token."""
    from aftercare.links import InvalidLink

    payload: dict[str, Any] = links.verify(token, now, kind=LINK_KIND)
    case_id = payload.get("r")
    if not isinstance(case_id, int) or isinstance(case_id, bool):
        raise InvalidLink("malformed payload")
    return case_id
