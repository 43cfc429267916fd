"""`aftercare catalog import`: fill the product catalog from Shopify's Admin API, once or again at any time.

The product webhooks keep it current afterwards; running the import again changes only what is newer in
Shopify (a product's `updated_at`). No customer data is involved.
"""

from __future__ import annotations

import typer
from rich.console import Console

catalog_app = typer.Typer(help="The product catalog (setup instructions, videos, use cycles).", no_args_is_help=True)
console = Console()


@catalog_app.command("import")
def import_command() -> None:
    """Import every product and its metafields (AFTERCARE_SHOPIFY_SHOP_DOMAIN, AFTERCARE_SHOPIFY_ADMIN_TOKEN)."""
    from aftercare.bootstrap import get_services
    from aftercare.services.catalog import CatalogImportError, import_all

    services = get_services()
    try:
        counts = import_all(services.settings, services.session_factory, transport=services.shopify_transport)
    except CatalogImportError as exc:
        console.print(f"[red]catalog import stopped: {exc}[/red]")
        raise typer.Exit(1) from exc
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no products"
    console.print(f"catalog import: {summary}")
