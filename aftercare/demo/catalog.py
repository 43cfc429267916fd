"""The synthetic store's products: a few with setup guides and videos, as a real catalogue would have."""

from __future__ import annotations

from decimal import Decimal

# (id, title, category, price, setup instructions, video)
PRODUCTS: tuple[tuple[str, str, str, Decimal, str | None, str | None], ...] = (
    ("sku-espresso", "Espresso Machine Pro", "appliances", Decimal("349.00"),
     "Rinse the water tank, run two empty cycles, then pull your first shot at 9 bar.",
     "https://videos.example.com/espresso-setup"),
    ("sku-grinder", "Burr Grinder", "appliances", Decimal("129.00"),
     "Start at grind size 12 for espresso; adjust one step at a time.", "https://videos.example.com/grinder"),
    ("sku-kettle", "Gooseneck Kettle", "appliances", Decimal("79.00"),
     "Boil and discard the first two fills before use.", None),
    ("sku-scale", "Brew Scale", "electronics", Decimal("49.00"),
     "Insert the batteries, hold TARE for 3 s to calibrate.", "https://videos.example.com/scale"),
    ("sku-beans-house", "House Blend Beans 1kg", "coffee", Decimal("24.50"), None, None),
    ("sku-beans-single", "Single Origin Ethiopia 500g", "coffee", Decimal("19.00"), None, None),
    ("sku-decaf", "Swiss Water Decaf 500g", "coffee", Decimal("17.00"), None, None),
    ("sku-mug", "Ceramic Mug", "accessories", Decimal("14.00"), None, None),
    ("sku-filters", "Paper Filters x100", "accessories", Decimal("6.50"), None, None),
    ("sku-dripper", "Pour-over Dripper", "brewing", Decimal("29.00"),
     "Rinse the filter with hot water before brewing.", "https://videos.example.com/pour-over"),
    ("sku-frother", "Milk Frother", "electronics", Decimal("39.00"),
     "Charge fully (4 h) before first use.", "https://videos.example.com/frother"),
    ("sku-tamper", "Espresso Tamper", "accessories", Decimal("22.00"), None, None),
)

# Products often bought together, for a realistic basket.
COMPANIONS: dict[str, tuple[str, ...]] = {
    "sku-espresso": ("sku-grinder", "sku-tamper", "sku-beans-house"),
    "sku-grinder": ("sku-beans-single", "sku-scale"),
    "sku-dripper": ("sku-filters", "sku-kettle", "sku-beans-single"),
    "sku-kettle": ("sku-dripper", "sku-scale"),
    "sku-frother": ("sku-mug",),
}

# The setup instructions in Korean and Arabic, as product metafields (`setup_instructions_ko`, `_ar`).
TRANSLATED_SETUP: dict[str, tuple[str, str]] = {
    "sku-espresso": ("물탱크를 헹구고 빈 추출을 두 번 한 뒤, 9바에서 첫 샷을 내려 보세요.",
                     "اشطفوا خزان الماء، وشغّلوا دورتين فارغتين، ثم حضّروا أول كوب على ضغط 9 بار."),
    "sku-grinder": ("에스프레소는 분쇄도 12에서 시작해 한 단계씩 조절하세요.",
                    "ابدؤوا بدرجة طحن 12 للإسبريسو، وعدّلوها درجة واحدة في كل مرة."),
    "sku-kettle": ("처음 두 번 끓인 물은 버린 뒤 사용하세요.", "اغلوا الماء مرتين وتخلّصوا منه قبل الاستخدام."),
    "sku-scale": ("배터리를 넣고 TARE 버튼을 3초간 눌러 보정하세요.",
                  "ركّبوا البطاريات واضغطوا TARE لمدة 3 ثوانٍ للمعايرة."),
    "sku-dripper": ("추출 전에 뜨거운 물로 필터를 헹구세요.", "اشطفوا الفلتر بالماء الساخن قبل التحضير."),
    "sku-frother": ("처음 사용 전 4시간 동안 완전히 충전하세요.", "اشحنوا الجهاز بالكامل (4 ساعات) قبل أول استخدام."),
}
# How many days a bag of beans lasts: the use cycle a replenishment step reads.
USE_CYCLE_DAYS: dict[str, int] = {"sku-beans-house": 30, "sku-beans-single": 21, "sku-decaf": 21,
                                  "sku-filters": 60}


def shopify_bodies(updated_at: str) -> list[dict[str, object]]:
    """The catalog as Shopify's product webhooks would deliver it, metafields included: the demo fills its
    catalog through the same mapper as `products/create` and `aftercare catalog import`."""
    bodies: list[dict[str, object]] = []
    for pid, title, category, _price, setup, video in PRODUCTS:
        fields: list[dict[str, str]] = []
        if setup:
            fields.append({"namespace": "aftercare", "key": "setup_instructions", "value": setup})
        if video:
            fields.append({"namespace": "aftercare", "key": "setup_video", "value": video})
        if pid in TRANSLATED_SETUP:
            ko, ar = TRANSLATED_SETUP[pid]
            fields += [{"namespace": "aftercare", "key": "setup_instructions_ko", "value": ko},
                       {"namespace": "aftercare", "key": "setup_instructions_ar", "value": ar}]
        if pid in USE_CYCLE_DAYS:
            fields.append({"namespace": "aftercare", "key": "use_cycle_days", "value": str(USE_CYCLE_DAYS[pid])})
        fields.append({"namespace": "aftercare", "key": "review_url",
                       "value": f"https://shop.example.com/p/{pid}#reviews"})
        bodies.append({"id": pid, "title": title, "product_type": category, "handle": pid, "updated_at": updated_at,
                       "image": {"src": f"https://cdn.shop.example.com/{pid}.jpg"}, "metafields": fields})
    return bodies
