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
