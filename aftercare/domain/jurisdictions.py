"""The law where the customer is, as data: one row per rule, each with its source.

A row says when marketing SMS may go (local hours), how many marketing messages a day at most, and what an
advertising message must carry (a prefix, the sender's name and contact, a free opt-out number, the store's
postal address). `jurisdiction_of(country, subdivision)` combines the rows that apply into the strictest
terms; the pure decision (aftercare/domain/decisions.py) defers or skips by them and the renderer's context
carries what a message must show. Adding a jurisdiction is adding a row and its decision test.

Not legal advice: the rows are a store's starting point, to be checked with counsel for its own sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Must(StrEnum):
    """What an advertising message must carry where a rule applies."""

    AD_PREFIX = "ad_prefix"  # "(광고)" at the start of the subject and the SMS
    SENDER_CONTACT = "sender_contact"  # the sender's name and contact details
    OPT_OUT_NUMBER = "opt_out_number"  # a free (toll-free) number to refuse further ads, in ad SMS
    POSTAL_ADDRESS = "postal_address"  # the sender's valid physical postal address, in marketing email


@dataclass(frozen=True)
class Rule:
    key: str
    country: str
    subdivisions: frozenset[str] = frozenset()  # empty: the whole country
    sms_hours: tuple[int, int] | None = None  # local [start, end) hours marketing SMS may be sent
    night_consent_lifts_hours: bool = False  # separate night-time consent lifts `sms_hours`
    max_marketing_per_day: int | None = None  # marketing messages in any 24 hours, all channels
    email_must: frozenset[Must] = frozenset()
    sms_must: frozenset[Must] = frozenset()
    ad_prefix: str = ""
    source: str = ""

    def applies_to(self, country: str | None, subdivision: str | None) -> bool:
        if (country or "").upper() != self.country:
            return False
        return not self.subdivisions or (subdivision or "").upper() in self.subdivisions


RULES: tuple[Rule, ...] = (
    Rule("us.tcpa", "US", sms_hours=(8, 21),
         source="47 U.S.C. 227; 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. "
                "local time at the called party's location. "
                "https://www.ecfr.gov/current/title-47/chapter-I/subchapter-B/part-64/subpart-L/section-64.1200"),
    Rule("us.can_spam", "US", email_must=frozenset({Must.POSTAL_ADDRESS}),
         source="CAN-SPAM Act, 15 U.S.C. 7704(a)(5)(A)(iii); 16 CFR 316: commercial email includes the sender's "
                "valid physical postal address. https://www.ftc.gov/business-guidance/resources/"
                "can-spam-act-compliance-guide-business"),
    Rule("us.fl.ftsa", "US", frozenset({"FL"}), sms_hours=(8, 20), max_marketing_per_day=3,
         source="Florida Telephone Solicitation Act, Fla. Stat. 501.616(6): 8 a.m.-8 p.m. local, at most 3 "
                "commercial calls/texts on the same subject in 24 hours. "
                "https://www.flsenate.gov/Laws/Statutes/2024/501.616"),
    Rule("us.ok.tsa", "US", frozenset({"OK"}), sms_hours=(8, 20), max_marketing_per_day=3,
         source="Oklahoma Telephone Solicitation Act of 2022, Okla. Stat. tit. 15, 775C.4: 8 a.m.-8 p.m. local, "
                "at most 3 in 24 hours. https://www.oscn.net/applications/oscn/DeliverDocument.asp?CiteID=490346"),
    Rule("us.md.stop_spam", "US", frozenset({"MD"}), sms_hours=(8, 20), max_marketing_per_day=3,
         source="Maryland Stop the Spam Calls Act of 2023, Md. Code Com. Law 14-4503: 8 a.m.-8 p.m. local, at "
                "most 3 in 24 hours. https://mgaleg.maryland.gov/mgawebsite/Laws/StatuteText?article=gcl"
                "&section=14-4503"),
    Rule("kr.network_act", "KR", sms_hours=(8, 21), night_consent_lifts_hours=True,
         email_must=frozenset({Must.AD_PREFIX, Must.SENDER_CONTACT}),
         sms_must=frozenset({Must.AD_PREFIX, Must.OPT_OUT_NUMBER}),  # the store's name opens the SMS
         ad_prefix="(광고)",  # KOREAN_AD_PREFIX
         source="Act on Promotion of Information and Communications Network Utilization (정보통신망법) Art. 50(3) "
                "and (4), Enforcement Decree Art. 61-62: '(광고)' first, the sender's name and contact, a free "
                "way to refuse (080 number in SMS); no ads 21:00-08:00 without separate consent (email "
                "exempt from the night rule). https://www.law.go.kr/법령/정보통신망이용촉진및정보보호등에관한법률"),
)


@dataclass(frozen=True)
class Jurisdiction:
    """The strictest terms of every rule that applies to one customer."""

    rules: tuple[Rule, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.rules)

    def sms_hours(self, night_consent: bool = False) -> tuple[int, int] | None:
        """The narrowest local window of the rules (latest start, earliest end); None: no rule limits hours."""
        windows = [r.sms_hours for r in self.rules
                   if r.sms_hours is not None and not (night_consent and r.night_consent_lifts_hours)]
        if not windows:
            return None
        return max(w[0] for w in windows), min(w[1] for w in windows)

    @property
    def max_marketing_per_day(self) -> int | None:
        caps = [r.max_marketing_per_day for r in self.rules if r.max_marketing_per_day is not None]
        return min(caps) if caps else None

    def must(self, channel: str) -> frozenset[Must]:
        out: set[Must] = set()
        for r in self.rules:
            out |= r.sms_must if channel == "sms" else r.email_must
        return frozenset(out)

    @property
    def ad_prefix(self) -> str:
        return next((r.ad_prefix for r in self.rules if r.ad_prefix), "")


NONE = Jurisdiction()


@lru_cache(maxsize=1024)
def jurisdiction_of(country: str | None, subdivision: str | None = None) -> Jurisdiction:
    """Every rule for a customer in `country` (ISO 3166-1) and `subdivision` (state code)."""
    if not country:
        return NONE
    return Jurisdiction(tuple(r for r in RULES if r.applies_to(country, subdivision)))


KOREAN_AD_PREFIX = "(광고)"


def ad_prefix(country: str | None, subdivision: str | None, locale: str | None) -> str:
    """The prefix an advertising message opens with: the customer's law's, and for a Korean-language
    message whose customer's country is unknown, Korea's (an ad written in Korean is aimed at Korea)."""
    prefix = jurisdiction_of(country, subdivision).ad_prefix
    if not prefix and not country and (locale or "").split("-")[0].lower() == "ko":
        return KOREAN_AD_PREFIX
    return prefix
