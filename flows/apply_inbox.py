"""Apply stored webhook events that were not applied (a crash between store and apply, or an event that
arrived before the order it names). Safe to run any time: applying is idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from aftercare.bootstrap import get_services
from aftercare.webhooks import inbox


@task(name="apply-inbox-batch", task_run_name="apply-inbox-batch-{first_id}", cache_policy=NO_CACHE)
def apply_inbox_batch(first_id: int, ids: list[int]) -> dict[str, int]:
    return inbox.apply_stored(get_services(), ids)


@flow(name="apply-stored-events", log_prints=False)
def apply_stored_events(
    batch_size: int = 200, max_batches: int = 50, min_age_seconds: float = 60.0
) -> dict[str, Any]:
    """Events younger than `min_age_seconds` are left to the request that is applying them right now."""
    services = get_services()
    older_than = services.clock.now() - timedelta(seconds=min_age_seconds)
    totals: dict[str, int] = {}
    seen: set[int] = set()
    for _ in range(max_batches):
        with services.session_factory() as session:
            ids = [i for i in inbox.unapplied_ids(session, batch_size, older_than) if i not in seen]
        if not ids:
            break
        seen.update(ids)  # an event still waiting for its order is tried once per run
        for key, n in apply_inbox_batch(ids[0], ids).items():
            totals[key] = totals.get(key, 0) + n
    get_run_logger().info("stored events applied: %s", totals)
    return totals
