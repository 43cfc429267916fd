"""Which consent statement holds: what a customer told us is never undone by an older, replayed or echoed one.

Every statement we receive (a checkout box, the preferences page, an SMS keyword, the platform's copy of its
own consent, an unsubscribe link, a spam complaint) is kept; the current consent per (channel, purpose) is
a pure function of that set, so the order statements arrive in does not matter:

- The newest statement wins, by the statement's own time (a Shopify body's `consent_updated_at`, an event's
  timestamp), not by when we received it. Equal times fall back to the order we received them in.
- A platform statement without its own consent timestamp and an explicit state is an *echo*: the platform
  repeating what it last knew, which never learned of choices made with us. An echo counts only while no
  authoritative statement exists; it never overrides one, however new the body that carried it.
- SMS STOP (or the carrier's 21610, "the handset sent STOP") blocks every SMS until START, and START (or
  UNSTOP, YES: Twilio's opt-in keywords) only lifts that block: it restores what STOP removed and can never
  create consent the customer did not have. The keywords are a layer over the other statements, not one
  of them, so a STOP/START pair leaves underneath whatever the customer had said before, or said since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aftercare.domain.vocabulary import Channel


class ConsentSource(StrEnum):
    """Where a consent statement came from (the evidence GDPR Art. 7(1) asks us to keep)."""

    CHECKOUT = "checkout"  # a box ticked at checkout, passed on by our own storefront integration
    PREFERENCES = "preferences_page"
    SMS_KEYWORD = "sms_keyword"  # STOP / START and their synonyms
    PLATFORM = "platform"  # the shop platform's own consent record (Shopify customer consent)
    IMPORT = "import"  # a bulk import, or a consent carried over from before the history existed
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    EMAIL_PROVIDER = "email_provider"  # the email provider's unsubscribe / resubscribe events
    COMPLAINT = "complaint"  # a spam report
    CARRIER = "carrier_opt_out"  # Twilio 21610: the handset had sent STOP to the sending number


KEYWORD_SOURCES = frozenset({ConsentSource.SMS_KEYWORD, ConsentSource.CARRIER})
# Sources whose statement without a time of its own (or in a state nobody chose) is an echo, not a choice:
# the platform repeating itself, and an import carrying over such a platform record.
ECHO_SOURCES = frozenset({ConsentSource.PLATFORM, ConsentSource.IMPORT})
# A revocation from one of these is the customer opting out (reason "unsubscribed", not "no consent").
OPT_OUT_SOURCES = frozenset({
    ConsentSource.PREFERENCES, ConsentSource.UNSUBSCRIBE_LINK, ConsentSource.EMAIL_PROVIDER, ConsentSource.COMPLAINT,
})


@dataclass(frozen=True)
class Statement:
    """One thing we were told about one (channel, purpose). `seq` is our receipt order (breaks time ties)."""

    granted: bool
    source: ConsentSource
    stated_at: datetime
    seq: int = 0
    explicit: bool = True  # False for a platform echo: no consent timestamp of its own, or a default state

    @property
    def authoritative(self) -> bool:
        return self.source not in ECHO_SOURCES or self.explicit

    @property
    def keyword(self) -> bool:
        return self.source in KEYWORD_SOURCES


@dataclass(frozen=True)
class Resolved:
    granted: bool
    holding: Statement  # the statement the current state rests on (the STOP, while one is in force)
    opted_out: bool  # revoked by the customer's own opt-out (unsubscribe link, preferences, complaint...)


def newest(statements: Iterable[Statement]) -> Statement | None:
    """The statement that holds among the non-keyword ones: authoritative before echo, then newest."""
    return max((s for s in statements if not s.keyword), key=lambda s: (s.authoritative, s.stated_at, s.seq),
               default=None)


def sms_block(statements: Iterable[Statement]) -> Statement | None:
    """The STOP in force: the newest keyword statement, if it is a STOP (a START lifts it)."""
    last = max((s for s in statements if s.keyword), key=lambda s: (s.stated_at, s.seq), default=None)
    return last if last is not None and not last.granted else None


def resolve(channel: Channel, statements: Iterable[Statement]) -> Resolved | None:
    """The current consent for one (channel, purpose), or None when nobody ever said anything that counts."""
    said = list(statements)
    block = sms_block(said) if channel is Channel.SMS else None
    if block is not None:
        return Resolved(False, block, True)
    base = newest(said)
    if base is None:
        return None
    return Resolved(base.granted, base, not base.granted and base.source in OPT_OUT_SOURCES)
