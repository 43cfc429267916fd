"""Import a few hundred historical Shopify orders through the CLI, against the fake Admin API, and print what
the import did: per step, what was backfilled (history, never sent) and what was scheduled (still ahead);
then a sweep now (it sends nothing: everything due is history), the funnel, and one recent order's timeline.

    python -m benchmarks.import_history [--orders 300] [--home DIR]

Needs AFTERCARE_SAMPLE_PAYLOADS (Shopify's sample order is the template of every order). The database is a
fresh SQLite file under --home (a temporary folder by default); nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--days", type=float, default=300, help="spread the orders over this many past days")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="aftercare-import-"))
    home.mkdir(parents=True, exist_ok=True)
    (home / "history.db").unlink(missing_ok=True)

    from benchmarks.fake_shopify import SHOP, FakeShopifyAdmin, historical_orders, sample_order

    os.environ.update(AFTERCARE_HOME=str(home), AFTERCARE_DATABASE_URL=f"sqlite:///{home / 'history.db'}",
                      AFTERCARE_OUTBOX_DIR=str(home / "outbox"), AFTERCARE_ENVIRONMENT="development",
                      AFTERCARE_SHOPIFY_SHOP_DOMAIN=SHOP, AFTERCARE_SHOPIFY_ADMIN_TOKEN="shpat_example_token")
    now = datetime.now(UTC)
    orders = historical_orders(sample_order(), count=args.orders, now=now, days=args.days)
    shop = FakeShopifyAdmin.from_orders(orders, throttle={4: 0.5})  # one 429 on the way, waited out

    from aftercare.cli import app
    from aftercare.imports import cli as import_cli

    import_cli.transport_override = shop.transport
    since = (now - timedelta(days=args.days + 10)).date().isoformat()
    newest_delivered = next(o["name"] for o in reversed(orders)
                            if any(f.get("shipment_status") == "delivered" for f in o["fulfillments"]))
    for command in (["import", "shopify", "--since", since], ["sweep"], ["funnel"], ["explain", newest_delivered]):
        print(f"\n$ aftercare {' '.join(command)}")
        app(command, standalone_mode=False)
    print(f"\n{len(shop.requests)} Admin API requests ({len(shop.throttle)} answered 429 and retried); "
          f"database: {home / 'history.db'}")


if __name__ == "__main__":
    main()
