"""Every condition of the journey as a decision table: (step, state, now) -> decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftercare.domain.decisions import Defer, HoldOut, Policy, Send, Skip, decide, in_holdout
from aftercare.domain.vocabulary import Channel, Purpose, Reason
from aftercare.journeys import default as j
from tests.builders import JOURNEY, NOON_NY, POLICY, a_state, an_order, due

EMAIL_ONLY = frozenset({(Channel.EMAIL, Purpose.MARKETING)})
IN_TRANSIT = an_order(delivered_at=None)  # shipped, not yet delivered: the shipped notice still makes sense


@pytest.mark.parametrize(
    ("step", "state", "expected"),
    [
        # Cancelled orders: only the cancellation notice goes out.
        (j.SHIPPED, a_state(order=an_order(cancelled=True)), Skip(Reason.ORDER_CANCELLED)),
        (j.SETUP_GUIDE, a_state(order=an_order(cancelled=True)), Skip(Reason.ORDER_CANCELLED)),
        (j.REVIEW_REQUEST, a_state(order=an_order(cancelled=True)), Skip(Reason.ORDER_CANCELLED)),
        (j.CANCELLATION_NOTICE, a_state(order=an_order(cancelled=False)), Skip(Reason.NOT_NEEDED)),
        # Transactional email needs a valid address only, not marketing consent.
        (j.CONFIRMATION, a_state(consents=frozenset(), email_unsubscribed=True), Send((Channel.EMAIL,))),
        (j.CONFIRMATION, a_state(email_valid=False), Skip(Reason.INVALID_EMAIL, Channel.EMAIL)),
        (j.CONFIRMATION, a_state(email_bounced=True), Skip(Reason.EMAIL_BOUNCED, Channel.EMAIL)),
        # Marketing needs marketing consent for that channel.
        (j.SETUP_GUIDE, a_state(consents=frozenset()), Skip(Reason.NO_MARKETING_CONSENT, Channel.EMAIL)),
        (j.SETUP_GUIDE, a_state(email_unsubscribed=True), Skip(Reason.UNSUBSCRIBED, Channel.EMAIL)),
        # Delay notice only when still undelivered.
        (j.DELAY_NOTICE, a_state(), Skip(Reason.DELIVERED_ON_TIME)),
        # Setup guide, CSAT and review wait for delivery.
        (j.SETUP_GUIDE, a_state(order=an_order(delivered_at=None)), Skip(Reason.NOT_DELIVERED)),
        (j.CSAT, a_state(order=an_order(delivered_at=None)), Skip(Reason.NOT_DELIVERED)),
        # Returned items get no setup guide and no review request.
        (j.SETUP_GUIDE, a_state(order=an_order(returned_product_ids=frozenset({"sku-a", "sku-b"}))),
         Skip(Reason.ITEMS_RETURNED)),
        (j.REVIEW_REQUEST, a_state(order=an_order(returned_product_ids=frozenset({"sku-a", "sku-b"}))),
         Skip(Reason.ITEMS_RETURNED)),
        # Already reviewed everything: no review request.
        (j.REVIEW_REQUEST, a_state(reviews={"sku-a": 4, "sku-b": 5}), Skip(Reason.ALREADY_REVIEWED)),
        # CSAT answered already: no survey.
        (j.CSAT, a_state(order=an_order(csat_score=5, csat_answered_at=NOON_NY)), Skip(Reason.CSAT_ALREADY_ANSWERED)),
        # A new order stops win-back.
        (j.WINBACK_1, a_state(newer_order_exists=True), Skip(Reason.NEW_ORDER)),
        (j.WINBACK_3, a_state(newer_order_exists=True), Skip(Reason.NEW_ORDER)),
        # Points reminders only when points are expiring.
        (j.POINTS_EXPIRY_30, a_state(points_expiring=0), Skip(Reason.NOT_NEEDED)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_step_gates_decide_from_state(step, state, expected):
    decision = decide(due(step), state, NOON_NY, POLICY)
    if isinstance(expected, Send):
        assert isinstance(decision, Send) and decision.channels == expected.channels
    else:
        assert decision == expected


def test_cancellation_notice_goes_out_for_a_cancelled_order():
    decision = decide(due(j.CANCELLATION_NOTICE), a_state(order=an_order(cancelled=True)), NOON_NY, POLICY)
    assert decision == Send((Channel.EMAIL,), product_ids=("sku-a", "sku-b"))


class TestChannels:
    def test_transactional_shipping_goes_to_every_eligible_channel(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL, Channel.SMS)

    def test_transactional_sms_needs_transactional_sms_consent(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, consents=EMAIL_ONLY), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)
        assert (Channel.SMS, Reason.NO_TRANSACTIONAL_CONSENT) in decision.skipped_channels

    def test_sms_stop_suppresses_even_transactional_sms(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, sms_stopped=True), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)
        assert (Channel.SMS, Reason.SMS_STOPPED) in decision.skipped_channels

    def test_invalid_phone_is_a_recorded_reason_not_a_crash(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, phone_valid=False), NOON_NY, POLICY)
        assert isinstance(decision, Send) and (Channel.SMS, Reason.INVALID_PHONE) in decision.skipped_channels

    def test_csat_prefers_sms_when_consented(self):
        decision = decide(due(j.CSAT), a_state(), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.SMS,)

    def test_csat_falls_back_to_email_without_sms_marketing_consent(self):
        decision = decide(due(j.CSAT), a_state(consents=EMAIL_ONLY), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)

    def test_marketing_with_no_channel_left_is_skipped_with_the_first_reason(self):
        decision = decide(due(j.CSAT), a_state(consents=frozenset(), sms_stopped=True), NOON_NY, POLICY)
        assert decision == Skip(Reason.SMS_STOPPED, Channel.SMS)

    def test_customer_without_phone_is_not_reported_as_an_sms_refusal(self):
        decision = decide(due(j.CSAT), a_state(has_phone=False, phone_valid=False, consents=frozenset()),
                          NOON_NY, POLICY)
        assert decision == Skip(Reason.NO_MARKETING_CONSENT, Channel.EMAIL)


class TestQuietHours:
    # NOON_NY is 17:00 UTC: noon in New York, 02:00 in Seoul, 20:00 in Riyadh.
    def test_marketing_sms_inside_local_daytime_is_sent(self):
        assert isinstance(decide(due(j.CSAT), a_state(), NOON_NY, POLICY), Send)

    def test_marketing_sms_at_night_in_the_customers_zone_is_deferred_to_eight(self):
        decision = decide(due(j.CSAT), a_state(timezone="Asia/Seoul"), NOON_NY, POLICY)
        assert decision == Defer(datetime(2026, 3, 10, 23, 0, tzinfo=UTC), Reason.QUIET_HOURS)  # 08:00 KST

    def test_nine_pm_is_already_quiet(self):
        nine_pm_ny = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)  # 21:00 EDT
        decision = decide(due(j.CSAT, nine_pm_ny), a_state(), nine_pm_ny, POLICY)
        assert decision == Defer(datetime(2026, 3, 11, 12, 0, tzinfo=UTC), Reason.QUIET_HOURS)

    def test_quiet_hours_do_not_apply_to_email(self):
        assert isinstance(decide(due(j.CSAT), a_state(timezone="Asia/Seoul", consents=EMAIL_ONLY), NOON_NY, POLICY),
                          Send)

    def test_a_non_urgent_transactional_sms_at_night_waits_for_eight(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, timezone="Asia/Seoul"), NOON_NY, POLICY)
        assert decision == Defer(datetime(2026, 3, 10, 23, 0, tzinfo=UTC), Reason.QUIET_HOURS)  # 08:00 KST

    def test_an_urgent_transactional_sms_at_night_is_sent(self):
        decision = decide(due(j.DELAY_NOTICE), a_state(order=an_order(delivered_at=None), timezone="Asia/Seoul"),
                          NOON_NY, POLICY)
        assert isinstance(decision, Send) and Channel.SMS in decision.channels

    def test_an_unknown_time_zone_skips_the_timed_sms_with_a_reason_not_a_crash(self):
        decision = decide(due(j.CSAT), a_state(timezone="Mars/Olympus"), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)
        assert decision.skipped_channels == ((Channel.SMS, Reason.INVALID_TIMEZONE),)


class TestFrequencyCap:
    def test_a_second_marketing_message_within_24h_is_deferred_until_the_window_ends(self):
        last = NOON_NY - timedelta(hours=3)
        decision = decide(due(j.SETUP_GUIDE), a_state(recent_marketing_sends=(last,)), NOON_NY, POLICY)
        assert decision == Defer(last + timedelta(hours=24), Reason.FREQUENCY_CAP)

    def test_a_send_older_than_the_window_does_not_cap(self):
        decision = decide(due(j.SETUP_GUIDE), a_state(recent_marketing_sends=(NOON_NY - timedelta(hours=25),)),
                          NOON_NY, POLICY)
        assert isinstance(decision, Send)

    def test_transactional_messages_are_exempt(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, recent_marketing_sends=(NOON_NY,)), NOON_NY, POLICY)
        assert isinstance(decision, Send)

    def test_a_capped_message_expires_when_it_would_no_longer_make_sense(self):
        first_due = NOON_NY - timedelta(days=6, hours=23)  # setup guide expires 7 days after first due
        decision = decide(due(j.SETUP_GUIDE, NOON_NY, first_due), a_state(recent_marketing_sends=(NOON_NY,)),
                          NOON_NY, POLICY)
        assert decision == Skip(Reason.EXPIRED, Channel.EMAIL)

    def test_the_cap_is_configurable(self):
        policy = Policy(frequency_cap=timedelta(hours=48), frequency_cap_messages=2)
        one = a_state(recent_marketing_sends=(NOON_NY - timedelta(hours=30),))
        two = a_state(recent_marketing_sends=(NOON_NY - timedelta(hours=30), NOON_NY - timedelta(hours=1)))
        assert isinstance(decide(due(j.SETUP_GUIDE), one, NOON_NY, policy), Send)
        assert decide(due(j.SETUP_GUIDE), two, NOON_NY, policy) == Defer(NOON_NY + timedelta(hours=18),
                                                                         Reason.FREQUENCY_CAP)


class TestReviewGate:
    """The gate decides routing and timing, never who is ever asked (FTC guidance, Google's policy)."""

    def test_happy_customer_is_asked(self):
        state = a_state(order=an_order(csat_score=5, csat_answered_at=NOON_NY - timedelta(days=2)))
        assert isinstance(decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY), Send)

    def test_unhappy_customer_waits_for_service_recovery_until_the_window_ends(self):
        state = a_state(order=an_order(csat_score=1, csat_answered_at=NOON_NY, recovery_open=True,
                                       recovery_opened_at=NOON_NY))
        assert decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY) == Defer(
            NOON_NY + timedelta(days=7), Reason.AWAITING_RECOVERY)

    def test_a_case_still_open_after_the_recovery_window_no_longer_holds_the_review_request(self):
        opened = NOON_NY - timedelta(days=7)
        state = a_state(order=an_order(csat_score=1, csat_answered_at=opened, recovery_open=True,
                                       recovery_opened_at=opened), open_recovery_since=opened)
        assert isinstance(decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY), Send)

    def test_the_recovery_window_is_a_policy_setting(self):
        opened = NOON_NY - timedelta(days=7)
        state = a_state(order=an_order(csat_score=2, csat_answered_at=opened, recovery_open=True,
                                       recovery_opened_at=opened))
        policy = Policy(recovery_window=timedelta(days=10))
        assert decide(due(j.REVIEW_REQUEST), state, NOON_NY, policy) == Defer(
            opened + timedelta(days=10), Reason.AWAITING_RECOVERY)

    def test_unhappy_customer_is_asked_once_the_case_is_resolved(self):
        state = a_state(order=an_order(csat_score=2, csat_answered_at=NOON_NY - timedelta(days=3),
                                       recovery_resolved_at=NOON_NY - timedelta(days=1)))
        assert isinstance(decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY), Send)

    def test_customer_without_an_answer_is_asked(self):
        assert isinstance(decide(due(j.REVIEW_REQUEST), a_state(), NOON_NY, POLICY), Send)

    def test_neutral_score_is_asked(self):
        state = a_state(order=an_order(csat_score=3, csat_answered_at=NOON_NY))
        assert isinstance(decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY), Send)

    @pytest.mark.parametrize("score", [None, 3])
    def test_strict_mode_asks_only_happy_customers_and_is_off_by_default(self, score):
        state = a_state(order=an_order(csat_score=score, csat_answered_at=NOON_NY if score else None))
        assert Policy().strict_csat_only is False
        assert decide(due(j.REVIEW_REQUEST), state, NOON_NY, Policy(strict_csat_only=True)) == Skip(
            Reason.STRICT_CSAT_GATE)

    def test_strict_mode_still_asks_happy_customers(self):
        state = a_state(order=an_order(csat_score=4, csat_answered_at=NOON_NY))
        assert isinstance(decide(due(j.REVIEW_REQUEST), state, NOON_NY, Policy(strict_csat_only=True)), Send)

    def test_review_request_leaves_out_returned_items(self):
        state = a_state(order=an_order(returned_product_ids=frozenset({"sku-a"})))
        decision = decide(due(j.REVIEW_REQUEST), state, NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.product_ids == ("sku-b",)


class TestLoyaltyAndReviews:
    def test_a_five_star_review_adds_a_referral_invitation_to_marketing(self):
        decision = decide(due(j.SETUP_GUIDE), a_state(reviews={"sku-z": 5}), NOON_NY, POLICY)
        assert isinstance(decision, Send) and decision.referral_invite

    def test_no_five_star_review_no_invitation(self):
        decision = decide(due(j.SETUP_GUIDE), a_state(reviews={"sku-z": 4}), NOON_NY, POLICY)
        assert isinstance(decision, Send) and not decision.referral_invite

    def test_transactional_messages_carry_no_invitation(self):
        decision = decide(due(j.SHIPPED), a_state(order=IN_TRANSIT, reviews={"sku-z": 5}), NOON_NY, POLICY)
        assert isinstance(decision, Send) and not decision.referral_invite

    def test_vip_tier_is_visible_to_the_copy(self):
        assert a_state(loyalty_tier="VIP").vip and not a_state(loyalty_tier="member").vip

    def test_points_reminder_is_sent_when_points_are_expiring(self):
        state = a_state(points_expiring=120, points_balance=400, points_expire_at=NOON_NY + timedelta(days=30))
        assert isinstance(decide(due(j.POINTS_EXPIRY_30), state, NOON_NY, POLICY), Send)


class TestHoldout:
    def test_holdout_is_deterministic_and_near_the_configured_share(self):
        policy = Policy(holdout_share=0.05, holdout_salt="s")
        picks = [in_holdout(c, j.SETUP_GUIDE, policy) for c in range(20_000)]
        assert picks == [in_holdout(c, j.SETUP_GUIDE, policy) for c in range(20_000)]
        assert 0.04 < sum(picks) / len(picks) < 0.06

    def test_held_out_marketing_is_recorded_not_sent(self):
        policy = Policy(holdout_share=0.05, holdout_salt="s")
        customer = next(c for c in range(10_000) if in_holdout(c, j.SETUP_GUIDE, policy))
        decision = decide(due(j.SETUP_GUIDE), a_state(customer_id=customer), NOON_NY, policy)
        assert decision == HoldOut(Channel.EMAIL)

    def test_transactional_steps_are_never_held_out(self):
        policy = Policy(holdout_share=0.99)
        assert all(isinstance(decide(due(j.CONFIRMATION), a_state(customer_id=c), NOON_NY, policy), Send)
                   for c in range(200))

    def test_no_holdout_by_default(self):
        assert not any(in_holdout(c, j.SETUP_GUIDE, Policy()) for c in range(1000))


# Item 17: nothing stale. Every step expires; catching up never sends what no longer makes sense.
LATE = timedelta(days=30)


@pytest.mark.parametrize("step", JOURNEY.names)
def test_every_step_has_an_expiry_and_is_skipped_as_expired_past_it(step):
    spec = JOURNEY.step(step)
    assert spec.expires > timedelta(0)
    first_due = NOON_NY - spec.expires - timedelta(minutes=1)
    state = a_state(order=IN_TRANSIT, points_expiring=100, points_balance=100,
                    points_expire_at=NOON_NY + timedelta(days=60))
    assert decide(due(step, first_due=first_due), state, NOON_NY, POLICY) == Skip(Reason.EXPIRED)


PROMO_POINTS = {"points_expiring": 120, "points_balance": 400, "points_expire_at": NOON_NY + timedelta(days=20)}
OPENED_2D = NOON_NY - timedelta(days=2)
OPEN_CASE = {"open_recovery_since": OPENED_2D}
HELD = Defer(OPENED_2D + timedelta(days=7), Reason.RECOVERY_OPEN)


@pytest.mark.parametrize(
    ("step", "state", "now", "first_due", "expected"),
    [
        # Transactional steps expire too: a shipped notice six days late is not sent.
        (j.SHIPPED, a_state(order=IN_TRANSIT), NOON_NY, NOON_NY - timedelta(days=6), Skip(Reason.EXPIRED)),
        (j.CONFIRMATION, a_state(), NOON_NY, NOON_NY - timedelta(days=4), Skip(Reason.EXPIRED)),
        (j.DELIVERED_NOTICE, a_state(), NOON_NY, NOON_NY - timedelta(days=3), Skip(Reason.EXPIRED)),
        # ...but a few hours late they still go out.
        (j.SHIPPED, a_state(order=IN_TRANSIT), NOON_NY, NOON_NY - timedelta(hours=5), "send"),
        # Shipped is superseded by delivered.
        (j.SHIPPED, a_state(), NOON_NY, NOON_NY, Skip(Reason.ALREADY_DELIVERED)),
        # Marketing past its window is skipped on catch-up, not only when a deferral would pass it.
        (j.REVIEW_REQUEST, a_state(), NOON_NY, NOON_NY - timedelta(days=31), Skip(Reason.EXPIRED)),
        (j.WINBACK_1, a_state(), NOON_NY, NOON_NY - timedelta(days=15), Skip(Reason.EXPIRED)),
        # A points reminder after the points expired is skipped with its own reason.
        (j.POINTS_EXPIRY_7,
         a_state(points_expiring=120, points_balance=400, points_expire_at=NOON_NY - timedelta(hours=1)),
         NOON_NY, NOON_NY - timedelta(days=2), Skip(Reason.POINTS_EXPIRED)),
        # Points expiring but none left in the balance: nothing to remind of.
        (j.POINTS_EXPIRY_30,
         a_state(points_expiring=120, points_balance=0, points_expire_at=NOON_NY + timedelta(days=9)),
         NOON_NY, NOON_NY, Skip(Reason.NOT_NEEDED)),
        # Item 19: an open recovery case holds promotions until the window ends (a deferral, nothing lost)...
        (j.WINBACK_1, a_state(**OPEN_CASE), NOON_NY, NOON_NY, HELD),
        (j.WINBACK_3, a_state(**OPEN_CASE), NOON_NY, NOON_NY, HELD),
        (j.POINTS_EXPIRY_30, a_state(**OPEN_CASE, **PROMO_POINTS), NOON_NY, NOON_NY, HELD),
        # ...never past the step's own expiry (5 days for the 7-day points reminder)...
        (j.POINTS_EXPIRY_7, a_state(**OPEN_CASE, **PROMO_POINTS), NOON_NY, NOON_NY - timedelta(days=2),
         Defer(NOON_NY + timedelta(days=3), Reason.RECOVERY_OPEN)),
        # ...and not at all once the window is over (the case is flagged for support instead).
        (j.WINBACK_1, a_state(open_recovery_since=NOON_NY - timedelta(days=8)), NOON_NY, NOON_NY, "send"),
        # Transactional messages and the CSAT survey are not promotions.
        (j.DELIVERED_NOTICE, a_state(**OPEN_CASE), NOON_NY, NOON_NY, "send"),
        (j.CSAT, a_state(**OPEN_CASE), NOON_NY, NOON_NY, "send"),
    ],
    ids=lambda v: v if isinstance(v, str) and v != "send" else None,
)
def test_stale_and_held_steps(step, state, now, first_due, expected):
    decision = decide(due(step, at=now, first_due=first_due), state, now, POLICY)
    if expected == "send":
        assert isinstance(decision, Send)
    else:
        assert decision == expected


def test_a_setup_guide_during_an_open_recovery_case_carries_no_cross_sell():
    held = decide(due(j.SETUP_GUIDE), a_state(**OPEN_CASE), NOON_NY, POLICY)
    assert isinstance(held, Send) and held.cross_sell is False
    free = decide(due(j.SETUP_GUIDE), a_state(), NOON_NY, POLICY)
    assert isinstance(free, Send) and free.cross_sell is True
