"""`aftercare explain ORDER` and `aftercare status`: Rich rendering of aftercare.services.explain / status.

Times are shown in UTC and in the customer's own zone; no email address or phone number is printed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from aftercare.services.recovery import CaseView

console = Console(width=max(Console().width, 150))


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({local:%m-%d %H:%M} {local.tzname()})"


def _utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


def _lag(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def explain(order: Annotated[str, typer.Argument(help="Our order id, the store's order number (#1042) or its "
                                                      "external id.")],
            step: Annotated[str | None, typer.Option(help="Only this step's rows (and no consent tables).")] = None,
            ) -> None:
    """Print one order's journey: every step, when it was due, what was decided and why, what was sent."""
    from aftercare.bootstrap import get_services
    from aftercare.services.explain import OrderNotFound
    from aftercare.services.explain import explain as build_timeline

    services = get_services()
    try:
        with services.session_factory() as session:
            timeline = build_timeline(session, order)
    except OrderNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    zone = timeline.zone
    console.print(
        f"[bold]Order {timeline.order_number}[/bold] (id {timeline.order_id}, external {timeline.order_external_id}) "
        f"status {timeline.order_status}, placed {_when(timeline.placed_at, zone)}\n"
        f"journey {timeline.journey_id} ({timeline.journey_status}); customer {timeline.customer_id}, "
        f"zone {timeline.customer_timezone}, email {timeline.email_masked or '-'}, "
        f"phone {timeline.phone_masked or '-'}"
    )
    if timeline.promised_at or timeline.shipment_status:
        promise = f"promised {_when(timeline.promised_at, zone)}" if timeline.promised_at else "no promise"
        if timeline.estimated_at:
            promise += f", new estimate {_when(timeline.estimated_at, zone)}"
            if timeline.promise_revised_at:
                promise += f" (since {_when(timeline.promise_revised_at, zone)})"
        if timeline.shipment_status:
            promise += f"; shipment {timeline.shipment_status}"
            if timeline.last_progress_at:
                promise += f", last progress {_when(timeline.last_progress_at, zone)}"
        else:
            promise += "; not shipped"
        console.print(promise)
    for kind, status, at in timeline.requests:
        console.print(f"order page: {kind} request, {status}, {_when(at, zone)}")
    table = Table(title=f"Journey timeline, order {timeline.order_number}", title_justify="left", show_lines=True)
    for name in ("step", "status", "due", "decisions (when: outcome, reason, until)",
                 "messages (channel template locale: status, provider id, reason)"):
        table.add_column(name, overflow="fold")
    for line in timeline.steps:
        if step is not None and line.step != step:
            continue
        due = _when(line.due_at, zone)
        if line.first_due_at != line.due_at:
            due = f"first {_when(line.first_due_at, zone)}\nnow {due}"
        decisions = "\n".join(
            f"{_when(d.decided_at, zone)}: {d.outcome}"
            + (f", {d.reason}" if d.reason else "")
            + (f", until {_when(d.until, zone)}" if d.until else "")
            + (f" [{d.channels}]" if d.channels else "")
            for d in line.decisions
        ) or (f"{line.last_outcome}: {line.last_reason}" if line.last_outcome else "(not decided yet)")
        messages = "\n".join(
            f"{m.channel} {m.template or '-'} {m.locale or '-'}: {m.status}"
            + (f", {m.provider or ''} {m.provider_message_id}" if m.provider_message_id else "")
            + (f", {m.reason}" if m.reason else "")
            + (f", sent {_when(m.sent_at, zone)}" if m.sent_at else "")
            for m in line.messages
        ) or "-"
        # Escaped: an occurrence such as "[up:gold]" or "[sku-beans]" reads as Rich markup and would vanish.
        name = f"{line.step} {escape('[' + line.occurrence + ']')}" if line.occurrence else line.step
        table.add_row(f"{name}\n[dim]{line.scope}, {line.trigger}[/dim]", line.status, due, decisions, messages)
    console.print(table)
    if timeline.consent is not None and step is None:
        from aftercare.ops.consent_cli import consent_tables

        console.print(consent_tables(timeline.consent))


def status() -> None:
    """Print queue depth by step, the oldest overdue step (lag) and failures waiting."""
    from aftercare.bootstrap import get_services
    from aftercare.services.status import status as build_status

    services = get_services()
    with services.session_factory() as session:
        report = build_status(session, services.clock.now(), services.journey.names,
                              recovery_window=services.policy.recovery_window)
    table = Table(title=f"Queue at {report.now:%Y-%m-%d %H:%M:%S} UTC", title_justify="left")
    for name, justify in (("step", "left"), ("due now", "right"), ("not yet due", "right"),
                          ("waiting", "right"), ("claimed", "right"), ("oldest due", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report.queue:
        table.add_row(r.step, str(r.due), str(r.pending), str(r.waiting), str(r.claimed),
                      _utc(r.oldest_due_at))
    console.print(table)
    if report.oldest_overdue is None:
        console.print("lag: nothing overdue")
    else:
        o = report.oldest_overdue
        console.print(f"lag: {_lag(o.lag)} (step {o.step}, step id {o.step_id}, journey {o.journey_id}, "
                      f"order {o.order_id}, due {_utc(o.due_at)})")
    if report.failures:
        failures = Table(title="Failures waiting (ledger)", title_justify="left")
        failures.add_column("status:reason")
        failures.add_column("messages", justify="right")
        for key, count in sorted(report.failures.items(), key=lambda kv: -kv[1]):
            failures.add_row(key, str(count))
        console.print(failures)
    else:
        console.print("failures waiting: none")
    console.print(f"transient retries pending: {report.retrying}; inbox events not applied: {report.inbox_unapplied} "
                  f"({report.inbox_errors} with errors)")
    _print_recovery_overdue(report.recovery_overdue, report.now)
    if report.unknown:
        console.print(unknown_table(report.unknown, report.unknown_total))
    else:
        console.print("unknown outcomes: none")


def _print_recovery_overdue(cases: list[CaseView], now: datetime) -> None:
    """Open cases past the recovery window: the customer is no longer held back, but nobody closed the case."""
    if not cases:
        console.print("recovery cases open past the window: none")
        return
    table = Table(title=f"Recovery cases open past the window ({len(cases)}): resolve with "
                        "`aftercare recovery resolve CASE`", title_justify="left")
    for name in ("case", "order", "open since", "open for"):
        table.add_column(name)
    for c in cases:
        table.add_row(str(c.case_id), c.order_number, _utc(c.opened_at), _lag(now - c.opened_at))
    console.print(table)


def unknown_table(rows: list[Any], total: int) -> Table:
    """Messages whose outcome is unknown, oldest first: ledger id, step, channel, age (no address)."""
    table = Table(title=f"Unknown outcomes: {total} (aftercare reconcile; --resend sends the held ones)",
                  title_justify="left")
    for name, justify in (("ledger id", "right"), ("step", "left"), ("channel", "left"), ("age", "right"),
                          ("resends", "right"), ("reason", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(str(r.ledger_id), r.step, r.channel, _lag(r.age), str(r.resends), r.reason or "-")
    return table
