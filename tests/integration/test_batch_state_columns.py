"""The sweep loads only the columns it reads (aftercare/services/batch_state.py, CUSTOMER_COLUMNS and the
others), as named tuples: the decisions' state and every step's message context are those built from whole
rows, as SQLAlchemy returns them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from aftercare.db.models import Customer, Order, Shipment
from aftercare.domain.decisions import Send
from aftercare.services.batch_state import BatchState, load_batch_state
from aftercare.services.message_context import build_context
from tests.journeys import a_customer, answer_csat, fulfil, place_order, track


def _whole_rows(session, narrow: BatchState) -> BatchState:
    """The same batch with the customers, orders and shipments as whole SQLAlchemy rows (every column)."""
    full = replace(narrow)  # a shallow copy; its order cache starts empty
    full.customers = {r.id: r for r in session.execute(select(*Customer.__table__.c)
                                                       .where(Customer.id.in_(narrow.customers)))}
    full.orders = {r.id: r for r in session.execute(select(*Order.__table__.c).where(Order.id.in_(narrow.orders)))}
    full.shipments = {r.order_id: r for r in session.execute(
        select(*Shipment.__table__.c).where(Shipment.order_id.in_(narrow.orders)).order_by(Shipment.id))}
    return full


def test_the_state_and_every_steps_context_are_those_of_whole_rows(services, clock):
    orders = [
        place_order(services, n=1),
        place_order(services, n=2, customer=a_customer(2, locale="ko-KR", region="KR", first_name="민준"),
                    shipping_address={"name": "Kim", "address1": "1 Sejong-daero", "city": "Seoul",
                                      "country_code": "KR", "province_code": "11"}, discount_codes=("WELCOME",)),
        place_order(services, n=3, customer=a_customer(3, phone=None)),
    ]
    fulfil(services, n=1)
    fulfil(services, n=2)
    clock.advance(timedelta(days=2))
    track(services, "delivered", n=1)
    answer_csat(services, orders[0], 2)  # a low score: a recovery case
    now = clock.now()
    with services.session_factory() as session:
        customers = [session.scalar(select(Order.customer_id).where(Order.id == o)) for o in orders]
        narrow = load_batch_state(session, customer_ids=customers, order_ids=orders, cap_since=now - timedelta(days=1))
        full = _whole_rows(session, narrow)
    assert type(narrow.customers[customers[0]]) is not type(full.customers[customers[0]])  # really two kinds
    rendered = 0
    for customer_id, order_id in zip(customers, orders, strict=True):
        assert narrow.customer_state(customer_id, order_id) == full.customer_state(customer_id, order_id)
        for spec in services.journey.steps:
            decision = Send((spec.channels[0],), product_ids=(), referral_invite=True,
                            data=dict(spec.sample or {}))
            contexts = []
            for batch in (narrow, full):
                try:
                    contexts.append(build_context(
                        spec=spec, customer_id=customer_id, order_id=order_id, decision=decision, batch=batch,
                        links=services.sweeper.links, settings=services.sweeper.context_settings, now=now,
                        payload=dict(spec.sample or {})))
                except Exception as exc:  # noqa: BLE001 - a step's data that needs more than this: same either way
                    contexts.append(repr(exc))
            assert contexts[0] == contexts[1], spec.name
            rendered += not isinstance(contexts[0], str)
    assert rendered >= 2 * len(services.journey.steps)  # most steps build a context from these rows
