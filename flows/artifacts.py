"""Prefect artifacts: what a sweep did, per step, visible in the UI next to the run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from prefect.artifacts import create_table_artifact

from aftercare.services.reports import SweepReport

TOTAL = "total"


def sweep_table(report: SweepReport, step_order: Sequence[str]) -> list[dict[str, Any]]:
    """One row per step in journey order (as a customer meets them, not alphabetical), then a totals row."""
    position = {name: i for i, name in enumerate(step_order)}
    rows = []
    reasons: Counter[str] = Counter()
    for row in sorted(report.rows(), key=lambda r: (position.get(r["step"], len(position)), r["step"])):
        skipped = row.pop("skipped")
        reasons.update(skipped)
        row["skipped"] = sum(skipped.values())
        row["skip_reasons"] = ", ".join(f"{k}={v}" for k, v in skipped.items())
        rows.append(row)
    if not rows:
        return []
    total: dict[str, Any] = {key: sum(row[key] for row in rows) for key in rows[0] if key not in ("step",
                                                                                                  "skip_reasons")}
    total = {"step": TOTAL, **total,
             "skip_reasons": ", ".join(f"{k}={v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))}
    return [*rows, total]


def publish_sweep_artifact(report: SweepReport, step_order: Sequence[str]) -> None:
    create_table_artifact(
        key="journey-sweep",
        table=sweep_table(report, step_order) or [{"step": "(nothing due)"}],
        description=f"Per step, in journey order: sent, deferred, skipped by reason; then the totals. "
                    f"Claimed {report.claimed} steps.",
    )
