"""Decision tables for the steps after delivery of issue 14: reviews, loyalty moments (pure: state, now)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aftercare.domain.decisions import Defer, DueStep, Send, Skip, decide
from aftercare.domain.state import ItemState
from aftercare.domain.vocabulary import Reason
from aftercare.journeys import default_steps, events
from aftercare.journeys.default.loyalty_moments import LoyaltyActivity, next_statement
from aftercare.journeys.default.replenishment import Supply
from aftercare.journeys.default.returns import bonus
from aftercare.journeys.default.reviews import ReviewAsks
from aftercare.journeys.events import Event
from aftercare.settings import JourneyTimings
from tests.builders import JOURNEY, NOON_NY, POLICY, a_state, an_order, due

ORDER = an_order()  # order 1: sku-a and sku-b, delivered a week ago


def asks(asked: dict[str, int] | None = None, progress: dict[int, set[str]] | None = None) -> ReviewAsks:
    return ReviewAsks({p: (o, NOON_NY - timedelta(days=30)) for p, o in (asked or {}).items()},
                      {o: frozenset(s) for o, s in (progress or {}).items()})


class TestReviewRequestOncePerProductPerYear:
    @pytest.mark.parametrize(("asked", "reviews", "expected"), [
        ({}, {}, ("sku-a", "sku-b")),  # never asked: both
        ({"sku-a": 7}, {}, ("sku-b",)),  # sku-a asked in order 7 this year: only sku-b
        ({"sku-a": 7, "sku-b": 7}, {}, Skip("reviews.asked_within_window")),
        ({"sku-a": 7}, {"sku-b": 5}, Skip("reviews.asked_within_window")),
        ({}, {"sku-a": 4, "sku-b": 5}, Skip(Reason.ALREADY_REVIEWED)),
        ({"sku-a": 1}, {}, ("sku-a", "sku-b")),  # asked in this very order (a repeat decision): still this one
    ])
    def test_which_products_are_asked_about(self, asked, reviews, expected):
        state = a_state(reviews=reviews, facts={"review_asks": asks(asked)})
        decision = decide(due("review_request"), state, NOON_NY, POLICY)
        if isinstance(expected, Skip):
            assert decision == expected
        else:
            assert isinstance(decision, Send) and decision.product_ids == expected

    @pytest.mark.parametrize(("setting", "tier", "prompt"), [
        (False, "vip", False), (True, "member", False), (True, "vip", True), (True, "gold", True)])
    def test_a_photo_or_video_prompt_only_for_vips_and_only_when_switched_on(self, setting, tier, prompt):
        [request] = [s for s in default_steps(JourneyTimings(review_photo_prompt_vip=setting))
                     if s.name == "review_request"]
        decision = decide(DueStep(request, NOON_NY, NOON_NY), a_state(loyalty_tier=tier), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.data == {"photo_prompt": prompt}


class TestReviewReminder:
    @pytest.mark.parametrize(("reviews", "statuses", "expected"), [
        ({}, set(), "send"),  # no events for the request: opens unknown, remind
        ({}, {"sent"}, "send"),
        ({}, {"delivered"}, Skip("reviews.request_not_opened")),  # opens known, not opened
        ({}, {"opened"}, "send"),
        ({}, {"clicked"}, "send"),
        ({"sku-a": 5}, {"opened"}, Skip(Reason.ALREADY_REVIEWED)),  # a review was left: no reminder
        ({"sku-b": 1}, set(), Skip(Reason.ALREADY_REVIEWED)),
    ])
    def test_only_without_a_review_and_where_opens_are_known_only_if_opened(self, reviews, statuses, expected):
        state = a_state(reviews=reviews, facts={"review_asks": asks(progress={1: statuses})})
        decision = decide(due("review_reminder"), state, NOON_NY, POLICY)
        assert (decision == expected) if isinstance(expected, Skip) else isinstance(decision, Send)

    def test_every_item_returned_gets_no_reminder(self):
        state = a_state(order=an_order(returned_product_ids=frozenset({"sku-a", "sku-b"})))
        assert decide(due("review_reminder"), state, NOON_NY, POLICY) == Skip(Reason.ITEMS_RETURNED)

    def test_it_follows_the_request_by_seven_days(self):
        reminder = JOURNEY.step("review_reminder")
        [trigger] = reminder.triggers
        assert trigger.event == events.sent("review_request")
        assert trigger.due_at(Event(trigger.event, NOON_NY)) == NOON_NY + timedelta(days=7)

    def test_switched_off_it_is_not_in_the_journey(self):
        names = {s.name for s in default_steps(JourneyTimings(review_reminder_enabled=False))}
        assert "review_reminder" not in names and "review_request" in names


class TestTierUpNotice:
    STEP = JOURNEY.step("tier_up_notice")

    @pytest.mark.parametrize(("old", "new", "down_setting", "occurrence"), [
        (1, 2, False, "up:Gold"), (2, 3, False, "up:Gold"), (2, 1, False, None), (2, 2, False, None),
        (2, 1, True, "down:Gold"),
    ])
    def test_one_occurrence_per_new_tier_and_none_on_a_drop_by_default(self, old, new, down_setting, occurrence):
        [notice] = [s for s in default_steps(JourneyTimings(tier_down_notice=down_setting))
                    if s.name == "tier_up_notice"]
        event = Event("loyalty.tier_changed", NOON_NY, {"new_tier": "Gold", "new_rank": new, "old_rank": old})
        [trigger] = notice.triggers
        scheduled = trigger.due_at(event)
        assert (scheduled is None) == (occurrence is None)
        if occurrence is not None:
            assert notice.occurrence_of(event) == occurrence

    def test_it_is_sent_whatever_the_order_and_switched_off_it_is_gone(self):
        cancelled = a_state(order=an_order(cancelled=True))
        assert isinstance(decide(due("tier_up_notice"), cancelled, NOON_NY, POLICY), Send)
        assert "tier_up_notice" not in {s.name for s in default_steps(JourneyTimings(tier_up_notice_enabled=False))}


class TestPointsStatement:
    @pytest.mark.parametrize(("last_order_days", "last_loyalty_days", "balance", "expected"), [
        (30, None, 420, "send"),
        (170, None, 420, "send"),  # an order inside the last 6 months
        (200, None, 420, Skip("loyalty.no_recent_order")),
        (None, None, 420, Skip("loyalty.no_recent_order")),
        (30, 8, 420, "send"),  # the last loyalty email was more than 7 days ago
        (30, 3, 420, Defer(NOON_NY + timedelta(days=4), "loyalty.recent_loyalty_email")),
        (30, None, 0, Skip("loyalty.no_points")),
    ])
    def test_only_active_customers_without_a_loyalty_email_in_the_past_week(
            self, last_order_days, last_loyalty_days, balance, expected):
        ago = lambda n: None if n is None else NOON_NY - timedelta(days=n)  # noqa: E731
        state = a_state(points_balance=balance,
                        facts={"loyalty_activity": LoyaltyActivity(ago(last_order_days), ago(last_loyalty_days))})
        decision = decide(due("points_statement"), state, NOON_NY, POLICY)
        assert (decision == expected) if not isinstance(expected, str) else isinstance(decision, Send)

    @pytest.mark.parametrize(("at", "first"), [
        (datetime(2026, 3, 10, 17, tzinfo=UTC), datetime(2026, 4, 1, 15, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, tzinfo=UTC), datetime(2027, 1, 1, 15, tzinfo=UTC)),
        (datetime(2026, 4, 1, 15, tzinfo=UTC), datetime(2026, 5, 1, 15, tzinfo=UTC)),  # sent: the next one
    ])
    def test_monthly_on_the_first_one_occurrence_per_month(self, at, first):
        statement = JOURNEY.step("points_statement")
        assert next_statement(at) == first
        assert statement.occurrence_of(Event(events.ORDER_PLACED, at)) == f"{first:%Y-%m}"


class TestReviewAndReferralMoments:
    @pytest.mark.parametrize(("rating", "invited"), [(5, True), (4, False), (1, False)])
    def test_a_referral_invitation_only_after_a_five_star_review(self, rating, invited):
        [trigger] = JOURNEY.step("referral_invite").triggers
        assert (trigger.due_at(Event("review.created", NOON_NY, {"rating": rating, "product": "p"})) is not None) \
            == invited

    @pytest.mark.parametrize(("name", "data", "occurrence"), [
        ("review_points", {"product": "sku-a", "rating": 3, "points": 50}, "sku-a"),
        ("referral_bonus", {"referred_order": "o-77", "points": 250}, "o-77"),
    ])
    def test_points_notices_one_per_review_or_referred_order(self, name, data, occurrence):
        notice = JOURNEY.step(name)
        [trigger] = notice.triggers
        event = Event(trigger.event, NOON_NY, data)
        assert trigger.due_at(event) == NOON_NY and notice.occurrence_of(event) == occurrence
        assert trigger.due_at(Event(trigger.event, NOON_NY, {**data, "points": 0})) is None  # nothing earned


class TestReplenishment:
    DELIVERED = NOON_NY - timedelta(days=7)
    ORDER = an_order(delivered_at=NOON_NY - timedelta(days=7),
                     items=(ItemState("sku-a", quantity=1), ItemState("sku-b", quantity=2)))
    SUPPLY = Supply({"sku-a": 30.0, "sku-b": 20.0}, frozenset({"sku-b"}), {})

    def decide_for(self, product: str, now: datetime, **state: object) -> object:
        facts = {"supply": state.pop("supply", self.SUPPLY)}
        order = state.pop("order", self.ORDER)
        step = DueStep(JOURNEY.step("restock_reminder"), self.DELIVERED, now, occurrence=product, item=product)
        return decide(step, a_state(order=order, facts=facts, **state), now, POLICY)

    @pytest.mark.parametrize(("product", "days_after_delivery", "expected"), [
        ("sku-a", 7, Defer(DELIVERED + timedelta(days=25), "replenishment.not_yet")),  # 30-day cycle, 5 ahead
        ("sku-a", 25, "send"),
        ("sku-b", 25, Defer(DELIVERED + timedelta(days=35), "replenishment.not_yet")),  # 2 units of 20 days
        ("sku-b", 35, "send"),
        ("sku-a", 25 + 5 + 14 + 1, Skip("replenishment.too_late")),  # a catch-up long after it ran out
    ])
    def test_due_a_few_days_before_each_product_runs_out(self, product, days_after_delivery, expected):
        decision = self.decide_for(product, self.DELIVERED + timedelta(days=days_after_delivery))
        assert (decision == expected) if not isinstance(expected, str) else isinstance(decision, Send)

    @pytest.mark.parametrize(("overrides", "expected"), [
        ({"order": replace(ORDER, returned_product_ids=frozenset({"sku-a"}))}, Skip("replenishment.returned")),
        ({"reviews": {"sku-a": 2}}, Skip("replenishment.rated_low")),
        ({"reviews": {"sku-a": 1}}, Skip("replenishment.rated_low")),
        ({"reviews": {"sku-a": 3}}, "send"),
        ({"supply": replace(SUPPLY, last_ordered={"sku-a": NOON_NY})}, Skip("replenishment.reordered")),
        ({"supply": replace(SUPPLY, last_ordered={"sku-a": ORDER.placed_at})}, "send"),  # this very order
        ({"supply": replace(SUPPLY, cycles={})}, Skip("replenishment.no_use_cycle")),
    ])
    def test_skipped_once_reordered_returned_or_rated_low(self, overrides, expected):
        decision = self.decide_for("sku-a", self.DELIVERED + timedelta(days=26), **overrides)
        assert (decision == expected) if not isinstance(expected, str) else isinstance(decision, Send)

    def test_it_says_where_the_timing_came_from(self):
        at = self.DELIVERED + timedelta(days=36)
        assert self.decide_for("sku-b", at).data == {"cycle_source": "reorders"}
        assert self.decide_for("sku-a", at - timedelta(days=10)).data == {"cycle_source": "catalog"}


class TestSubscriptions:
    RENEWS = NOON_NY + timedelta(days=1)
    PAYLOAD = {"subscription": "sub-1", "renews_at": RENEWS.isoformat()}

    def decide_reminder(self, now: datetime, payload: dict | None = None, latest: dict | None = None,
                        **state: object) -> object:
        payload = self.PAYLOAD if payload is None else payload
        step = DueStep(JOURNEY.step("renewal_reminder"), self.RENEWS - timedelta(days=3), now, payload=payload)
        facts = {"latest_renewals": latest if latest is not None else {"sub-1": payload.get("renews_at")}}
        return decide(step, a_state(facts=facts, **state), now, POLICY)

    @pytest.mark.parametrize(("renews_in_days", "reminder_days", "due_in_days"), [(10, 3, 7), (10, 5, 5), (2, 3, -1)])
    def test_due_the_set_number_of_days_before_each_renewal(self, renews_in_days, reminder_days, due_in_days):
        [reminder] = [s for s in default_steps(JourneyTimings(renewal_reminder_days=reminder_days))
                      if s.name == "renewal_reminder"]
        [trigger] = reminder.triggers
        renews = NOON_NY + timedelta(days=renews_in_days)
        event = Event(trigger.event, NOON_NY, {"subscription": "sub-1", "renews_at": renews.isoformat()})
        assert trigger.due_at(event) == NOON_NY + timedelta(days=due_in_days)
        assert reminder.occurrence_of(event) == f"sub-1:{renews:%Y-%m-%dT%H:%MZ}"
        assert trigger.due_at(Event(trigger.event, NOON_NY, {"renews_at": renews.isoformat()})) is None

    @pytest.mark.parametrize(("case", "expected"), [
        ("due", "sms"),  # SMS first (transactional: the SMS opt-in, no marketing consent needed)
        ("no_sms_optin", "email"),
        ("moved", Skip("subscription.rescheduled")),
        ("passed", Skip("subscription.renewal_passed")),
    ])
    def test_sms_first_and_never_for_a_moved_or_past_renewal(self, case, expected):
        now = NOON_NY
        kwargs: dict = {}
        if case == "no_sms_optin":
            kwargs["consents"] = frozenset()
        if case == "moved":
            kwargs["latest"] = {"sub-1": (self.RENEWS + timedelta(days=14)).isoformat()}
        if case == "passed":
            now = self.RENEWS - timedelta(minutes=1)
            kwargs["payload"] = {**self.PAYLOAD, "renews_at": (now - timedelta(hours=1)).isoformat()}
            kwargs["latest"] = {"sub-1": kwargs["payload"]["renews_at"]}
        decision = self.decide_reminder(now, **kwargs)
        if isinstance(expected, Skip):
            assert decision == expected
        else:
            assert isinstance(decision, Send) and decision.channels[0].value == expected

    def test_a_cancellation_stops_reminders_and_payment_notices(self):
        for name in ("renewal_reminder", "payment_failed_notice"):
            assert [c.event for c in JOURNEY.step(name).cancel_on] == ["subscription.cancelled"]

    def test_switched_off_neither_is_in_the_journey(self):
        off = JourneyTimings(renewal_reminder_enabled=False, payment_failed_notice_enabled=False)
        names = {s.name for s in default_steps(off)}
        assert not names & {"renewal_reminder", "payment_failed_notice"}


class TestExchangeOffer:
    def decide_offer(self, payload: dict, refunded: dict | None = None, **order: object) -> object:
        step = DueStep(JOURNEY.step("exchange_offer"), NOON_NY, NOON_NY, payload=payload)
        state = a_state(order=an_order(**order), facts={"refunded": refunded or {}})
        return decide(step, state, NOON_NY, POLICY)

    @pytest.mark.parametrize(("payload", "refunded", "expected"), [
        ({"products": ["sku-a"]}, {}, ("sku-a",)),
        ({}, {}, ("sku-a", "sku-b")),  # a return of the whole order
        ({"products": ["sku-a", "sku-b"]}, {1: frozenset({"sku-b"})}, ("sku-a",)),
        ({"products": ["sku-a"]}, {1: frozenset({"sku-a"})}, Skip("returns.already_refunded")),
        ({}, {1: frozenset({"*"})}, Skip("returns.already_refunded")),  # the whole order refunded
        ({"products": ["sku-a"]}, {2: frozenset({"sku-a"})}, ("sku-a",)),  # another order's refund
    ])
    def test_an_offer_before_the_refund_and_none_once_refunded(self, payload, refunded, expected):
        decision = self.decide_offer(payload, refunded)
        if isinstance(expected, Skip):
            assert decision == expected
        else:
            assert isinstance(decision, Send) and decision.product_ids == expected

    def test_a_returned_item_still_gets_its_offer_but_a_cancelled_order_none(self):
        returned = self.decide_offer({"products": ["sku-a"]}, returned_product_ids=frozenset({"sku-a"}))
        assert isinstance(returned, Send)
        assert self.decide_offer({"products": ["sku-a"]}, cancelled=True) == Skip(Reason.ORDER_CANCELLED)

    @pytest.mark.parametrize(("kind", "amount", "value", "expected"), [
        ("percent", 10, "24.50", "2.45"), ("percent", 15, "99.99", "15.00"), ("flat", 5, "24.50", "5.00"),
        ("flat", -5, "24.50", "0.00"), ("percent", 0, "10", "0.00")])
    def test_the_credit_bonus_is_flat_or_a_percent(self, kind, amount, value, expected):
        assert bonus(Decimal(value), kind, amount) == Decimal(expected)


# Switches whose step is named otherwise; the carrier-exception switch removes a trigger of `delay_notice`
# (tests/unit/test_before_it_arrives.py), not a step.
SWITCHED = {"failed_attempt_notice_enabled": "delivery_attempt_failed", "order_page_enabled": "order_request_notice",
            "out_for_delivery_notice_enabled": "out_for_delivery"}


@pytest.mark.parametrize("switch", sorted(f for f in JourneyTimings.model_fields
                                          if f.endswith("_enabled") and f != "carrier_exception_notice_enabled"))
def test_every_new_step_is_switched_off_by_its_own_setting(switch):
    step_name = SWITCHED.get(switch, switch.removesuffix("_enabled"))
    on = {s.name for s in default_steps(JourneyTimings(**{switch: True}))}  # some are off by default
    off = {s.name for s in default_steps(JourneyTimings(**{switch: False}))}
    assert on - off == {step_name}
    default_steps(JourneyTimings(**{switch: False}), except_=(step_name,))  # still a name a store may leave out
