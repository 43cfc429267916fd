"""Prefect artifacts: what a sweep did, per step, visible in the UI next to the run."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_table_artifact

from aftercare.services.reports import SweepReport


def sweep_table(report: SweepReport) -> list[dict[str, Any]]:
    rows = []
    for row in report.rows():
        skipped = row.pop("skipped")
        row["skipped"] = sum(skipped.values())
        row["skip_reasons"] = ", ".join(f"{k}={v}" for k, v in skipped.items())
        rows.append(row)
    return rows


def publish_sweep_artifact(report: SweepReport) -> None:
    create_table_artifact(
        key="journey-sweep",
        table=sweep_table(report) or [{"step": "(nothing due)"}],
        description=f"Per step: sent, deferred, skipped by reason. Claimed {report.claimed} steps.",
    )
