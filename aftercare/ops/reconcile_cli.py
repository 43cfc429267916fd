"""`aftercare reconcile`: settle messages whose outcome is unknown now (what the scheduled deployment runs).

Prints ledger ids, steps, channels and reasons; never an address or a number.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aftercare.ops.cli import _lag

console = Console(width=max(Console().width, 150))


def reconcile(
    resend: Annotated[bool, typer.Option(
        "--resend", help="Also send again, once, the unknown messages held for you (webhook not live, ambiguous, "
                         "already resent).")] = False,
) -> None:
    """Record unknown messages the provider has as sent; send the ones it never accepted again, once."""
    from aftercare.bootstrap import build_reconciler, get_services

    report = build_reconciler(get_services()).run(resend=resend)
    table = Table(title="Unknown outcomes reconciled", title_justify="left")
    for name, justify in (("ledger id", "right"), ("step", "left"), ("channel", "left"), ("age", "right"),
                          ("result", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in report.found:
        table.add_row(str(f.ledger_id), f.step, f.channel, _lag(f.age), "found at the provider: sent")
    for r in report.resent:
        table.add_row(str(r.ledger_id), r.step, r.channel, _lag(r.age),
                      f"sent again ({r.reason}): now {report.outcomes.get(r.ledger_id, '?')}")
    for h in report.held:
        table.add_row(str(h.ledger_id), h.step, h.channel, _lag(h.age), f"held: {h.reason}")
    for w in report.waiting:
        table.add_row(str(w.ledger_id), w.step, w.channel, _lag(w.age), f"waiting: {w.reason}")
    if table.row_count:
        console.print(table)
    console.print(f"found {len(report.found)}, resent {len(report.resent)}, held {len(report.held)}, "
                  f"waiting {len(report.waiting)}")
    if report.held and not resend:
        console.print("held messages are sent again only with: aftercare reconcile --resend")
