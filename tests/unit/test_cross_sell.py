"""Cross-sell from the store's own orders, on a seeded database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from aftercare.db.models import Order, Product
from aftercare.services.batch_state import load_batch_state
from aftercare.services.commands import ItemIn, RefundIn
from aftercare.services.cross_sell import CrossSeller, load_co_purchases
from tests.journeys import a_customer, place_order

CATALOGUE = {
    "espresso": "Espresso",
    "grinder": "Grinder",
    "tamper": "Tamper",
    "beans": "Beans",
    "mug": "Mug",
    "scale": "Scale",
}


def _items(*ids: str) -> tuple[ItemIn, ...]:
    return tuple(ItemIn(p, CATALOGUE[p], 1, Decimal("10.00"), "x") for p in ids)


def _seed(services) -> None:
    with services.session_factory() as session, session.begin():
        for pid, title in CATALOGUE.items():
            session.add(Product(id=pid, title=title, url=f"https://shop.example/p/{pid}"))
    # Others: espresso is bought with grinder (3x), tamper (2x), beans (1x), scale (2x, but returned).
    baskets = [
        ("espresso", "grinder", "tamper"),
        ("espresso", "grinder", "tamper"),
        ("espresso", "grinder"),
        ("espresso", "beans"),
        ("espresso", "scale"),
        ("espresso", "scale"),
        ("mug", "beans"),
    ]
    for n, basket in enumerate(baskets, start=10):
        place_order(services, n=n, items=_items(*basket))
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        for n in (14, 15):
            services.ingest.record_refund(session, RefundIn(f"r{n}", f"o{n}", now, ("scale",)), now)


def _recommend(services, seller: CrossSeller, order_id: int, customer_id: int):
    now = services.clock.now()
    with services.session_factory() as session:
        batch = load_batch_state(
            session, customer_ids=[customer_id], order_ids=[order_id], cap_since=now - timedelta(days=1)
        )
        return [p.product_id for p in seller(session, batch, customer_id, order_id)]


def _customer_of(services, order_id: int) -> int:
    with services.session_factory() as session:
        return session.scalar(select(Order.customer_id).where(Order.id == order_id))


def test_products_most_often_bought_with_the_order_come_first_and_returned_pairs_do_not_count(services):
    _seed(services)
    order_id = place_order(services, n=1, items=_items("espresso"))
    seller = CrossSeller(clock=services.clock.now)
    assert _recommend(services, seller, order_id, _customer_of(services, order_id)) == [
        "grinder",
        "tamper",
        "beans",
    ]


def test_products_the_customer_already_owns_returned_or_rated_low_are_left_out(services):
    _seed(services)
    place_order(services, n=20, items=_items("espresso", "mug"))
    customer = a_customer(1)
    place_order(services, n=2, customer=customer, items=_items("grinder"))  # already owns a grinder
    order_id = place_order(services, n=1, customer=customer, items=_items("espresso", "beans"))
    customer_id = _customer_of(services, order_id)
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.record_review(session, customer_id=customer_id, product_id="tamper", rating=2, at=now)
        services.ingest.record_refund(session, RefundIn("r1", "o1", now, ("beans",)), now)
    seller = CrossSeller(clock=services.clock.now)
    # grinder owned, tamper rated 2 stars, beans and scale returned (beans by them, scale by everyone who
    # bought it), and a returned item is no anchor: what is left is the mug, once bought with an espresso.
    assert _recommend(services, seller, order_id, customer_id) == ["mug"]


def test_the_co_purchase_counts_are_computed_once_per_day_not_per_call(services):
    _seed(services)
    order_id = place_order(services, n=1, items=_items("espresso"))
    seller = CrossSeller(clock=services.clock.now)
    customer_id = _customer_of(services, order_id)
    _recommend(services, seller, order_id, customer_id)
    first = seller._co
    place_order(services, n=30, items=_items("espresso", "mug"))
    place_order(services, n=31, items=_items("espresso", "mug"))
    place_order(services, n=32, items=_items("espresso", "mug"))
    place_order(services, n=33, items=_items("espresso", "mug"))
    assert _recommend(services, seller, order_id, customer_id)[0] == "grinder"
    assert seller._co is first
    services.clock.advance(timedelta(days=1))
    assert _recommend(services, seller, order_id, customer_id)[0] == "mug"


def test_cancelled_orders_do_not_count_as_bought_together(services):
    _seed(services)
    place_order(services, n=40, items=_items("mug", "scale"))
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        services.ingest.cancel_order(session, "o40", now, now)
    with services.session_factory() as session:
        co = load_co_purchases(session, now)
    assert "scale" not in co.counts.get("mug", {})


def test_the_setup_guide_carries_cross_sell_and_the_confirmation_does_not(services, email):
    from tests.conftest import run_until
    from tests.journeys import fulfil, track

    _seed(services)
    order_id = place_order(services, n=1, items=_items("espresso"))
    fulfil(services, 1)
    track(services, "delivered", 1)
    run_until(services, services.clock, services.clock.now() + timedelta(days=2))
    mine = [m for m in email.sent if m.to == "c1@example.com"]
    guide = next(m for m in mine if m.step == "setup_guide")
    confirmation = next(m for m in mine if m.step == "confirmation")
    assert "Grinder" in guide.text and "Grinder" not in confirmation.text
    assert order_id
