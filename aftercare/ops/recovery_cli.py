"""`aftercare recovery ...`: resolve a service-recovery case from the command line, list the overdue ones.

Support resolves a case here when their helpdesk is not wired to the webhook; resolving releases the customer's
review request and the promotions the open case held. No contact details are printed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

recovery_app = typer.Typer(help="Service-recovery cases (after a CSAT 1-2).", no_args_is_help=True)
console = Console()


@recovery_app.command("resolve")
def resolve(
    case: Annotated[str, typer.Argument(help="The case id, or its order: our order id (with --order), the store's "
                                             "order number (#1042) or its external id.")],
    note: Annotated[str, typer.Option(help="What was done (stored as the resolution).")] = "resolved via cli",
    by_order: Annotated[bool, typer.Option("--order", help="CASE names an order, not a case.")] = False,
) -> None:
    """Mark a case resolved: the review request is released a day later; held promotions go out."""
    from aftercare.bootstrap import get_services
    from aftercare.services.recovery import UnknownCase, find_case, resolve_case

    services = get_services()
    now = services.clock.now()
    by_case = not by_order and case.isdigit()
    try:
        with services.session_factory() as session, session.begin():
            found = find_case(session, case_id=int(case) if by_case else None,
                              order_ref=None if by_case else case)
            result = resolve_case(session, services.ingest, found, resolution=note, at=now, now=now)
    except UnknownCase as exc:
        console.print(f"[red]no recovery case {exc}[/red]")
        raise typer.Exit(1) from exc
    c = result.case
    if result.changed:
        console.print(f"case {c.case_id} (order {c.order_number}) resolved; the review request is released")
    else:
        console.print(f"case {c.case_id} (order {c.order_number}) was already resolved at "
                      f"{c.resolved_at:%Y-%m-%d %H:%M} UTC; nothing changed")


@recovery_app.command("overdue")
def overdue() -> None:
    """List open cases older than the recovery window (they no longer hold the customer back)."""
    from aftercare.bootstrap import get_services
    from aftercare.services.recovery import overdue_cases

    services = get_services()
    with services.session_factory() as session:
        cases = overdue_cases(session, services.clock.now(), services.policy.recovery_window)
    if not cases:
        console.print("no recovery case is open past the recovery window")
    for c in cases:
        console.print(f"case {c.case_id}: order {c.order_number}, open since {c.opened_at:%Y-%m-%d %H:%M} UTC")
