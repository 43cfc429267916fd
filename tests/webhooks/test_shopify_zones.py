"""Through the Shopify webhook: the customer's zone comes from the shipping address, then the phone."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Customer, Order
from tests.webhooks.conftest import post_shopify, sample_json


def _order_with(address: dict[str, Any], phone: str | None) -> dict[str, Any]:
    body = sample_json("orders_create.json")
    body["shipping_address"] = {**body["shipping_address"], **address, "phone": phone}
    body["billing_address"] = body["shipping_address"]
    body["phone"] = phone
    if isinstance(body.get("customer"), dict):
        body["customer"]["phone"] = phone
        body["customer"].pop("default_address", None)
    return body


def _zone_of_the_order(services: Services) -> str:
    with services.session_factory() as session:
        order = session.scalar(select(Order).where(Order.external_id == "450789469"))
        assert order is not None
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        return customer.timezone


@pytest.mark.parametrize(
    ("address", "phone", "zone"),
    [
        ({"country_code": "BR", "province_code": "AC", "zip": "69900-000"}, None, "America/Rio_Branco"),
        ({"country_code": "BR", "province_code": "SP", "zip": "01310-100"}, None, "America/Sao_Paulo"),
        ({"country_code": "US", "province_code": "FL", "zip": "32501"}, None, "America/Chicago"),
        ({"country_code": "BR", "province_code": None, "zip": None}, "+55 92 99999-0000", "America/Manaus"),
        ({"country_code": "BR", "province_code": None, "zip": None}, None, "America/Rio_Branco"),
    ],
)
def test_an_orders_address_then_phone_sets_the_customers_zone(
    client: TestClient, services: Services, address: dict[str, Any], phone: str | None, zone: str
) -> None:
    response = post_shopify(client, "orders/create", _order_with(address, phone), "wh-zone")
    assert response.status_code == 200, response.text
    assert _zone_of_the_order(services) == zone
