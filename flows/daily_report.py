"""Daily: the funnel, CSAT, review conversion and win-back recovery, as a markdown artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aftercare.bootstrap import get_services
from aftercare.services.daily_report import daily_report as build_report
from aftercare.services.daily_report import to_markdown


@flow(name="daily-report", flow_run_name="daily-report", log_prints=False)
def daily_report() -> dict[str, Any]:
    services = get_services()
    with services.session_factory() as session:
        report = build_report(session, journey=services.journey, now=services.clock.now(),
                              recovery_window=services.policy.recovery_window)
    create_markdown_artifact(key="daily-report", markdown=to_markdown(report),
                             description="Funnel, CSAT distribution, review conversion, win-back recovery.")
    get_run_logger().info("daily report done steps=%s csat_answers=%s review_conversion=%s winback_recovery=%s",
                          len(report.funnel), report.csat_total, report.review_conversion.share,
                          report.winback_recovery.share)
    return {"csat": report.csat, "review_conversion": str(report.review_conversion),
            "winback_recovery": str(report.winback_recovery), "recovery_overdue": len(report.recovery_overdue)}
