"""Seeded synthetic customers and their first orders: mixed locales and time zones, consents, loyalty."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from aftercare.demo.catalog import COMPANIONS, PRODUCTS
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.services.commands import ConsentIn, CustomerIn, ItemIn, OrderIn

# locale -> (share, [(time zone, region, phone prefix)])
LOCALES = {
    "en": (0.6, [("America/New_York", "US", "+1212555"), ("America/Chicago", "US", "+1312555"),
                 ("America/Los_Angeles", "US", "+1415555"), ("Europe/London", "GB", "+4479111")]),
    "ko": (0.2, [("Asia/Seoul", "KR", "+821055")]),
    "ar": (0.2, [("Asia/Riyadh", "SA", "+9665055"), ("Asia/Dubai", "AE", "+9715055")]),
}
NAMES = {
    "en": ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie"],
    "ko": ["지민", "서연", "민준", "하은", "도윤", "수아"],
    "ar": ["ليلى", "عمر", "نور", "يوسف", "سارة", "خالد"],
}
CURRENCY = {"en": "USD", "ko": "KRW", "ar": "SAR"}


@dataclass(frozen=True)
class SyntheticCustomer:
    data: CustomerIn
    locale: str


def make_customers(rng: random.Random, count: int, start: datetime) -> list[SyntheticCustomer]:
    out = []
    for n in range(count):
        locale = rng.choices(list(LOCALES), weights=[v[0] for v in LOCALES.values()])[0]
        zone, region, prefix = rng.choice(LOCALES[locale][1])
        has_phone = rng.random() < 0.7
        # Mobile numbers of the right length for each country (E.164: 11-12 digits here).
        digits = {"US": 11, "GB": 12, "KR": 12, "SA": 12, "AE": 12}[region] - (len(prefix) - 1)
        phone = f"{prefix}{rng.randint(10 ** (digits - 1), 10 ** digits - 1)}" if has_phone else None
        if has_phone and rng.random() < 0.01:
            phone = "+1555"  # a malformed number, as real stores have
        email = f"customer{n}@example.com" if rng.random() > 0.01 else f"customer{n}@@broken"
        consents = [ConsentIn(Channel.EMAIL, Purpose.TRANSACTIONAL, True, "checkout")]
        if rng.random() < 0.7:
            consents.append(ConsentIn(Channel.EMAIL, Purpose.MARKETING, True, "checkout"))
        if has_phone and rng.random() < 0.65:
            consents.append(ConsentIn(Channel.SMS, Purpose.TRANSACTIONAL, True, "checkout"))
            if rng.random() < 0.6:
                consents.append(ConsentIn(Channel.SMS, Purpose.MARKETING, True, "checkout"))
        tier = rng.choices(["member", "vip", "gold"], weights=[80, 15, 5])[0]
        expiring = rng.choice([0, 0, 0, 100, 250])
        out.append(SyntheticCustomer(
            CustomerIn(
                external_id=f"cust-{n}", email=email, phone=phone, first_name=rng.choice(NAMES[locale]),
                locale=locale, timezone=zone, region=region, loyalty_tier=tier,
                points_balance=(balance := rng.randint(0, 900)), points_expiring=min(expiring, balance),
                points_expire_at=start + timedelta(days=rng.randint(40, 150)) if expiring else None,
                consents=tuple(consents),
            ),
            locale,
        ))
    return out


def make_order(rng: random.Random, customer: SyntheticCustomer, number: int, placed_at: datetime) -> OrderIn:
    first = rng.choice(PRODUCTS)
    basket = [first]
    for companion in COMPANIONS.get(first[0], ()):
        if rng.random() < 0.35:
            basket.append(next(p for p in PRODUCTS if p[0] == companion))
    items = tuple(ItemIn(p[0], p[1], rng.choice([1, 1, 1, 2]), p[3], p[2]) for p in basket)
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    discount = (subtotal * Decimal("0.10")).quantize(Decimal("0.01")) if rng.random() < 0.25 else Decimal("0")
    shipping = Decimal("0") if subtotal > 50 else Decimal("6.00")
    tax = ((subtotal - discount) * Decimal("0.08")).quantize(Decimal("0.01"))
    scale = {"KRW": Decimal("1300"), "SAR": Decimal("3.75")}.get(CURRENCY[customer.locale], Decimal("1"))
    money = lambda v: (v * scale).quantize(Decimal("1") if scale >= 100 else Decimal("0.01"))  # noqa: E731
    items = tuple(ItemIn(i.product_id, i.title, i.quantity, money(i.unit_price), i.category) for i in items)
    return OrderIn(
        external_id=f"order-{number}", number=f"#{1000 + number}", customer=customer.data, placed_at=placed_at,
        items=items, subtotal=money(subtotal), discount_total=money(discount),
        discount_codes=("WELCOME10",) if discount else (), shipping_total=money(shipping), tax_total=money(tax),
        total=money(subtotal - discount + shipping + tax), currency=CURRENCY[customer.locale],
        shipping_address={"name": customer.data.first_name, "address1": f"{number} Demo Street", "city": "Springfield",
                          "zip": "00000", "country_code": customer.data.region},
        payment_summary=rng.choice(["Visa ending 4242", "Mastercard ending 4444", "PayPal", "Apple Pay"]),
    )
