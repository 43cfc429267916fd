"""`aftercare import shopify|csv`: bring a store's history in; what is past is recorded, never sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from aftercare.imports.runs import ImportSummary

import_app = typer.Typer(help="Bring a store's history in without sending it: past steps are recorded backfilled.",
                         no_args_is_help=True)
console = Console(width=max(Console().width, 120))
# Tests and the example script hand the Shopify client a fake transport here (httpx.MockTransport).
transport_override: httpx.BaseTransport | None = None


def _since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if "T" in value else datetime.combine(
            date.fromisoformat(value), datetime.min.time())
    except ValueError:
        raise typer.BadParameter("a date (2025-01-31) or an ISO-8601 time", param_hint="--since") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@import_app.command("shopify")
def shopify_command(
    since: Annotated[str, typer.Option(help="Import orders updated since this date (UTC), e.g. 2025-01-31.")],
) -> None:
    """Customers (with consent) and orders updated since --since, from the Shopify Admin API. Resumable: run it
    again after an interruption and it continues from the last page it finished; nothing is imported twice."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from aftercare.bootstrap import get_services
    from aftercare.imports.shopify import import_shopify
    from aftercare.imports.shopify_api import ShopifyAdmin, ShopifyApiError

    services = get_services()
    settings = services.settings
    if not settings.shopify_shop_domain or settings.shopify_admin_token is None:
        Console(stderr=True).print("set AFTERCARE_SHOPIFY_SHOP_DOMAIN and AFTERCARE_SHOPIFY_ADMIN_TOKEN "
                                   "(an Admin API token with read_customers and read_orders)")
        raise typer.Exit(2)
    admin = ShopifyAdmin(shop_domain=settings.shopify_shop_domain,
                         token=settings.shopify_admin_token.get_secret_value(),
                         api_version=settings.shopify_api_version, page_size=settings.import_page_size,
                         max_retries=settings.import_max_retries, transport=transport_override)
    with admin, Progress(TextColumn("[bold]{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                         TimeElapsedColumn(), console=console) as progress:
        bars: dict[str, int] = {}

        def show(phase: str, done: int, total: int | None) -> None:
            if phase not in bars:
                bars[phase] = progress.add_task(phase, total=total)
            progress.update(bars[phase], completed=done, total=total if total is not None else done or None)

        try:
            summary = import_shopify(services, admin, since=_since(since), shop=settings.shopify_shop_domain,
                                     progress=show)
        except ShopifyApiError as exc:
            Console(stderr=True).print(f"{exc}; run the same command again to continue from the last page")
            raise typer.Exit(1) from None
    print_summary(summary)


@import_app.command("csv")
def csv_command(
    customers: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                   help="customers.csv (see README: Moving a store over).")] = None,
    orders: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                help="orders.csv, one row per order line.")] = None,
) -> None:
    """Customers with consent and its times, then orders with fulfilment, delivery and refund columns. A bad row
    is listed with its line and reason and skipped; re-running the same files imports nothing twice."""
    from aftercare.bootstrap import get_services
    from aftercare.imports.csv_files import import_csv

    if customers is None and orders is None:
        raise typer.BadParameter("give --customers, --orders or both")
    print_summary(import_csv(get_services(), customers=customers, orders=orders))


def summary_table(summary: ImportSummary) -> Table:
    table = Table(title="Imported journeys: past steps backfilled (never sent), steps ahead scheduled",
                  title_justify="left")
    for name, justify in (("step", "left"), ("backfilled", "right"), ("scheduled", "right"),
                          ("cancelled", "right"), ("next due (UTC)", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in summary.steps:
        table.add_row(s.step, str(s.backfilled), str(s.scheduled), str(s.cancelled),
                      s.next_due.strftime("%Y-%m-%d %H:%M") if s.next_due else "")
    table.add_row("total", str(summary.backfilled), str(summary.scheduled),
                  str(sum(s.cancelled for s in summary.steps)), "", style="bold")
    return table


def print_summary(summary: ImportSummary) -> None:
    if summary.resumed:
        console.print("resumed an unfinished import from its last finished page")
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(summary.counts.items())))
    console.print(summary_table(summary))
    if summary.rejected:
        skipped = Table(title=f"Skipped: {len(summary.rejected)} (first 50)", title_justify="left")
        skipped.add_column("where")
        skipped.add_column("reason")
        for where, reason in summary.rejected[:50]:
            skipped.add_row(where, reason)
        console.print(skipped)
