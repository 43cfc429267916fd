"""Rich tables for the CLI."""

from __future__ import annotations

from rich.table import Table

from aftercare.services.funnel import FunnelRow


def funnel_table(rows: list[FunnelRow], title: str = "Journey funnel") -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (("step", "left"), ("email", "right"), ("sms", "right"), ("deferred", "right"),
                          ("waiting", "right"), ("held out", "right"), ("failed", "right"), ("unknown", "right"),
                          ("skipped", "right"), ("skipped by reason", "left"), ("backfilled", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in r.skipped.most_common())
        table.add_row(r.step, str(r.sent["email"]), str(r.sent["sms"]), str(r.deferred), str(r.waiting),
                      str(r.held_out), str(r.failed), str(r.unknown), str(r.skipped_total), reasons,
                      str(r.backfilled))
    return table
