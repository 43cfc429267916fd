"""One order's journey, now: for manual reruns from the Prefect UI and for backfills.

`force` makes the order's open steps (or just `step`) due now and re-opens steps that were skipped; it
never re-sends a message the ledger already holds. `dry_run` only reports what would be decided.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from sqlalchemy import select, update

from aftercare.bootstrap import get_services
from aftercare.db.models import Journey as JourneyRow
from aftercare.db.models import Message, ScheduledStep
from aftercare.domain.vocabulary import StepStatus
from flows.journey_sweep import sweep_until_empty
from flows.run_context import run_logger


def _journey_id(order_id: int) -> int:
    services = get_services()
    with services.session_factory() as session:
        journey_id = session.scalar(select(JourneyRow.id).where(JourneyRow.order_id == order_id))
    if journey_id is None:
        raise ValueError(f"order {order_id} has no journey")
    return journey_id


def force_due(journey_id: int, step: str | None) -> int:
    """Make open steps due now, and re-open skipped ones (never a step whose message was sent)."""
    services = get_services()
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        sent_steps = select(Message.step_id).where(Message.journey_id == journey_id, Message.status != "skipped")
        stmt = (
            update(ScheduledStep)
            .where(ScheduledStep.journey_id == journey_id)
            .where(
                ScheduledStep.status.in_([StepStatus.PENDING.value, StepStatus.WAITING.value])
                | ((ScheduledStep.status == StepStatus.DONE.value) & ScheduledStep.id.not_in(sent_steps))
            )
            .values(status=StepStatus.PENDING.value, due_at=now, claimed_by=None, claimed_until=None, updated_at=now)
        )
        if step:
            stmt = stmt.where(ScheduledStep.step == step)
        return int(session.execute(stmt).rowcount or 0)


@flow(name="run-journey", flow_run_name="run-journey-order-{order_id}")
def run_journey(order_id: int, step: str | None = None, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    logger = run_logger()
    services = get_services()
    if step is not None:
        services.journey.step(step)  # a clear error for an unknown step name
    journey_id = _journey_id(order_id)
    if dry_run:
        preview = services.sweeper.preview(journey_id, step)
        lines = [{"step": name, "decision": type(d).__name__, "detail": repr(d)} for name, d in preview]
        logger.info("dry run order=%s steps=%s", order_id, len(lines))
        return {"order_id": order_id, "dry_run": True, "decisions": lines}
    forced = force_due(journey_id, step) if force else 0
    report = sweep_until_empty(f"rerun-j{journey_id}", journey_id=journey_id)
    logger.info("rerun order=%s forced=%s claimed=%s sent=%s", order_id, forced, report.claimed, report.total_sent)
    return {"order_id": order_id, "forced": forced, **report.as_dict()}
