"""Jurisdiction rules as data, each with its decision: (where, state, now) -> decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftercare.domain.decisions import Defer, Policy, Send, Skip, decide
from aftercare.domain.jurisdictions import RULES, Must, jurisdiction_of
from aftercare.domain.vocabulary import Channel, Purpose, Reason
from aftercare.journeys import default as j
from tests.builders import POLICY, a_state, an_order, due

SMS_ONLY = frozenset({(Channel.SMS, Purpose.MARKETING)})
EMAIL_ONLY = frozenset({(Channel.EMAIL, Purpose.MARKETING)})
WIDE_OPEN = Policy(quiet_start=0, quiet_end=24, frequency_cap_messages=10)  # only the law limits


def at_local(zone_hour: int, zone: str = "America/New_York") -> datetime:
    from zoneinfo import ZoneInfo
    return datetime(2026, 3, 10, zone_hour, 30, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_every_rule_names_its_source():
    for rule in RULES:
        assert rule.source and ("http" in rule.source), rule.key


@pytest.mark.parametrize(
    ("country", "subdivision", "keys", "hours", "cap"),
    [
        ("US", "NY", ("us.tcpa", "us.can_spam"), (8, 21), None),
        ("US", "FL", ("us.tcpa", "us.can_spam", "us.fl.ftsa"), (8, 20), 3),
        ("US", "OK", ("us.tcpa", "us.can_spam", "us.ok.tsa"), (8, 20), 3),
        ("US", "MD", ("us.tcpa", "us.can_spam", "us.md.stop_spam"), (8, 20), 3),
        ("KR", None, ("kr.network_act",), (8, 21), None),
        ("GB", None, (), None, None),
        (None, None, (), None, None),
    ],
)
def test_the_rules_that_apply_where_the_customer_is(country, subdivision, keys, hours, cap):
    law = jurisdiction_of(country, subdivision)
    assert law.keys == keys
    assert law.sms_hours() == hours
    assert law.max_marketing_per_day == cap


@pytest.mark.parametrize(
    ("region", "subdivision", "local_hour", "expected_open_hour"),
    [
        ("US", "NY", 20, None),  # TCPA: until 21:00
        ("US", "NY", 21, 8),
        ("US", "NY", 7, 8),
        ("US", "FL", 20, 8),  # Florida: until 20:00
        ("US", "OK", 20, 8),
        ("US", "MD", 20, 8),
        ("US", "FL", 19, None),
        ("KR", None, 21, 8),  # Korea: no ads 21:00-08:00
        ("KR", None, 7, 8),
        ("GB", None, 23, None),  # no rule here, and the policy is wide open
    ],
)
def test_marketing_sms_keeps_the_laws_local_hours(region, subdivision, local_hour, expected_open_hour):
    zone = "Asia/Seoul" if region == "KR" else "Europe/London" if region == "GB" else "America/New_York"
    now = at_local(local_hour, zone)
    state = a_state(region=region, subdivision=subdivision, timezone=zone, consents=SMS_ONLY)
    decision = decide(due(j.CSAT, now), state, now, WIDE_OPEN)
    if expected_open_hour is None:
        assert isinstance(decision, Send)
    else:
        assert isinstance(decision, Defer) and decision.reason is Reason.QUIET_HOURS
        from zoneinfo import ZoneInfo
        opens = decision.until.astimezone(ZoneInfo(zone))
        assert (opens.hour, opens.minute) == (expected_open_hour, 0) and decision.until > now


def test_korean_night_time_consent_lifts_the_night_rule_but_not_the_us_one():
    now = at_local(22, "Asia/Seoul")
    korean = a_state(region="KR", timezone="Asia/Seoul", consents=SMS_ONLY, night_marketing_consent=True)
    assert isinstance(decide(due(j.CSAT, now), korean, now, WIDE_OPEN), Send)
    now_ny = at_local(22)
    american = a_state(region="US", subdivision="NY", consents=SMS_ONLY, night_marketing_consent=True)
    assert isinstance(decide(due(j.CSAT, now_ny), american, now_ny, WIDE_OPEN), Defer)


def test_the_korean_night_rule_does_not_hold_email():
    now = at_local(22, "Asia/Seoul")
    state = a_state(region="KR", timezone="Asia/Seoul", consents=EMAIL_ONLY)
    assert isinstance(decide(due(j.CSAT, now), state, now, WIDE_OPEN), Send)


@pytest.mark.parametrize(("subdivision", "sends_today", "expected"), [
    ("FL", 2, "send"), ("FL", 3, "defer"), ("OK", 3, "defer"), ("MD", 3, "defer"), ("NY", 3, "send"),
])
def test_florida_oklahoma_and_maryland_allow_three_marketing_messages_a_day(subdivision, sends_today, expected):
    now = at_local(12)
    sent = tuple(now - timedelta(hours=h) for h in range(1, sends_today + 1))
    state = a_state(region="US", subdivision=subdivision, recent_marketing_sends=sent)
    decision = decide(due(j.SETUP_GUIDE, now), state, now, WIDE_OPEN)
    if expected == "send":
        assert isinstance(decision, Send)
    else:
        assert decision == Defer(min(sent) + timedelta(hours=24), Reason.FREQUENCY_CAP)  # the oldest of 3


@pytest.mark.parametrize(
    ("region", "channels", "given", "expected"),
    [
        ("US", EMAIL_ONLY, frozenset(Must) - {Must.POSTAL_ADDRESS}, Skip(Reason.NO_POSTAL_ADDRESS, Channel.EMAIL)),
        ("US", EMAIL_ONLY, frozenset({Must.POSTAL_ADDRESS}), "send"),
        ("GB", EMAIL_ONLY, frozenset(), "send"),
        ("KR", SMS_ONLY, frozenset(Must) - {Must.OPT_OUT_NUMBER}, Skip(Reason.NO_OPT_OUT_NUMBER, Channel.SMS)),
        ("KR", EMAIL_ONLY, frozenset(Must) - {Must.SENDER_CONTACT}, Skip(Reason.NO_SENDER_CONTACT, Channel.EMAIL)),
        ("KR", EMAIL_ONLY, frozenset(Must) - {Must.OPT_OUT_NUMBER}, "send"),  # the 080 number is for SMS
        ("KR", SMS_ONLY, frozenset(Must), "send"),
    ],
)
def test_an_ad_lacking_what_the_customers_law_requires_is_a_recorded_skip(region, channels, given, expected):
    now = at_local(12, "Asia/Seoul" if region == "KR" else "America/New_York")
    state = a_state(region=region, subdivision="NY" if region == "US" else None, consents=channels,
                    timezone="Asia/Seoul" if region == "KR" else "America/New_York",
                    has_phone=channels is SMS_ONLY)
    decision = decide(due(j.CSAT, now), state, now, Policy(legal_details=given))
    if expected == "send":
        assert isinstance(decision, Send)
    else:
        assert decision == expected


def test_transactional_messages_need_no_advertising_details():
    state = a_state(region="US", subdivision="NY", order=an_order(delivered_at=None))
    decision = decide(due(j.CONFIRMATION, at_local(12)), state, at_local(12), Policy(legal_details=frozenset()))
    assert isinstance(decision, Send)


@pytest.mark.parametrize(("step", "order", "local_hour", "expected"), [
    (j.SHIPPED, an_order(delivered_at=None), 6, "defer"),  # not urgent: waits for 08:00
    (j.SHIPPED, an_order(delivered_at=None), 9, "send"),
    (j.DELIVERED_NOTICE, an_order(), 23, "defer"),
    (j.DELAY_NOTICE, an_order(delivered_at=None), 6, "send"),  # urgent: never waits
])
def test_non_urgent_transactional_sms_wait_for_the_morning(step, order, local_hour, expected):
    now = at_local(local_hour)
    decision = decide(due(step, now), a_state(order=order), now, POLICY)
    if expected == "send":
        assert isinstance(decision, Send) and Channel.SMS in decision.channels
    else:
        assert isinstance(decision, Defer) and decision.reason is Reason.QUIET_HOURS


def test_the_morning_hour_is_a_setting():
    now = at_local(8)
    late = Policy(transactional_sms_start=9)
    assert isinstance(decide(due(j.SHIPPED, now), a_state(order=an_order(delivered_at=None)), now, late), Defer)


def test_urgency_is_declared_on_the_step_not_named_in_the_engine():
    assert j.default_journey().step(j.DELAY_NOTICE).urgent
    assert not j.default_journey().step(j.SHIPPED).urgent


def test_production_counts_only_the_configured_legal_details_and_says_which_are_missing(tmp_path, caplog):
    from aftercare.bootstrap import legal_details
    from aftercare.settings import Settings

    bare = Settings(home=tmp_path, environment="production", link_secret="k" * 40)
    assert legal_details(bare) == frozenset({Must.AD_PREFIX})
    assert "AFTERCARE_STORE_POSTAL_ADDRESS" in caplog.text and "AFTERCARE_SMS_OPT_OUT_NUMBER" in caplog.text
    full = Settings(home=tmp_path, environment="production", link_secret="k" * 40, store_postal_address="1 Main St",
                    sender_contact="+1 212 555 0100", sms_opt_out_number="080-123-4567")
    assert legal_details(full) == frozenset(Must)
    assert legal_details(Settings(home=tmp_path, environment="development")) == frozenset(Must)
