"""`aftercare import shopify` against a fake Admin API: paging, resuming, 429s, re-runs and consent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from aftercare.db.models import ConsentEvent, Customer, DecisionLog, ImportRun, Message, Order, ReturnItem, Shipment
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.imports.shopify import customer_from
from aftercare.imports.shopify_api import ShopifyApiError
from aftercare.services.commands import ConsentIn
from tests.imports.conftest import history, run_import

SINCE_EVER = timedelta(days=400)


def count(services, model) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_every_page_is_followed_by_its_cursor_and_every_order_lands_once(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 120)
    summary = run_import(services, shop, clock.now() - SINCE_EVER, page_size=50)

    order_pages = [p for p in shop.paths() if p.startswith("/admin/api/2026-01/orders.json")]
    assert len(order_pages) == 3  # 50 + 50 + 20
    assert "status=any" in order_pages[0] and "updated_at_min=" in order_pages[0]
    assert all("page_info=" in p and "status=" not in p for p in order_pages[1:])
    assert count(services, Order) == 120
    assert summary.counts["orders_new"] == 120 and summary.counts["customers_new"] == 80
    with services.session_factory() as session:
        run = session.scalars(select(ImportRun)).one()
        assert (run.status, run.phase, run.cursor) == ("done", "done", None)


def test_only_orders_updated_since_the_date_are_read(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 100)  # one every 3 days over 300 days
    run_import(services, shop, clock.now() - timedelta(days=30))
    with services.session_factory() as session:
        placed = [p for p in session.scalars(select(Order.placed_at))]
    assert 9 <= len(placed) <= 12
    assert min(placed) >= clock.now() - timedelta(days=45)


def test_an_interrupted_import_continues_from_its_last_finished_page(services, clock, shopify_sample):
    orders = history(shopify_sample, clock.now(), 150).orders
    # requests: customers/count, customers page 1..2, orders/count, orders page 1, page 2 (fails for good)
    broken = history(shopify_sample, clock.now(), 150, fail={6: 500})
    broken.orders = orders
    with pytest.raises(ShopifyApiError, match="500"):
        run_import(services, broken, clock.now() - SINCE_EVER, page_size=50)
    assert count(services, Order) == 50
    with services.session_factory() as session:
        run = session.scalars(select(ImportRun)).one()
        assert (run.status, run.phase) == ("running", "orders")
        failed_page = str(broken.requests[-1].url)
        assert run.cursor == failed_page and "page_info=" in failed_page

    again = history(shopify_sample, clock.now(), 150)
    again.orders = orders
    summary = run_import(services, again, clock.now() - SINCE_EVER, page_size=50)

    pages = [str(r.url) for r in again.requests if r.url.path.endswith("/orders.json")]
    assert pages[0] == failed_page  # not the first page again, and no customer page
    assert not any(r.url.path.endswith("/customers.json") for r in again.requests)
    assert summary.resumed and summary.counts["orders_new"] == 150
    assert count(services, Order) == 150
    with services.session_factory() as session:
        assert session.scalar(select(func.count(func.distinct(Order.external_id)))) == 150
        assert session.scalars(select(ImportRun.status)).all() == ["done"]


def test_a_429_is_waited_out_for_its_retry_after_and_retried(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 60, throttle={2: 2.5, 3: 1.0, 6: 4})
    sleeps: list[float] = []
    summary = run_import(services, shop, clock.now() - SINCE_EVER, page_size=50, sleeps=sleeps)
    assert sleeps == [2.5, 1.0, 4.0]
    assert summary.counts["orders_new"] == 60 and count(services, Order) == 60
    assert [r.url for r in shop.requests[1:4]] == [shop.requests[1].url] * 3  # the same page, asked again


def test_a_page_refused_for_good_stops_with_the_status_not_the_token(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 10, fail={2: 403})
    with pytest.raises(ShopifyApiError) as raised:
        run_import(services, shop, clock.now() - SINCE_EVER)
    assert "403" in str(raised.value) and "shpat" not in str(raised.value)


def test_a_second_run_of_a_finished_import_changes_nothing(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 80)
    run_import(services, shop, clock.now() - SINCE_EVER)
    before = {m.__name__: count(services, m) for m in (Order, Customer, Shipment, ReturnItem, ConsentEvent,
                                                        DecisionLog)}
    clock.advance(timedelta(minutes=5))
    summary = run_import(services, history(shopify_sample, clock.now() - timedelta(minutes=5), 80),
                         clock.now() - SINCE_EVER)
    after = {m.__name__: count(services, m) for m in (Order, Customer, Shipment, ReturnItem, ConsentEvent,
                                                       DecisionLog)}
    assert after == before
    assert summary.counts.get("orders_new", 0) == 0 and summary.counts["orders_unchanged"] == 80


def test_a_record_that_cannot_be_mapped_is_reported_and_skipped(services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 20)
    shop.orders[4]["created_at"] = shop.orders[4]["processed_at"] = "last tuesday"
    del shop.orders[9]["id"]
    summary = run_import(services, shop, clock.now() - SINCE_EVER)
    assert count(services, Order) == 18
    assert summary.counts["orders_rejected"] == 2
    assert [where for where, _ in summary.rejected] == [f"order {shop.orders[4]['id']}", "order None"]


def test_imported_consent_is_evidence_at_shopifys_time_and_never_undoes_a_newer_choice(
        services, clock, shopify_sample):
    shop = history(shopify_sample, clock.now(), 4, customers=2)
    said_at = clock.now() - timedelta(days=1)  # newer than any consent in the history
    with services.session_factory() as session, session.begin():
        customer = services.ingest.upsert_customer(session, customer_from(shop.customers[0], "UTC"), said_at)
        services.ingest.record_consent(session, customer, [ConsentIn(
            Channel.EMAIL, Purpose.MARKETING, False, ConsentSource.PREFERENCES, "link:preferences",
            stated_at=said_at)], said_at)
    run_import(services, shop, clock.now() - SINCE_EVER)
    with services.session_factory() as session:
        first = session.scalar(select(Customer).where(Customer.external_id == "shopify:9000000"))
        second = session.scalar(select(Customer).where(Customer.external_id == "shopify:9000001"))
        kept = session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == second.id)).all()
        assert {(e.source, e.detail, e.explicit) for e in kept} == {
            ("import", "import:shopify", True), ("import", "import:shopify", False)}
        email = next(e for e in kept if e.channel == "email")
        assert email.stated_at.isoformat().startswith(shop.customers[1]["email_marketing_consent"][
            "consent_updated_at"][:19])
        assert first.email_unsubscribed_at is not None  # the newer preferences-page choice holds
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_the_cli_shows_progress_and_prints_backfilled_and_scheduled_per_step(services, clock, shopify_sample,
                                                                            monkeypatch):
    from typer.testing import CliRunner

    from aftercare.bootstrap import use_services
    from aftercare.cli import app
    from aftercare.imports import cli as import_cli
    from benchmarks.fake_shopify import SHOP

    shop = history(shopify_sample, clock.now(), 30)
    monkeypatch.setattr(import_cli, "transport_override", shop.transport)
    services.settings.shopify_shop_domain = SHOP
    services.settings.shopify_admin_token = SecretStr("shpat_cli_test")
    with use_services(services):
        result = CliRunner().invoke(app, ["import", "shopify", "--since", "2025-01-01"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("orders", "30/30", "orders new: 30", "backfilled", "scheduled", "confirmation", "total"):
        assert text in result.output
    assert "shpat_cli_test" not in result.output and "buyer1@" not in result.output
    assert all(r.headers["x-shopify-access-token"] == "shpat_cli_test" for r in shop.requests)


def test_the_cli_names_the_settings_it_needs(services):
    from typer.testing import CliRunner

    from aftercare.bootstrap import use_services
    from aftercare.cli import app

    with use_services(services):
        result = CliRunner().invoke(app, ["import", "shopify", "--since", "2025-01-01"])
    assert result.exit_code == 2 and "AFTERCARE_SHOPIFY_ADMIN_TOKEN" in result.output


@pytest.mark.postgres
def test_an_interrupted_import_resumes_without_duplicates_on_postgres(pg_url, tmp_path, clock, email, sms,
                                                                      shopify_sample):
    from aftercare.bootstrap import build_services
    from tests.conftest import make_settings

    services = build_services(make_settings(tmp_path, database_url=pg_url), clock=clock, email=email, sms=sms)
    try:
        orders = history(shopify_sample, clock.now(), 120).orders
        broken = history(shopify_sample, clock.now(), 120, fail={6: 502})
        broken.orders = orders
        with pytest.raises(ShopifyApiError):
            run_import(services, broken, clock.now() - SINCE_EVER, page_size=50)
        again = history(shopify_sample, clock.now(), 120)
        again.orders = orders
        summary = run_import(services, again, clock.now() - SINCE_EVER, page_size=50)
        assert summary.resumed and summary.counts["orders_new"] == 120
        assert count(services, Order) == 120 and email.sent == [] and sms.sent == []
        assert summary.backfilled > 0 and summary.scheduled > 0
    finally:
        services.engine.dispose()
