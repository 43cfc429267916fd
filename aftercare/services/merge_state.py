"""What the points-expiry / win-back merge needs to know about a batch's customers: two queries per batch.

Kept apart from `batch_state` (whose queries are tuned for the sweep's cost) so the merge's cost is visible on
its own: one query for win-backs sent inside the cap window, one for the customers' pending win-back and
points-expiry steps (served by the (customer_id, step) index).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.binds import in_param
from aftercare.db.models import Message, ScheduledStep
from aftercare.db.types import UTCDateTime
from aftercare.domain import journey as j
from aftercare.domain.state import LoyaltyMerge
from aftercare.domain.vocabulary import MessageStatus, StepStatus

POINTS_STEPS = (j.POINTS_EXPIRY_30, j.POINTS_EXPIRY_7)
_SENT_LIKE = (
    MessageStatus.SENDING.value,
    MessageStatus.SENT.value,
    MessageStatus.DELIVERED.value,
    MessageStatus.OPENED.value,
    MessageStatus.CLICKED.value,
    MessageStatus.UNKNOWN.value,
)


@lru_cache(maxsize=4)
def _statements(dialect: str) -> tuple[Any, Any]:
    """The two queries, built once per dialect and reused for every batch."""
    sent = (
        select(Message.customer_id, func.max(Message.sent_at))
        .where(
            in_param(Message.customer_id, "cids", dialect),
            Message.step.in_(j.WINBACK_STEPS),
            Message.status.in_(_SENT_LIKE),
            Message.sent_at > bindparam("since", type_=UTCDateTime()),
        )
        .group_by(Message.customer_id)
    )
    pending = select(ScheduledStep.customer_id, ScheduledStep.step, ScheduledStep.due_at).where(
        in_param(ScheduledStep.customer_id, "cids", dialect),
        ScheduledStep.step.in_((*j.WINBACK_STEPS, *POINTS_STEPS)),
        ScheduledStep.status == StepStatus.PENDING.value,
    )
    return sent, pending


def load_merge_state(
    session: Session, customer_ids: Sequence[int], cap_since: datetime, dialect: str | None = None
) -> dict[int, LoyaltyMerge]:
    if not customer_ids:
        return {}
    sent_q, pending_q = _statements(dialect or session.get_bind().dialect.name)
    conn = session.connection()
    cids = list(customer_ids)
    sent: dict[int, datetime] = {}
    for cid, at in conn.execute(sent_q, {"cids": cids, "since": cap_since}):
        sent[cid] = _utc(at)
    winback_due: dict[int, datetime] = {}
    points: dict[int, tuple[datetime, str]] = {}
    for cid, step, due in conn.execute(pending_q, {"cids": cids}):
        due = _utc(due)
        if step in POINTS_STEPS:
            if cid not in points or due < points[cid][0]:
                points[cid] = (due, step)
        elif cid not in winback_due or due < winback_due[cid]:
            winback_due[cid] = due
    out: dict[int, LoyaltyMerge] = {}
    for cid in set(sent) | set(winback_due) | set(points):
        p = points.get(cid)
        out[cid] = LoyaltyMerge(
            winback_sent_at=sent.get(cid),
            winback_due_at=winback_due.get(cid),
            points_step=p[1] if p else None,
            points_due_at=p[0] if p else None,
        )
    return out


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # aggregates lose the column type on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return as_utc(value)
