"""What to do with a message whose outcome is unknown (a crash or a timeout after the provider call began).

A pure function of what the ledger row says, what the provider says and the time; no database, no SDK.

- SMS: Twilio keeps every message it accepted, so we ask it (Messages list by recipient and time). A message
  with our body is ours: record it as sent. No outbound message from us to that number in the window: it
  never left, resend it. An outbound message we cannot explain (another body, not in our ledger) makes it
  ambiguous (Twilio may have rewritten the body: smart encoding, opt-out text): the operator decides.
- Email: SendGrid reports every message it accepts (`processed`, `delivered`, ...) with our ledger id in
  `custom_args` within minutes, and any such event moves the row out of `unknown`. So a row still `unknown`
  past the window was never accepted, but only if the event webhook is known to be live (events received
  recently, and since this message was attempted); otherwise the operator decides.
- Never more than one resend without the operator; the operator's `--resend` sends what is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aftercare.domain.vocabulary import Channel


@dataclass(frozen=True)
class Found:
    provider_id: str


@dataclass(frozen=True)
class Resend:
    by_operator: bool = False


@dataclass(frozen=True)
class Wait:
    reason: str  # too early to tell: look again next run


@dataclass(frozen=True)
class Hold:
    reason: str  # cannot tell safely: listed for the operator (`aftercare reconcile --resend`)


Verdict = Found | Resend | Wait | Hold


@dataclass(frozen=True)
class UnknownMessage:
    ledger_id: int
    channel: Channel
    attempted_at: datetime
    resends: int
    body_digest: str | None = None


@dataclass(frozen=True)
class ProviderView:
    """What we know from the provider side. `sms_candidates` is None when the SMS provider was not asked
    (no lookup, or the lookup failed); else (provider id, body digest) of its outbound messages to the
    recipient in the window. `explained_ids` are provider ids the ledger already holds for other rows."""

    sms_candidates: tuple[tuple[str, str], ...] | None = None
    explained_ids: frozenset[str] = frozenset()
    sendgrid_last_event_at: datetime | None = None


@dataclass(frozen=True)
class Windows:
    email: timedelta = timedelta(hours=1)  # SendGrid reports an accepted message within minutes
    webhook_live: timedelta = timedelta(hours=3)  # the event webhook counts as live if it spoke this recently
    sms: timedelta = timedelta(minutes=30)  # ask Twilio once a queued message has surely been created


def judge(message: UnknownMessage, provider: ProviderView, now: datetime, windows: Windows,
          operator_resend: bool = False) -> Verdict:
    age = now - message.attempted_at
    if message.channel is Channel.SMS:
        if age < windows.sms:
            return Wait("sms_lookup_window")
        if provider.sms_candidates is None:
            return Resend(by_operator=True) if operator_resend else Hold("sms_lookup_unavailable")
        for provider_id, digest in provider.sms_candidates:
            if message.body_digest is not None and digest == message.body_digest \
                    and provider_id not in provider.explained_ids:
                return Found(provider_id)
        unexplained = [pid for pid, _ in provider.sms_candidates if pid not in provider.explained_ids]
        if unexplained:
            return Resend(by_operator=True) if operator_resend else Hold("sms_ambiguous")
        return _resend(message, operator_resend)
    if age < windows.email:
        return Wait("email_event_window")
    last = provider.sendgrid_last_event_at
    live = last is not None and last >= now - windows.webhook_live and last > message.attempted_at
    if not live:
        return Resend(by_operator=True) if operator_resend else Hold("event_webhook_not_live")
    return _resend(message, operator_resend)


def _resend(message: UnknownMessage, operator_resend: bool) -> Verdict:
    if message.resends >= 1:
        return Resend(by_operator=True) if operator_resend else Hold("already_resent_once")
    return Resend()
