"""`aftercare import csv`: customers with consent and its times, orders with shipping, delivery and refunds;
a bad row is reported with its line and reason and skipped, never a failed import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from aftercare.bootstrap import use_services
from aftercare.cli import app
from aftercare.clock import as_utc
from aftercare.db.models import ConsentEvent, Customer, DecisionLog, Message, Order, ReturnItem, ScheduledStep, Shipment
from aftercare.domain.vocabulary import Reason
from aftercare.imports.csv_files import import_csv
from tests.conftest import run_until

CUSTOMERS = """customer_id,email,phone,first_name,locale,timezone,region,\
email_marketing,email_marketing_at,sms_marketing,sms_marketing_at
c1,ana@example.com,+12125550101,Ana,en,America/New_York,US,yes,2025-05-01T10:00:00Z,no,2025-05-01T10:00:00Z
c2,min@example.com,,Min,ko,Asia/Seoul,KR,yes,2025-06-01,,
c3,bad@example.com,,Bad,en,Mars/Olympus,US,,,,
c4,late@example.com,,Late,en,UTC,,yes,,,
,nobody@example.com,,,,,,,,,
c5,,,,en,UTC,,,,,
c6,maybe@example.com,,Maybe,en,UTC,,perhaps,2025-01-01,,
"""

ORDERS = """order_id,order_number,customer_id,placed_at,currency,product_id,title,quantity,unit_price,\
shipped_at,carrier,tracking_number,delivered_at,cancelled_at,refunded_at
o1,#501,c1,2025-06-01T12:00:00Z,USD,p1,Kettle,1,40.00,2025-06-02T09:00:00Z,UPS,1Z1,2025-06-04T15:00:00Z,,
o1,#501,c1,2025-06-01T12:00:00Z,USD,p2,Filter,2,5.00,,,,,,2025-06-20T10:00:00Z
o2,#502,c2,2026-02-25T03:00:00Z,KRW,p1,Kettle,1,52000,2026-02-26T03:00:00Z,CJ,88,2026-02-28T05:00:00Z,,
o3,#503,c1,2025-08-01T12:00:00Z,USD,p3,Mug,1,12.00,,,,,2025-08-01T14:00:00Z,
o4,#504,c9,2025-08-01T12:00:00Z,USD,p3,Mug,1,12.00,,,,,,
o5,#505,c1,yesterday,USD,p3,Mug,1,12.00,,,,,,
o6,#506,c1,2025-09-01T12:00:00,USD,p3,Mug,1,12.00,,,,,,
o7,#507,c2,2025-09-01T12:00:00Z,USD,p3,Mug,two,12.00,,,,,,
o8,#508,c2,2025-09-01T12:00:00Z,USD,p3,Mug,1,12.00,2025-08-01T12:00:00Z,,,,,
o9,#509,c2,2025-09-01T12:00:00Z,USD,,Mug,1,12.00,,,,,,
,#510,c2,2025-09-01T12:00:00Z,USD,p3,Mug,1,12.00,,,,,,
"""


def files(tmp_path: Path) -> tuple[Path, Path]:
    customers, orders = tmp_path / "customers.csv", tmp_path / "orders.csv"
    customers.write_text(CUSTOMERS)
    orders.write_text(ORDERS)
    return customers, orders


def test_good_rows_are_imported_and_each_bad_row_is_reported_with_its_line_and_reason(services, tmp_path):
    customers, orders = files(tmp_path)
    summary = import_csv(services, customers=customers, orders=orders)

    assert summary.rejected == [
        ("customers.csv:4", "timezone is not an IANA time zone"),
        ("customers.csv:5", "email_marketing_at is required with email_marketing (consent is kept with its time)"),
        ("customers.csv:6", "customer_id is required"),
        ("customers.csv:7", "email or phone is required"),
        ("customers.csv:8", "email_marketing must be yes or no"),
        ("orders.csv:6", "customer_id is not a known customer (import customers.csv first)"),
        ("orders.csv:7", "placed_at is not an ISO-8601 time"),
        ("orders.csv:8", "placed_at needs a time zone offset (e.g. Z or +09:00)"),
        ("orders.csv:9", "line 9: quantity is not a whole number"),
        ("orders.csv:10", "shipped_at is before the order was placed"),
        ("orders.csv:11", "product_id is required"),
        ("orders.csv:12", "order_id is required"),
    ]
    assert summary.counts == {"customers_new": 2, "customers_rejected": 5, "orders_new": 3,
                              "orders_rejected": 7}
    with services.session_factory() as session:
        assert sorted(session.scalars(select(Order.number))) == ["#501", "#502", "#503"]
        o1 = session.scalar(select(Order).where(Order.external_id == "o1"))
        shipment = session.scalar(select(Shipment).where(Shipment.order_id == o1.id))
        assert (shipment.carrier, as_utc(shipment.delivered_at)) == ("UPS", datetime(2025, 6, 4, 15, tzinfo=UTC))
        assert session.scalars(select(ReturnItem.product_id).where(ReturnItem.order_id == o1.id)).all() == ["p2"]
        assert session.scalar(select(Order.status).where(Order.external_id == "o3")) == "cancelled"
        c2 = session.scalar(select(Customer).where(Customer.external_id == "c2"))
        assert (c2.locale, c2.timezone) == ("ko", "Asia/Seoul")
        said = session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == c2.id)).all()
        assert [(e.source, e.detail, as_utc(e.stated_at)) for e in said] == [
            ("import", "import:csv", datetime(2025, 6, 1, tzinfo=UTC))]


def test_past_steps_are_backfilled_and_a_recent_orders_steps_are_sent_when_due(services, clock, email, sms,
                                                                                tmp_path):
    customers, orders = files(tmp_path)
    import_csv(services, customers=customers, orders=orders)
    assert email.sent == [] and sms.sent == []
    with services.session_factory() as session:
        o2 = session.scalar(select(Order.id).where(Order.external_id == "o2"))
        steps = {s.step: s for s in session.scalars(select(ScheduledStep).where(ScheduledStep.order_id == o2))}
        # delivered 28 Feb 05:00; the import runs 2 March 15:00: the notices are history, the guide is not
        backfilled = {n for n, s in steps.items() if s.last_reason == Reason.BACKFILLED.value}
        assert {"confirmation", "shipped", "delivered_notice", "setup_guide", "points_statement"} <= backfilled
        assert not backfilled & {"csat", "review_request"}  # still ahead
        # A restock reminder's time is its product's run-out date, which its decision defers to: left to decide.
        assert steps["restock_reminder"].status == "pending"
        assert steps["csat"].status == "pending"
        assert as_utc(steps["csat"].due_at) == datetime(2026, 3, 3, 5, tzinfo=UTC)
    run_until(services, clock, clock.now() + timedelta(days=20), tick=timedelta(hours=1))
    assert [m.step for m in email.sent + sms.sent if m.to in ("min@example.com",)] == [
        "csat", "review_request", "review_reminder"]  # no review left: one reminder, 7 days later
    assert not [m for m in email.sent + sms.sent if m.step in ("confirmation", "shipped", "delivered_notice")]


def test_importing_the_same_files_again_changes_nothing(services, tmp_path):
    customers, orders = files(tmp_path)
    import_csv(services, customers=customers, orders=orders)

    def counts() -> dict[str, int]:
        with services.session_factory() as session:
            return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in (
                Customer, Order, Shipment, ReturnItem, ConsentEvent, ScheduledStep, DecisionLog, Message)}

    before = counts()
    summary = import_csv(services, customers=customers, orders=orders)
    assert counts() == before
    assert summary.counts["orders_unchanged"] == 3 and "orders_new" not in summary.counts


def test_the_cli_prints_what_was_backfilled_scheduled_and_skipped(services, tmp_path):
    customers, orders = files(tmp_path)
    with use_services(services):
        result = CliRunner().invoke(app, ["import", "csv", "--customers", str(customers), "--orders", str(orders)],
                                    env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("backfilled", "scheduled", "confirmation", "orders.csv:9", "quantity is not a whole number"):
        assert text in result.output
    assert "ana@example.com" not in result.output


def test_the_example_files_import_cleanly(services, email, sms):
    folder = Path(__file__).resolve().parents[2] / "examples" / "import"
    summary = import_csv(services, customers=folder / "customers.csv", orders=folder / "orders.csv")
    assert summary.rejected == []
    assert summary.counts == {"customers_new": 3, "orders_new": 3}
    # Only steps that decide their own time (a restock reminder, by the product's run-out date) are left open.
    own_time = {s.name for s in services.journey.steps if s.decides_own_time}
    assert {row.step for row in summary.steps if row.scheduled} <= own_time
    assert summary.backfilled > 0 and email.sent == sms.sent == []
    with services.session_factory() as session:
        refunded = session.scalars(select(ReturnItem.product_id)).all()
        assert refunded == ["sku-beans"]
