"""`aftercare consent CUSTOMER`: the customer's consent evidence, rendered with Rich (and reused by `explain`).

Shows the current state per (channel, purpose) and every statement kept, with its source, its own time,
our receipt time and the version of our page's text; never an email address, phone number or name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from aftercare.services.consent_history import ConsentHistory

console = Console(width=max(Console().width, 150))


def _utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


def consent_tables(history: ConsentHistory) -> Group:
    current = Table(title=f"Consent now, customer {history.customer_id}", title_justify="left")
    for name in ("channel", "purpose", "consent", "since (statement's own time)", "source"):
        current.add_column(name)
    for c in history.current:
        current.add_row(c.channel, c.purpose, "granted" if c.granted else "revoked", _utc(c.since), c.source)
    if not history.current:
        current.add_row("-", "-", "none recorded", "-", "-")
    flags = (f"email unsubscribed: {_utc(history.email_unsubscribed_at)}; email bounced: "
             f"{_utc(history.email_bounced_at)}; SMS stopped: {_utc(history.sms_stopped_at)}")
    statements = Table(title="Consent history (append-only; oldest first by the statement's own time)",
                       title_justify="left")
    for name in ("stated", "received", "channel", "purpose", "said", "source", "detail", "text version"):
        statements.add_column(name, overflow="fold")
    for s in history.statements:
        said = "grant" if s.granted else "revoke"
        statements.add_row(_utc(s.stated_at), _utc(s.received_at), s.channel, s.purpose,
                           said if s.explicit else f"{said} (echo)", s.source, s.detail, s.text_version or "-")
    return Group(current, flags, statements)


def consent(customer: Annotated[str, typer.Argument(help="Our customer id, the store's external id or the "
                                                         "email address.")]) -> None:
    """Print a customer's consent: the current state and every statement kept as evidence, with its source."""
    from aftercare.bootstrap import get_services
    from aftercare.services.consent_history import CustomerNotFound, consent_history, find_customer

    services = get_services()
    try:
        with services.session_factory() as session:
            history = consent_history(session, find_customer(session, customer).id)
    except CustomerNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(consent_tables(history))
