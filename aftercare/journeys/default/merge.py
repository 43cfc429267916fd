"""A points-expiry reminder due within the frequency-cap window of a win-back rides along with it.

The win-back shows the expiring points and the reminder is skipped as merged; if the win-back is then held
out, skipped or pushed past the window, the reminder goes out alone, so a reminder is never lost to a merge
that did not happen (nor waits past its own expiry for one). The steps involved are found by tag
(`winback`, `points_expiry`), so the merge follows a store's renamed or added steps.

The batch fact `loyalty_merge` costs two queries per batch: win-backs sent inside the cap window, and the
customers' pending win-back and points-expiry steps (served by the (customer_id, step) index).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Message, ScheduledStep
from aftercare.db.types import UTCDateTime
from aftercare.domain.decisions import Decision, Defer, Skip, in_holdout
from aftercare.domain.view import StepView
from aftercare.domain.vocabulary import MessageStatus, Reason, StepStatus
from aftercare.journeys.facts import FactQuery, fact

WINBACK_TAG = "winback"
POINTS_TAG = "points_expiry"
# How long a points reminder waits past a win-back's due time before deciding again (by then it is sent).
MERGE_RECHECK = timedelta(minutes=10)
_SENT_LIKE = (
    MessageStatus.SENDING.value, MessageStatus.SENT.value, MessageStatus.DELIVERED.value,
    MessageStatus.OPENED.value, MessageStatus.CLICKED.value, MessageStatus.UNKNOWN.value,
)


@dataclass(frozen=True)
class LoyaltyMerge:
    """The customer's other per-customer messages, so a points reminder and a win-back can be one message."""

    winback_sent_at: datetime | None = None  # the latest win-back sent inside the cap window
    winback_due_at: datetime | None = None  # the earliest pending win-back step
    points_step: str | None = None  # the earliest pending points-expiry step...
    points_due_at: datetime | None = None  # ...and when it is due


def _load(q: FactQuery) -> Mapping[int, LoyaltyMerge]:
    winbacks, points_steps = q.journey.tagged(WINBACK_TAG), q.journey.tagged(POINTS_TAG)
    if not q.customer_ids or not winbacks:
        return {}
    dialect = q.dialect
    conn = q.session.connection()
    cids = list(q.customer_ids)
    sent: dict[int, datetime] = {}
    for cid, at in conn.execute(
        select(Message.customer_id, func.max(Message.sent_at))
        .where(in_param(Message.customer_id, "cids", dialect), Message.step.in_(winbacks),
               Message.status.in_(_SENT_LIKE), Message.sent_at > bindparam("since", type_=UTCDateTime()))
        .group_by(Message.customer_id),
        {"cids": cids, "since": q.since},
    ):
        sent[cid] = _utc(at)
    winback_due: dict[int, datetime] = {}
    points: dict[int, tuple[datetime, str]] = {}
    for cid, name, due in conn.execute(
        select(ScheduledStep.customer_id, ScheduledStep.step, ScheduledStep.due_at).where(
            in_param(ScheduledStep.customer_id, "cids", dialect),
            ScheduledStep.step.in_((*winbacks, *points_steps)),
            ScheduledStep.status == StepStatus.PENDING.value),
        {"cids": cids},
    ):
        due = _utc(due)
        if name in points_steps:
            if cid not in points or due < points[cid][0]:
                points[cid] = (due, name)
        elif cid not in winback_due or due < winback_due[cid]:
            winback_due[cid] = due
    out: dict[int, LoyaltyMerge] = {}
    for cid in set(sent) | set(winback_due) | set(points):
        p = points.get(cid)
        out[cid] = LoyaltyMerge(winback_sent_at=sent.get(cid), winback_due_at=winback_due.get(cid),
                                points_step=p[1] if p else None, points_due_at=p[0] if p else None)
    return out


LOYALTY_MERGE = fact("loyalty_merge", _load, default=LoyaltyMerge())


def points_merge(view: StepView, now: datetime) -> Decision | None:
    """A points reminder: skipped as merged after a win-back sent inside the cap window; waits for one due
    inside it (deciding again just after its due time), unless that would take it past its own expiry."""
    merge: LoyaltyMerge = view.facts.loyalty_merge
    cap = view.policy.frequency_cap
    if merge.winback_sent_at is not None and merge.winback_sent_at > now - cap:
        return Skip(Reason.MERGED)
    if merge.winback_due_at is not None and merge.winback_due_at <= now + cap:
        until = max(merge.winback_due_at, now) + MERGE_RECHECK
        if view.expires_at is None or until <= view.expires_at:
            return Defer(until, Reason.MERGED)
    return None


def points_expired(view: StepView, now: datetime) -> bool:
    expire_at = view.state.points_expire_at
    return expire_at is not None and expire_at <= now


def carries_points(view: StepView, now: datetime) -> dict[str, Any]:
    """A win-back carries the points reminder when one is due inside the cap window; not for a customer held
    out of that reminder (carrying it would send them what the holdout withholds)."""
    merge: LoyaltyMerge = view.facts.loyalty_merge
    carries = (
        view.state.points_at_risk > 0
        and not points_expired(view, now)
        and merge.points_step is not None
        and merge.points_due_at is not None
        and merge.points_due_at <= now + view.policy.frequency_cap
        and not in_holdout(view.customer_id, merge.points_step, view.policy)
    )
    return {"points_expiry_reminder": carries}


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # aggregates lose the column type on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return as_utc(value)
