"""The sweep's task: one task run per batch of due steps (hundreds of messages), never one per message."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from aftercare.bootstrap import get_services
from aftercare.services.reports import SweepReport
from tasks.retry import retry_transient


@task(
    name="sweep-batch",
    task_run_name="sweep-batch-{worker_id}",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    log_prints=False,
)
def sweep_batch(worker_id: str, batch_size: int | None = None, journey_id: int | None = None,
                reclaim_own: bool = False) -> SweepReport:
    """Claim, decide, render, reserve, send and record one batch. Safe to retry: the ledger dedupes."""
    report = get_services().sweeper.process_batch(
        worker_id=worker_id, batch_size=batch_size, journey_id=journey_id, reclaim_own=reclaim_own
    )
    # logfmt, ids and counts only: never an address, a phone number or a name.
    get_run_logger().info(
        "sweep batch worker=%s journey_id=%s claimed=%s sent=%s skipped=%s deferred=%s failed=%s unknown=%s",
        worker_id, journey_id if journey_id is not None else "-", report.claimed, report.total_sent,
        sum(report.skipped.values()), sum(report.deferred.values()), sum(report.failed.values()),
        sum(report.unknown.values()),
    )
    return report
