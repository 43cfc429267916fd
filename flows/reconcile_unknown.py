"""Reconcile messages whose outcome is unknown (a crash or timeout mid-send), on a schedule.

Thin: the work is `aftercare.services.reconcile.Reconciler`; `aftercare reconcile` runs the same now.
Run names and the result carry ledger ids and counts only.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from aftercare.bootstrap import build_reconciler, get_services


@task(name="reconcile-unknown-messages", cache_policy=NO_CACHE)
def reconcile_unknown(resend: bool) -> dict[str, Any]:
    return build_reconciler(get_services()).run(resend=resend).as_dict()


@flow(name="reconcile-unknown-messages", log_prints=False)
def reconcile_unknown_messages(resend: bool = False) -> dict[str, Any]:
    """`resend` also sends the messages held for the operator (as `aftercare reconcile --resend`)."""
    result = reconcile_unknown(resend)
    get_run_logger().info("reconciled: found=%s resent=%s held=%s waiting=%s", len(result["found"]),
                          len(result["resent"]), len(result["held"]), result["waiting"])
    return result
