"""`judge`: what becomes of a message whose outcome is unknown, as a table (issue 11, item 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftercare.domain.reconcile import Found, Hold, ProviderView, Resend, UnknownMessage, Wait, Windows, judge
from aftercare.domain.vocabulary import Channel

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
W = Windows(email=timedelta(hours=1), webhook_live=timedelta(hours=3), sms=timedelta(minutes=30))
H = timedelta(hours=1)


def sms(ago: timedelta = H, resends: int = 0, digest: str | None = "ours") -> UnknownMessage:
    return UnknownMessage(1, Channel.SMS, NOW - ago, resends, digest)


def email(ago: timedelta = 2 * H, resends: int = 0) -> UnknownMessage:
    return UnknownMessage(2, Channel.EMAIL, NOW - ago, resends)


def seen(*candidates: tuple[str, str], explained: frozenset[str] = frozenset()) -> ProviderView:
    return ProviderView(sms_candidates=tuple(candidates), explained_ids=explained)


def live(at: datetime = NOW - timedelta(minutes=5)) -> ProviderView:
    return ProviderView(sendgrid_last_event_at=at)


@pytest.mark.parametrize(("message", "view", "operator", "verdict"), [
    # SMS: found by our body; never by a message the ledger already holds for another row
    (sms(), seen(("SM1", "other"), ("SM2", "ours")), False, Found("SM2")),
    (sms(), seen(("SM2", "ours"), explained=frozenset({"SM2"})), False, Resend()),
    (sms(), seen(), False, Resend()),
    (sms(resends=1), seen(), False, Hold("already_resent_once")),
    (sms(resends=1), seen(), True, Resend(by_operator=True)),
    (sms(), seen(("SM9", "rewritten")), False, Hold("sms_ambiguous")),
    (sms(), seen(("SM9", "rewritten")), True, Resend(by_operator=True)),
    (sms(digest=None), seen(("SM9", "x")), False, Hold("sms_ambiguous")),
    (sms(ago=timedelta(minutes=10)), seen(), False, Wait("sms_lookup_window")),
    (sms(), ProviderView(), False, Hold("sms_lookup_unavailable")),
    (sms(), ProviderView(), True, Resend(by_operator=True)),
    # Email: resent only past the window, with the webhook live (recently, and since the attempt)
    (email(), live(), False, Resend()),
    (email(ago=timedelta(minutes=59)), live(), False, Wait("email_event_window")),
    (email(), live(NOW - timedelta(hours=4)), False, Hold("event_webhook_not_live")),
    (email(), live(NOW - timedelta(hours=2, minutes=1)), False, Hold("event_webhook_not_live")),  # before it
    (email(), ProviderView(), False, Hold("event_webhook_not_live")),
    (email(), ProviderView(), True, Resend(by_operator=True)),
    (email(resends=1), live(), False, Hold("already_resent_once")),
    (email(resends=1), live(), True, Resend(by_operator=True)),
    (email(ago=timedelta(minutes=5)), ProviderView(), True, Wait("email_event_window")),
])
def test_judge(message, view, operator, verdict):
    assert judge(message, view, NOW, W, operator_resend=operator) == verdict
