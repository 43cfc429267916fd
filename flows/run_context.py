"""Where a flow body is running: inside a Prefect flow run, or called directly (`flow.fn(...)`) by the CLI
when no Prefect API is configured (see `aftercare.prefect_api`). The same body then logs to the standard
logger and runs its batches through the same services without Prefect's task runs. Prefect is imported only
when asked about, so the CLI's direct sweep can use `sweep_worker_id` without importing it."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4


def in_flow_run() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def run_logger() -> Any:
    """The flow run's logger (its lines reach the Prefect UI), or `aftercare.flows` outside a flow run."""
    if not in_flow_run():
        return logging.getLogger("aftercare.flows")
    from prefect import get_run_logger

    return get_run_logger()


def sweep_worker_id(run_id: UUID | str | None) -> str:
    """The claim's owner: the whole flow-run id (a retry of the run keeps it, so it takes back its own claims),
    or a fresh random id for a direct run.

    Never a prefix: the scheduler's run ids are time-ordered (UUIDv7), so runs created in the same minute share
    their first 8 hex digits, and two late runs with one worker id each took back the other's claims and
    decided the same steps twice."""
    return f"sweep-{run_id or uuid4()}"
