"""The public step API: what a declaration means, as plain tables (no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftercare.domain.decisions import DueStep, Send, Skip, Wait, decide
from aftercare.domain.state import ItemState
from aftercare.domain.vocabulary import Channel, Reason, Scope
from aftercare.journeys import (
    Event,
    Journey,
    default_steps,
    email,
    fact,
    marketing,
    on,
    per_customer,
    per_item,
    sms,
    step,
)
from tests.builders import NOON_NY, POLICY, a_state, an_order

ITEMS = (ItemState("sku-a", "A", "serum"), ItemState("sku-b", "B", "device"))


def test_one_declaration_holds_everything_about_a_step():
    s = step("restock", marketing, channels=("email", "sms"), scope=per_item, on="delivered",
             due=lambda ev: ev.at + timedelta(days=30), expires=timedelta(days=14), sms_segments=2)
    assert (s.channels, s.scope, s.expires, s.sms_segments) == ((Channel.EMAIL, Channel.SMS), Scope.ITEM,
                                                                 timedelta(days=14), 2)
    [trigger] = s.triggers
    assert trigger.due_at(Event("delivered", NOON_NY)) == NOON_NY + timedelta(days=30)


def test_occurrence_keys_are_per_item_and_per_repeat_key():
    per_product = step("restock", marketing, scope=per_item, on="delivered")
    tier = step("tier_up", marketing, scope=per_customer, on="loyalty.tier_changed", repeat_key=lambda ev: ev.new_tier)
    once = step("thanks", marketing, on="delivered")
    assert per_product.occurrence_of(Event("delivered", NOON_NY, item=ITEMS[0])) == "sku-a"
    assert tier.occurrence_of(Event("loyalty.tier_changed", NOON_NY, {"new_tier": "Gold"})) == "Gold"
    assert once.occurrence_of(Event("delivered", NOON_NY)) == ""
    assert tier.repeat and not once.repeat


def test_a_trigger_filter_and_a_due_function_can_decline_an_event():
    up = on("loyalty.tier_changed", when=lambda ev: ev.new_rank > ev.old_rank)
    cycle = on("delivered", due=lambda ev: None)
    assert up.due_at(Event("loyalty.tier_changed", NOON_NY, {"new_rank": 1, "old_rank": 2})) is None
    assert up.due_at(Event("loyalty.tier_changed", NOON_NY, {"new_rank": 2, "old_rank": 1})) == NOON_NY
    assert cycle.due_at(Event("delivered", NOON_NY)) is None


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"on": ()}, "trigger"), ({"on": "x.y", "channels": ()}, "channel"), ({"on": "x.y", "name": "bad name"}, "name"),
])
def test_a_step_that_cannot_work_is_refused_when_declared(kwargs, error):
    values = {"name": "ok", **kwargs}
    name = values.pop("name")
    with pytest.raises(ValueError, match=error):
        step(name, marketing, **values)


def test_open_reasons_are_recorded_like_built_in_ones_and_must_fit_the_log():
    assert Skip("skincare.reordered").reason == "skincare.reordered"
    assert Wait(Reason.AWAITING_RECOVERY).reason == "awaiting_service_recovery"
    with pytest.raises(ValueError):
        Skip("x" * 49)


def test_a_step_condition_sees_its_item_and_its_facts():
    reordered = fact("reordered", lambda query: {}, default=frozenset())
    s = step("restock", marketing, channels=(email,), scope=per_item, on="delivered", needs=(reordered,),
             unless=lambda v, now: "shop.reordered" if v.item.product_id in v.facts.reordered else None)
    state = a_state(order=an_order(items=ITEMS), facts={"reordered": {"sku-a"}})
    assert decide(DueStep(s, NOON_NY, NOON_NY, "sku-a", "sku-a"), state, NOON_NY, POLICY) == Skip("shop.reordered")
    decision = decide(DueStep(s, NOON_NY, NOON_NY, "sku-b", "sku-b"), state, NOON_NY, POLICY)
    assert isinstance(decision, Send) and decision.product_ids == ("sku-b",)  # about its own item only


def test_the_engine_rules_apply_to_a_store_step_without_it_asking():
    s = step("tier_up", marketing, channels=(sms, email), scope=per_customer, on="loyalty.tier_changed",
             expires=timedelta(hours=1))
    night_in_seoul = a_state(timezone="Asia/Seoul", consents=frozenset({(Channel.SMS, s.purpose)}))
    assert decide(DueStep(s, NOON_NY, NOON_NY), night_in_seoul, NOON_NY, POLICY) == Skip(Reason.EXPIRED, Channel.SMS)
    assert decide(DueStep(s, NOON_NY, NOON_NY), a_state(consents=frozenset()), NOON_NY, POLICY).reason in (
        Reason.NO_MARKETING_CONSENT,)
    cancelled = a_state(order=an_order(cancelled=True))
    order_step = step("thanks", marketing, on="delivered")
    assert decide(DueStep(order_step, NOON_NY, NOON_NY), cancelled, NOON_NY, POLICY) == Skip(Reason.ORDER_CANCELLED)
    assert not isinstance(decide(DueStep(s, NOON_NY, NOON_NY), cancelled, NOON_NY, POLICY), Skip)  # per customer


def test_a_journey_refuses_two_steps_of_one_name_and_default_steps_an_unknown_exception():
    with pytest.raises(ValueError):
        Journey("twice", [*default_steps(), *default_steps()[:1]])
    with pytest.raises(KeyError):
        default_steps(except_=("no_such_step",))
    assert "points_expiry_7" not in Journey("less", default_steps(except_=("points_expiry_7",))).names


def test_a_step_sees_only_the_facts_it_declared_whatever_else_its_batch_loaded():
    """A batch loads the facts its steps declared; a step that read another step's fact would work in a batch
    that has that step and fail in one that has not. So it never sees one it did not declare."""
    s = step("nosy", marketing, channels=(email,), on="delivered",
             unless=lambda v, now: "shop.reordered" if v.facts.reordered else None)
    state = a_state(facts={"reordered": {"sku-a"}})  # loaded for another step of the same batch
    with pytest.raises(AttributeError, match="declare it in the step's needs="):
        decide(DueStep(s, NOON_NY, NOON_NY), state, NOON_NY, POLICY)
