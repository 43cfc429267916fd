"""One order's journey, now: for manual reruns from the Prefect UI ("Run" > "Custom run") and the CLI.

The form shows every parameter with its description; `step` is a choice of the configured journey's steps,
so a typo is refused when the run is submitted, not seconds into it. Every run publishes a table artifact
of what was decided for each step and why (dry runs too), and run names say the mode.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from pydantic import Field

from aftercare.bootstrap import configured_journey, get_services
from aftercare.services import rerun
from flows.journey_sweep import sweep_until_empty
from flows.run_context import in_flow_run, run_logger

# The step choices are the configured journey's (AFTERCARE_* settings of the process that defines the flow:
# the worker, or `prefect deploy`). Prefect turns a Literal into one drop-down and validates it at submit;
# "all" (the default) is every step that is due, so the form needs no "str or None" toggle.
ALL_STEPS = "all"
StepName = Literal[(ALL_STEPS, *configured_journey().names)]  # type: ignore[valid-type]

OrderRef = Annotated[str, Field(min_length=1, max_length=64)]


def _run_name() -> str:
    """run-journey-<mode>-order-<our id or order number>: ids only, never a name or address."""
    params = flow_run.parameters or {}
    mode = rerun.mode_of(dry_run=bool(params.get("dry_run")), force=bool(params.get("force")))
    step = params.get("step") if params.get("step") != ALL_STEPS else None
    order = str(params.get("order", "?")).strip().lstrip("#")[:32]
    return f"run-journey-{mode}-order-{order}" + (f"-{step}" if step else "")


@flow(name="run-journey", flow_run_name=_run_name, validate_parameters=True)
def run_journey(order: OrderRef, step: StepName = ALL_STEPS, dry_run: bool = False,
                force: bool = False) -> dict[str, Any]:
    """Run one order's journey now: a manual rerun, a single step, or a dry run.

    Exactly once holds: whatever the mode, a message the ledger already holds is never sent again.
    (Prefect shows the Args below as the help text of the UI's form.)

    Args:
        order: The order: the store's order number as customers see it (#1042), the platform's order id, or
            aftercare's own id.
        step: Only this step of the order's journey ("all": every step that is due). Without force, a chosen
            step that is still open is made due now.
        dry_run: Decide every open step as if it were due now and publish the decisions with their reasons;
            claim, send and record nothing.
        force: Make the order's open steps (or the chosen step) due now and re-open steps that were skipped
            earlier. Never resends a message the ledger already holds.
    """
    logger = run_logger()
    services = get_services()
    mode = rerun.mode_of(dry_run=dry_run, force=force)
    only = None if step == ALL_STEPS else step
    started = services.clock.now()
    with services.session_factory() as session:
        target = rerun.resolve(session, order)
    if dry_run:
        rows = [rerun.decision_row(name, decision)
                for name, decision in services.sweeper.preview(target.journey_id, only)]
        made_due, report = 0, None
    else:
        with services.session_factory() as session, session.begin():
            before = rerun.last_decision_id(session, target.journey_id)
            made_due = rerun.make_due(session, target.journey_id, only, reopen_skipped=force, now=started)
        report = sweep_until_empty(f"rerun-j{target.journey_id}-{flow_run.get_id() or 'local'}",
                                   journey_id=target.journey_id)
        with services.session_factory() as session:
            rows = rerun.logged_decisions(session, target.journey_id, before)
    if in_flow_run():  # a direct run (the CLI without a Prefect API) prints its result instead
        _publish(target, mode, only, rows)
    logger.info("rerun mode=%s order=%s journey=%s made_due=%s decisions=%s sent=%s", mode, target.order_id,
                target.journey_id, made_due, len(rows), report.total_sent if report else 0)
    result: dict[str, Any] = {"order_id": target.order_id, "mode": mode, "made_due": made_due, "decisions": rows}
    if report is not None:
        result.update(report.as_dict())
    return result


def _publish(target: rerun.Target, mode: str, step: str | None, rows: list[dict[str, Any]]) -> None:
    create_table_artifact(
        key=f"run-journey-order-{target.order_id}",
        table=rows or [{"step": step or "(all)", "decision": "nothing to decide", "reason": "no open or due step",
                        "until": "", "channels": ""}],
        description=f"run-journey ({mode}) for order {target.order_number or target.order_id}: every decision "
                    "and its reason.",
    )
