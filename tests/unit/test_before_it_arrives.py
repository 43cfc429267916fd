"""Before it arrives: the promise in the customer's own day, and the delay notices as decision tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aftercare.domain.decisions import Defer, DueStep, Send, Skip, decide
from aftercare.domain.promise import day_ends_at, kept, parse_promise, promise_by_method, stalled_at
from aftercare.domain.vocabulary import Channel, Reason
from aftercare.journeys import Timings, default_journey
from aftercare.journeys.default import delays
from aftercare.journeys.default.delays import SENT_DELAY_NOTICES, SentNotice
from aftercare.services.order_requests import can_cancel
from tests.builders import POLICY, a_state, an_order

NY = "America/New_York"
ALL_ON = Timings(failed_attempt_notice_enabled=True, out_for_delivery_notice_enabled=True)
JOURNEY = default_journey(ALL_ON)
PROMISED = datetime(2026, 12, 11, 5, 0, tzinfo=UTC)  # 11 December, 00:00 in New York
DAY_ENDS = datetime(2026, 12, 12, 5, 0, tzinfo=UTC)  # 12 December, 00:00 in New York


# The promise ------------------------------------------------------------------------------------------------
def test_the_promised_day_ends_at_midnight_in_the_customers_zone():
    assert day_ends_at(PROMISED, NY) == DAY_ENDS
    assert day_ends_at(PROMISED, "Asia/Seoul") == datetime(2026, 12, 11, 15, 0, tzinfo=UTC)  # 12 Dec 00:00 KST


def test_a_delivery_at_00_12_the_day_after_the_promised_day_is_late():
    assert not kept(PROMISED, DAY_ENDS + timedelta(minutes=12), NY)
    assert kept(PROMISED, DAY_ENDS - timedelta(minutes=1), NY)  # 23:59 on the promised day: on time


def test_the_day_ends_at_local_midnight_across_a_dst_change():
    promised = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # Saturday 7 March, New York (EST)
    assert day_ends_at(promised, NY) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # still EST at midnight
    sunday = datetime(2026, 3, 8, 17, 0, tzinfo=UTC)  # clocks went forward at 02:00
    assert day_ends_at(sunday, NY) == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # EDT


@pytest.mark.parametrize(("written", "expected"), [
    ("2026-12-11", PROMISED),  # a day, read in the customer's zone
    ("2026-12-11T18:00:00+00:00", datetime(2026, 12, 11, 18, 0, tzinfo=UTC)),
    ("2026-12-11T10:00:00", datetime(2026, 12, 11, 15, 0, tzinfo=UTC)),  # no offset: the customer's wall clock
    ("next week", None), ("", None), (None, None), (17, None),
])
def test_a_written_promise_is_a_day_or_a_time_and_anything_else_is_none(written, expected):
    assert parse_promise(written, NY) == expected


def test_a_shipping_methods_promise_counts_days_from_the_local_order_day():
    late_evening = datetime(2026, 12, 9, 3, 30, tzinfo=UTC)  # 8 December 22:30 in New York
    assert promise_by_method(late_evening, 3, NY) == PROMISED  # 11 December, not the 12th (UTC's day)


@pytest.mark.parametrize(("last", "skip_weekends", "expected"), [
    (datetime(2026, 12, 4, 15, 0, tzinfo=UTC), False, datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),  # Fri + 3 days
    (datetime(2026, 12, 4, 15, 0, tzinfo=UTC), True, datetime(2026, 12, 9, 15, 0, tzinfo=UTC)),  # Fri + 3 work days
    (datetime(2026, 12, 7, 15, 0, tzinfo=UTC), True, datetime(2026, 12, 10, 15, 0, tzinfo=UTC)),  # Mon + 3: Thu
])
def test_a_stall_counts_days_without_progress_optionally_leaving_out_weekends(last, skip_weekends, expected):
    assert stalled_at(last, 3, NY, skip_weekends=skip_weekends) == expected


# Decision tables --------------------------------------------------------------------------------------------
def state(order_overrides: dict | None = None, sent: tuple[SentNotice, ...] = (), **overrides):
    base = a_state(**overrides)
    order = an_order(**(order_overrides or {}))
    return replace(base, order=order, facts={**base.facts, SENT_DELAY_NOTICES.name: sent})


def at(step: str, now: datetime, occurrence: str = "", first_due: datetime | None = None) -> DueStep:
    return DueStep(JOURNEY.step(step), first_due or now, now, occurrence=occurrence)


UNSHIPPED = {"fulfilled_at": None, "delivered_at": None, "promised_at": PROMISED,
             "original_promised_at": PROMISED, "placed_at": PROMISED - timedelta(days=5)}
IN_TRANSIT = {"fulfilled_at": PROMISED - timedelta(days=3), "delivered_at": None, "promised_at": PROMISED,
              "original_promised_at": PROMISED, "last_progress_at": PROMISED - timedelta(days=3)}
NOON_AFTER = DAY_ENDS + timedelta(hours=12)
DISPATCH_SENT = SentNotice(1, delays.DISPATCH_DELAY, "2026-12-11", NOON_AFTER)


@pytest.mark.parametrize(("step", "occurrence", "order", "sent", "expected"), [
    # Pre-dispatch: not shipped by the end of its promised day.
    (delays.DISPATCH_DELAY, "2026-12-11", UNSHIPPED, (), Send((Channel.EMAIL, Channel.SMS))),
    (delays.DISPATCH_DELAY, "2026-12-11", {**UNSHIPPED, "fulfilled_at": PROMISED}, (), Skip(Reason.ALREADY_SHIPPED)),
    (delays.DISPATCH_DELAY, "2026-12-11", {**UNSHIPPED, "fulfilled_at": PROMISED, "delivered_at": DAY_ENDS},
     (), Skip(Reason.ALREADY_SHIPPED)),
    # A notice about an earlier day than the current promise is superseded, whatever happened after.
    ("delay_notice", "2026-12-11", {**IN_TRANSIT, "delivered_at": DAY_ENDS + timedelta(hours=1),
                                    "promised_at": PROMISED + timedelta(days=1)}, (), Skip(Reason.PROMISE_REVISED)),
    (delays.TRANSIT_STALLED, "", {**IN_TRANSIT, "delivered_at": DAY_ENDS + timedelta(hours=1),
                                  "promised_at": PROMISED + timedelta(days=1)}, (), Skip(Reason.DELIVERED_ON_TIME)),
    # The transit delay notice leaves an unshipped order to the pre-dispatch one...
    ("delay_notice", "2026-12-11", UNSHIPPED, (), Skip(Reason.NOT_SHIPPED)),
    # ...and is one per slip: the pre-dispatch notice already told this promised day.
    ("delay_notice", "2026-12-11", IN_TRANSIT, (DISPATCH_SENT,), Skip(Reason.SLIP_NOTIFIED)),
    ("delay_notice", "2026-12-11", IN_TRANSIT, (), Send((Channel.EMAIL, Channel.SMS))),
    # A new estimate (a later day) is a new slip: its notice goes out; the old day's is superseded.
    ("delay_notice", "2026-12-15", {**IN_TRANSIT, "promised_at": PROMISED + timedelta(days=4),
                                    "estimated_at": PROMISED + timedelta(days=4),
                                    "promise_revised_at": PROMISED - timedelta(days=1)},
     (DISPATCH_SENT,), Send((Channel.EMAIL, Channel.SMS))),
    ("delay_notice", "2026-12-11", {**IN_TRANSIT, "promised_at": PROMISED + timedelta(days=4),
                                    "estimated_at": PROMISED + timedelta(days=4)}, (), Skip(Reason.PROMISE_REVISED)),
    # Never after delivery; 00:12 after the promised day is late, not on time.
    ("delay_notice", "2026-12-11", {**IN_TRANSIT, "delivered_at": DAY_ENDS + timedelta(minutes=12)}, (),
     Skip(Reason.DELIVERED_LATE)),
    ("delay_notice", "2026-12-11", {**IN_TRANSIT, "delivered_at": DAY_ENDS - timedelta(minutes=1)}, (),
     Skip(Reason.DELIVERED_ON_TIME)),
    # Stalled: no progress for 3 days; the stall and the passed promise are one slip.
    (delays.TRANSIT_STALLED, "", IN_TRANSIT, (), Send((Channel.EMAIL, Channel.SMS))),
    (delays.TRANSIT_STALLED, "", {**IN_TRANSIT, "last_progress_at": NOON_AFTER - timedelta(days=1)}, (),
     Defer(NOON_AFTER + timedelta(days=2), Reason.TRACKING_MOVED)),
    (delays.TRANSIT_STALLED, "", {**IN_TRANSIT, "delivered_at": PROMISED}, (), Skip(Reason.DELIVERED_ON_TIME)),
    (delays.TRANSIT_STALLED, "", IN_TRANSIT, (SentNotice(1, "delay_notice", "2026-12-11", NOON_AFTER),),
     Skip(Reason.SLIP_NOTIFIED)),
    ("delay_notice", "2026-12-11", IN_TRANSIT, (SentNotice(1, delays.TRANSIT_STALLED, "", NOON_AFTER),),
     Skip(Reason.SLIP_NOTIFIED)),
    # Another order's notice is not this order's slip.
    ("delay_notice", "2026-12-11", IN_TRANSIT, (SentNotice(2, delays.DISPATCH_DELAY, "2026-12-11", NOON_AFTER),),
     Send((Channel.EMAIL, Channel.SMS))),
    # Carrier news: a failed attempt (SMS first), out for delivery; neither after delivery.
    (delays.FAILED_ATTEMPT, "", IN_TRANSIT, (), Send((Channel.SMS,))),
    (delays.OUT_FOR_DELIVERY, "", {**IN_TRANSIT, "delivered_at": NOON_AFTER}, (), Skip(Reason.ALREADY_DELIVERED)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_delay_notices_decide_from_state(step, occurrence, order, sent, expected):
    decision = decide(at(step, NOON_AFTER, occurrence), state(order, sent), NOON_AFTER, POLICY)
    if isinstance(expected, Send):
        assert isinstance(decision, Send) and decision.channels == expected.channels
    else:
        assert decision == expected


@pytest.mark.parametrize("step", [delays.TRANSIT_STALLED, delays.FAILED_ATTEMPT, delays.OUT_FOR_DELIVERY])
def test_carrier_news_waits_for_the_customers_morning(step):
    night = datetime(2026, 12, 12, 3, 30, tzinfo=UTC)  # 11 December 22:30 in New York
    decision = decide(at(step, night), state({**IN_TRANSIT, "last_progress_at": night - timedelta(days=4)}), night,
                      POLICY)
    assert decision == Defer(datetime(2026, 12, 12, 13, 0, tzinfo=UTC), Reason.QUIET_HOURS)  # 08:00 in New York


def test_a_stall_notice_names_the_promised_day_only_while_it_is_still_ahead():
    afternoon = PROMISED + timedelta(hours=14)  # 14:00 on the promised day in New York
    before = decide(at(delays.TRANSIT_STALLED, afternoon), state(IN_TRANSIT), afternoon, POLICY)
    after = decide(at(delays.TRANSIT_STALLED, NOON_AFTER), state(IN_TRANSIT), NOON_AFTER, POLICY)
    assert isinstance(before, Send) and before.data == {"promised_at": PROMISED}
    assert isinstance(after, Send) and after.data == {"promised_at": None}


def test_the_pre_dispatch_notice_carries_a_later_estimate_and_the_broken_promise():
    later = NOON_AFTER + timedelta(days=3)
    decision = decide(at(delays.DISPATCH_DELAY, NOON_AFTER, "2026-12-11"),
                      state({**UNSHIPPED, "estimated_at": later}), NOON_AFTER, POLICY)
    assert isinstance(decision, Send)
    assert decision.data == {"new_estimate": later, "original_promised_at": PROMISED}


# Switches ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "step"), [
    ("dispatch_delay_enabled", delays.DISPATCH_DELAY), ("transit_stalled_enabled", delays.TRANSIT_STALLED),
    ("failed_attempt_notice_enabled", delays.FAILED_ATTEMPT),
    ("out_for_delivery_notice_enabled", delays.OUT_FOR_DELIVERY), ("order_page_enabled", "order_request_notice"),
])
def test_each_step_is_switched_off_by_its_setting(flag, step):
    assert step in default_journey(ALL_ON).names
    assert step not in default_journey(ALL_ON.model_copy(update={flag: False})).names


def test_failed_attempt_and_out_for_delivery_are_off_by_default():
    names = default_journey(Timings()).names
    assert delays.FAILED_ATTEMPT not in names and delays.OUT_FOR_DELIVERY not in names
    assert delays.DISPATCH_DELAY in names and delays.TRANSIT_STALLED in names


def test_the_carrier_exception_trigger_of_the_delay_notice_is_switchable():
    on = {t.event for t in default_journey(Timings()).step("delay_notice").triggers}
    off = {t.event for t in default_journey(Timings(carrier_exception_notice_enabled=False))
           .step("delay_notice").triggers}
    assert "carrier_exception" in on and "carrier_exception" not in off


def test_the_confirmation_carries_the_order_page_link_unless_switched_off():
    assert default_journey(Timings()).step("confirmation").template_data is not None
    on = default_journey(Timings()).step("confirmation").template_data
    off = default_journey(Timings(order_page_enabled=False)).step("confirmation").template_data
    assert on is not off and getattr(off, "__name__", "") == "_cancel_window"


# Cancelling from the order page -----------------------------------------------------------------------------
PLACED = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
WINDOW = timedelta(hours=2)


@pytest.mark.parametrize(("status", "shipped", "now", "after_late", "expected"), [
    ("open", False, PLACED + timedelta(hours=1), True, True),  # inside the window
    ("open", False, PLACED + timedelta(hours=3), True, False),  # window closed, promise not yet broken
    ("open", False, DAY_ENDS + timedelta(minutes=1), True, True),  # the promised day ended unshipped
    ("open", False, DAY_ENDS + timedelta(minutes=1), False, False),  # ...unless the store says no
    ("fulfilled", True, PLACED + timedelta(hours=1), True, False),  # shipped: never
    ("cancelled", False, PLACED + timedelta(hours=1), True, False),
])
def test_an_order_can_be_cancelled_in_the_window_or_once_its_promise_is_broken_never_once_shipped(
        status, shipped, now, after_late, expected):
    assert can_cancel(status=status, shipped=shipped, placed_at=PLACED, window=WINDOW, promised_at=PROMISED,
                      zone=NY, now=now, after_late_promise=after_late) is expected
