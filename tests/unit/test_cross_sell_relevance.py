"""Cross-sell a customer finds relevant (issue 14): never an out-of-stock product nor one in the category of
an item just returned; one promotional block per message; none in transactional mail unless switched on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from aftercare.bootstrap import build_services
from aftercare.db.models import Product
from aftercare.journeys import Journey, default_steps, email, on, step, transactional
from aftercare.rendering.context import ProductView
from aftercare.services.commands import ItemIn, RefundIn
from aftercare.services.cross_sell import CoPurchases, CrossSeller, recommend
from tests.conftest import make_settings, run_until
from tests.journeys import a_customer, fulfil, place_order, track
from tests.unit.test_cross_sell import _customer_of, _recommend

CATALOG = {"espresso": ("Espresso", "machines"), "grinder": ("Grinder", "grinders"),
           "hand-grinder": ("Hand Grinder", "grinders"), "tamper": ("Tamper", "tools"), "mug": ("Mug", "cups")}
CO = CoPurchases(
    counts={"espresso": {"grinder": 5, "hand-grinder": 4, "tamper": 3, "mug": 1}},
    products={p: ProductView(p, t, f"https://shop.example/p/{p}") for p, (t, _) in CATALOG.items()},
    computed_at=datetime(2026, 3, 1, tzinfo=UTC),
    categories={p: c for p, (_, c) in CATALOG.items()},
)


@pytest.mark.parametrize(("excluded", "categories", "expected"), [
    (set(), frozenset(), ["grinder", "hand-grinder", "tamper"]),
    ({"grinder"}, frozenset(), ["hand-grinder", "tamper", "mug"]),  # owned, returned, 1-2 stars or out of stock
    (set(), frozenset({"grinders"}), ["tamper", "mug"]),  # a grinder was just returned: no grinder at all
    ({"tamper", "mug"}, frozenset({"grinders"}), []),
])
def test_recommend_leaves_out_excluded_products_and_categories(excluded, categories, expected):
    assert [p.product_id for p in recommend(("espresso",), excluded, CO, 3, categories)] == expected


def _items(*ids: str) -> tuple[ItemIn, ...]:
    return tuple(ItemIn(p, CATALOG[p][0], 1, Decimal("10.00"), CATALOG[p][1]) for p in ids)


def _seed(services) -> None:
    with services.session_factory() as session, session.begin():
        for pid, (title, category) in CATALOG.items():
            session.add(Product(id=pid, title=title, category=category, url=f"https://shop.example/p/{pid}"))
    for n, basket in enumerate([("espresso", "grinder"), ("espresso", "grinder"), ("espresso", "tamper"),
                                ("espresso", "mug")], start=10):
        place_order(services, n=n, items=_items(*basket))


def test_an_out_of_stock_product_is_never_recommended(services):
    _seed(services)
    order_id = place_order(services, n=1, items=_items("espresso"))
    with services.session_factory() as session, session.begin():
        session.execute(update(Product).where(Product.id == "grinder").values(in_stock=False))
    seller = CrossSeller(clock=services.clock.now)
    assert _recommend(services, seller, order_id, _customer_of(services, order_id)) == ["mug", "tamper"]


def test_nothing_in_the_category_of_an_item_returned_lately(services):
    _seed(services)
    customer = a_customer(1)
    place_order(services, n=2, customer=customer, items=_items("hand-grinder"))
    order_id = place_order(services, n=1, customer=customer, items=_items("espresso"))
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.record_refund(session, RefundIn("r2", "o2", now, ("hand-grinder",)), now)
    seller = CrossSeller(clock=services.clock.now, returned_category_window=timedelta(days=30))
    customer_id = _customer_of(services, order_id)
    assert _recommend(services, seller, order_id, customer_id) == ["mug", "tamper"]
    services.clock.advance(timedelta(days=31))  # long enough ago: grinders again
    assert _recommend(services, seller, order_id, customer_id)[0] == "grinder"


RECEIPT = step("receipt_with_picks", transactional, channels=(email,), on=on("delivered"), cross_sell=True,
               templates=Path(__file__).parent / "cross_sell_templates",
               purpose_text="a transactional step that asks for cross-sell")


@pytest.mark.parametrize(("allowed", "shown"), [(False, False), (True, True)])
def test_no_cross_sell_in_transactional_mail_unless_switched_on(tmp_path, clock, email, sms, allowed, shown):
    journey = Journey("t", [*default_steps(), RECEIPT])
    services = build_services(make_settings(tmp_path, cross_sell_in_transactional=allowed), clock=clock,
                              email=email, sms=sms, journey=journey)
    _seed(services)
    place_order(services, n=1, items=_items("espresso"))
    fulfil(services, 1)
    track(services, "delivered", 1)
    run_until(services, clock, clock.now() + timedelta(days=2))
    [receipt] = [m for m in email.sent if m.step == "receipt_with_picks"]
    [guide] = [m for m in email.sent if m.step == "setup_guide" and m.to == "c1@example.com"]
    assert ("Grinder" in receipt.text) is shown
    assert "Grinder" in guide.text  # marketing mail keeps its block
    services.engine.dispose()


def test_a_referral_invitation_takes_the_cross_sells_place(services, email):
    _seed(services)
    order_id = place_order(services, n=1, items=_items("espresso"))
    customer_id = _customer_of(services, order_id)
    with services.session_factory() as session, session.begin():
        services.ingest.record_review(session, customer_id=customer_id, product_id="mug", rating=5,
                                      at=services.clock.now())
    fulfil(services, 1)
    track(services, "delivered", 1)
    run_until(services, services.clock, services.clock.now() + timedelta(days=2))
    [guide] = [m for m in email.sent if m.step == "setup_guide" and m.to == "c1@example.com"]
    assert "/refer?t=" in guide.text and "Grinder" not in guide.text
