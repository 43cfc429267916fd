"""One order's journey, now: what a manual rerun makes due, and the table of what was decided.

Shared by the `run-journey` Prefect flow (a "Run" from the UI) and the CLI. Three modes, one rule: a rerun
never resends what the ledger holds.
- plain: the order's steps that are already due are carried out now (a step named with `step` is made due
  now if it is still open, so naming a step is enough to run it);
- force: open steps (or just `step`) are made due now and steps skipped earlier are re-opened;
- dry run: every open step (or just `step`) is decided as if it were due now; nothing is claimed, reserved,
  sent or recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import DecisionLog, Message, ScheduledStep
from aftercare.db.models import Journey as JourneyRow
from aftercare.domain.decisions import Decision, Defer, HoldOut, Send, Skip, Wait
from aftercare.domain.vocabulary import StepStatus
from aftercare.services.explain import OrderNotFound, find_order

OPEN = (StepStatus.PENDING.value, StepStatus.WAITING.value)


@dataclass(frozen=True)
class Target:
    """The order a rerun is about, resolved from whatever the operator typed."""

    order_id: int
    order_number: str | None
    journey_id: int


def resolve(session: Session, ref: str | int) -> Target:
    """Our id (17), the store's order number ("#1042" or "1042") or the platform's order id."""
    order = find_order(session, str(ref))
    journey_id = session.scalar(select(JourneyRow.id).where(JourneyRow.order_id == order.id))
    if journey_id is None:
        raise OrderNotFound(f"order {order.id} has no journey")
    return Target(order.id, order.number, journey_id)


def mode_of(*, dry_run: bool, force: bool) -> str:
    return "dry-run" if dry_run else "force" if force else "run"


def make_due(session: Session, journey_id: int, step: str | None, *, reopen_skipped: bool, now: datetime) -> int:
    """Make open steps (or just `step`) due now; with `reopen_skipped`, also re-open steps that ended without
    a message. A step whose message the ledger holds is never touched. Without a step and without force,
    nothing is moved: a plain rerun only carries out what is already due."""
    if step is None and not reopen_skipped:
        return 0
    done_without_message = (ScheduledStep.status == StepStatus.DONE.value) & ScheduledStep.id.not_in(
        select(Message.step_id).where(Message.journey_id == journey_id, Message.status != "skipped"))
    which = ScheduledStep.status.in_(OPEN)
    if reopen_skipped:
        which = which | done_without_message
    stmt = (update(ScheduledStep).where(ScheduledStep.journey_id == journey_id, which)
            .values(status=StepStatus.PENDING.value, due_at=now, claimed_by=None, claimed_until=None, updated_at=now))
    if step is not None:
        stmt = stmt.where(ScheduledStep.step == step)
    return int(session.execute(stmt).rowcount or 0)


def decision_row(step: str, decision: Decision) -> dict[str, Any]:
    """One decision as a table row: ids and reasons only, never an address."""
    row: dict[str, Any] = {"step": step, "decision": type(decision).__name__.lower(), "reason": "", "until": "",
                           "channels": ""}
    if isinstance(decision, Send):
        row["decision"] = "send"
        row["channels"] = ", ".join(c.value for c in decision.channels)
        if decision.skipped_channels:
            row["reason"] = "; ".join(f"{c.value}: {r}" for c, r in decision.skipped_channels)
    elif isinstance(decision, Skip | Wait):
        row["reason"] = str(decision.reason)
        if isinstance(decision, Skip) and decision.channel is not None:
            row["channels"] = decision.channel.value
    elif isinstance(decision, Defer):
        row["reason"] = str(decision.reason)
        row["until"] = as_utc(decision.until).isoformat(timespec="minutes")
    elif isinstance(decision, HoldOut):
        row["decision"] = "holdout"
        row["reason"] = "measurement holdout"
        row["channels"] = decision.channel.value
    return row


def last_decision_id(session: Session, journey_id: int) -> int:
    """Where the decision log of this journey stands before a rerun (ids, not times: clocks can stand still)."""
    return int(session.scalar(select(func.max(DecisionLog.id)).where(DecisionLog.journey_id == journey_id)) or 0)


def logged_decisions(session: Session, journey_id: int, after_id: int) -> list[dict[str, Any]]:
    """What the rerun's sweep decided, from the decision log (the same rows `aftercare explain` prints)."""
    rows = session.scalars(select(DecisionLog).where(DecisionLog.journey_id == journey_id,
                                                     DecisionLog.id > after_id)
                           .order_by(DecisionLog.decided_at, DecisionLog.id))
    return [{"step": d.step, "decision": d.outcome, "reason": d.reason or "",
             "until": as_utc(d.until).isoformat(timespec="minutes") if d.until else "", "channels": d.channels or ""}
            for d in rows]
