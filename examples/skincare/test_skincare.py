"""The skincare journey through time, with the kit (aftercare.testing): what goes out, when, and why not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from skincare_journey import TEMPLATES, journey

from aftercare.journeys import Channel
from aftercare.rendering.context import sample_context
from aftercare.rendering.renderer import Renderer
from aftercare.rendering.segments import count_segments
from aftercare.services.commands import ItemIn
from aftercare.testing import JourneyKit

SERUM = ItemIn("sku-serum", "Vitamin C Serum", 1, Decimal("38.00"), "serum")
CLEANSER = ItemIn("sku-cleanser", "Gentle Cleanser", 1, Decimal("18.00"), "cleanser")
DEVICE = ItemIn("sku-led", "LED Face Mask", 1, Decimal("249.00"), "device")


def delivered_order(kit: JourneyKit, n: int = 1, *items: ItemIn, **customer: object) -> int:
    order_id = kit.place_order(n, customer=kit.customer(n, **customer) if customer else None, items=items)
    kit.fulfil(n)
    kit.advance(days=2)
    kit.deliver(n)
    return order_id


def test_the_journey_is_the_default_minus_one_step_plus_three():
    names = journey.names
    assert "points_expiry_7" not in names
    assert {"replenishment", "tier_up", "setup_guide", "points_expiry_30", "review_request"} <= set(names)


def test_each_product_is_restocked_one_use_cycle_after_delivery(journey_kit: JourneyKit):
    kit = journey_kit
    delivered_order(kit, 1, SERUM, CLEANSER, DEVICE)
    delivered = kit.now
    kit.advance(days=29, tick=timedelta(hours=6))
    assert kit.sent("replenishment") == []
    kit.advance(days=2, tick=timedelta(hours=6))
    [serum] = kit.assert_sent("replenishment", channel="email", locale="en")
    assert "Vitamin C Serum" in serum.subject and "Gentle Cleanser" not in serum.body
    assert serum.key.endswith(":replenishment:sku-serum:email")  # one occurrence per product
    assert timedelta(days=30) <= serum.at - delivered < timedelta(days=30, hours=7)
    kit.advance(days=15, tick=timedelta(hours=6))
    sent = kit.sent("replenishment")
    assert [s.key.split(":")[2] for s in sent] == ["sku-serum", "sku-cleanser"]  # and never the device


def test_a_product_reordered_before_its_cycle_ends_is_not_reminded(journey_kit: JourneyKit):
    kit = journey_kit
    first = delivered_order(kit, 1, SERUM)
    kit.advance(days=20, tick=timedelta(hours=6))
    kit.place_order(2, customer=kit.customer(1), items=(SERUM,))  # the same customer restocks on their own
    kit.advance(days=12, tick=timedelta(hours=6))
    assert kit.sent("replenishment") == []
    assert kit.why_not("replenishment", order_id=first) == ["skincare.reordered"]


def test_a_tier_up_notice_goes_out_once_per_new_tier_and_only_upwards(journey_kit: JourneyKit):
    kit = journey_kit
    delivered_order(kit, 1, SERUM, locale="ko", timezone="Asia/Seoul", region="KR", phone="+821055551234")
    kit.advance(days=5)
    up = {"old_tier": "Member", "old_rank": 1, "new_tier": "Gold", "new_rank": 2}
    assert kit.send_event("loyalty.tier_changed", data=up, idempotency_key="tier-1") == "store_event:1_scheduled"
    assert kit.send_event("loyalty.tier_changed", data=up, idempotency_key="tier-1") == "duplicate"
    kit.advance(hours=2)
    [gold] = kit.assert_sent("tier_up", channel="email", locale="ko")
    assert "Gold" in gold.subject and gold.key.startswith("c1:tier_up:Gold:")  # keyed by customer and tier

    kit.advance(days=2)
    kit.send_event("loyalty.tier_changed", data=up, idempotency_key="tier-1-again")  # same tier, new key
    down = {"old_tier": "Gold", "old_rank": 2, "new_tier": "Member", "new_rank": 1}
    assert kit.send_event("loyalty.tier_changed", data=down, idempotency_key="tier-2") == "store_event:0_scheduled"
    kit.advance(days=2)
    assert len(kit.sent("tier_up")) == 1

    higher = {"old_tier": "Gold", "old_rank": 2, "new_tier": "Platinum", "new_rank": 3}
    kit.send_event("loyalty.tier_changed", data=higher, idempotency_key="tier-3")
    kit.advance(days=2)
    assert [s.subject.count("Platinum") for s in kit.sent("tier_up")] == [0, 1]


def test_the_setup_guide_is_for_devices_three_days_after_delivery(journey_kit: JourneyKit):
    kit = journey_kit
    kit.add_product("sku-led", "LED Face Mask", category="device", setup_instructions="Charge it fully first.")
    kit.add_product("sku-serum", "Vitamin C Serum", category="serum", setup_instructions="Two drops, morning.")
    delivered_order(kit, 1, SERUM, DEVICE)
    delivered = kit.now
    delivered_order(kit, 2, SERUM)
    kit.advance(to=delivered + timedelta(days=2, hours=20))
    assert kit.sent("setup_guide") == []
    kit.advance(to=delivered + timedelta(days=3, hours=1))
    [guide] = kit.assert_sent("setup_guide", channel="email")
    assert "Charge it fully first." in guide.body and "Two drops" not in guide.body  # the device only
    kit.advance(days=2)
    assert kit.why_not("setup_guide", order_id=kit.order_id(2)) == ["skincare.no_device"]


@pytest.mark.parametrize("locale", ["en", "ko", "ar"])
@pytest.mark.parametrize("name", ["replenishment", "tier_up"])
def test_the_store_templates_render_in_every_locale_within_the_sms_budget(name, locale):
    renderer = Renderer(store_dirs=(TEMPLATES,))
    ctx = replace(sample_context(name, locale), payload={"new_tier": "Gold", "new_rank": 2})
    email = renderer.render_email(name, locale, ctx)
    assert email.template == f"{locale}/{name}.email" and email.subject
    sms = renderer.render_sms(name, locale, ctx)
    budget = journey.step(name).sms_segments
    assert budget is not None and sms.segments <= budget, count_segments(sms.body)
    assert "STOP" in sms.body.splitlines()[-1]
    assert Channel.SMS in journey.step(name).channels
