"""Babel's number, currency and date formats, looked up once per locale and applied cheaply per message.

Babel is right about how each locale writes money and dates, but it re-reads its locale data on every
call (tens of thousands of dictionary lookups per message): measured, money, numbers and dates were about
two fifths of a sweep's CPU time. Here Babel still decides everything (pattern, symbols, grouping,
currency precision, the short time and date patterns); what is cached is its decision, per locale and
currency, and every value is then formatted with Python's own decimal formatting. Anything this fast
path does not model (uneven grouping such as India's lakh, scientific or significant-digit patterns,
infinities) goes to Babel itself. Each compiled format is also checked against Babel itself on probe
values when it is built, so a Babel release that writes a locale differently (2.19 stopped grouping
1,000,000 in de_CH) sends that locale back to Babel instead of drifting from it.
`tests/unit/test_formats.py` checks the two agree on random values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, get_datetime_format, get_timezone_name
from babel.numbers import (
    NumberPattern,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
)

_QUOTED = re.compile(r"'([^']*)'")


def _unquote(text: str) -> str:
    """Babel's last step: text quoted in a CLDR pattern loses its quotes ('' is a literal quote)."""
    return _QUOTED.sub(lambda m: m.group(1) or "'", text)


@lru_cache(maxsize=64)
def locale(name: str) -> Locale:
    """Parsed once per locale: Babel parses a locale string anew on every call otherwise."""
    return Locale.parse(name)


@dataclass(frozen=True)
class _NumberFormat:
    """One locale's (and currency's) way of writing a number, as Babel would, with Babel's rounding."""

    prefix: tuple[str, str]  # (positive, negative), currency symbol already substituted
    suffix: tuple[str, str]
    decimal: str
    group: str
    min_frac: int
    quantum: Decimal

    def apply(self, value: Decimal) -> str:
        negative = int(value.is_signed())
        rounded = abs(value).normalize().quantize(self.quantum, rounding=ROUND_HALF_EVEN)
        whole, _, frac = f"{rounded:,f}".partition(".")
        if len(frac) > self.min_frac:
            frac = frac.rstrip("0").ljust(self.min_frac, "0")
        number = whole.replace(",", self.group) + (self.decimal + frac if frac else "")
        return f"{self.prefix[negative]}{number}{self.suffix[negative]}"


def _compile(pattern: NumberPattern, loc: Locale, frac: tuple[int, int], currency: str | None) -> _NumberFormat | None:
    """Babel's pattern as a `_NumberFormat`, or None when the pattern needs Babel's general path."""
    primary, secondary = pattern.grouping
    if (pattern.exp_prec or "@" in pattern.pattern or pattern.scale or primary != 3 or secondary != 3
            or pattern.int_prec[0] != 1 or pattern.number_pattern == ""):
        return None
    symbols = loc.number_symbols["latn"]

    def text(part: str) -> str:
        if "¤" in part:
            if currency is None or "¤¤" in part:
                raise _Unsupported
            part = part.replace("¤", get_currency_symbol(currency, loc))
        return _unquote(part)

    try:
        prefix = (text(pattern.prefix[0]), text(pattern.prefix[1]))
        suffix = (text(pattern.suffix[0]), text(pattern.suffix[1]))
    except _Unsupported:
        return None
    return _NumberFormat(prefix, suffix, symbols["decimal"], symbols["group"], frac[0],
                         Decimal(1).scaleb(-frac[1]))


class _Unsupported(Exception):
    """A pattern feature the fast path leaves to Babel."""


# Values whose Babel output a compiled format must reproduce before it is trusted: signs, rounding,
# no fraction, and every grouping length a message shows (thousands to billions).
_PROBES = tuple(Decimal(v) for v in ("0", "-0.5", "0.125", "7", "999.995", "1000", "12345.678", "-98765.4321",
                                     "1000000", "1234567.891", "1000000000", "-2000000000.5"))


def _agrees(fmt: _NumberFormat | None, reference: Callable[[Decimal], str]) -> _NumberFormat | None:
    """The compiled format if it writes every probe as Babel does, else None (use Babel itself)."""
    if fmt is None or any(fmt.apply(value) != reference(value) for value in _PROBES):
        return None
    return fmt


@lru_cache(maxsize=256)
def _money_format(lang: str, currency: str) -> _NumberFormat | None:
    loc = locale(lang)
    digits = get_currency_precision(currency)
    fmt = _compile(loc.currency_formats["standard"], loc, (digits, digits), currency)
    return _agrees(fmt, lambda value: format_currency(value, currency, locale=loc))


@lru_cache(maxsize=64)
def _decimal_format(lang: str) -> _NumberFormat | None:
    loc = locale(lang)
    pattern = loc.decimal_formats[None]
    return _agrees(_compile(pattern, loc, pattern.frac_prec, None), lambda value: format_decimal(value, locale=loc))


def _decimal(value: Decimal | int | float | str) -> Decimal | None:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return number if number.is_finite() else None


def money(value: Decimal | int | float | str, currency: str, lang: str) -> str:
    """What `babel.numbers.format_currency(value, currency, locale=lang)` returns."""
    fmt = _money_format(lang, currency.upper())
    number = _decimal(value)
    if fmt is None or number is None:
        return format_currency(value, currency, locale=locale(lang))
    return fmt.apply(number)


def number(value: Decimal | int | float | str, lang: str) -> str:
    """What `babel.numbers.format_decimal(value, locale=lang)` returns."""
    fmt = _decimal_format(lang)
    parsed = _decimal(value)
    if fmt is None or parsed is None:
        return format_decimal(value, locale=locale(lang))
    return fmt.apply(parsed)


@lru_cache(maxsize=8192)
def medium_date(day: date, lang: str) -> str:
    """What `babel.dates.format_date(day, "medium", locale=lang)` returns (dates repeat: cached by day)."""
    return format_date(day, format="medium", locale=locale(lang))


@lru_cache(maxsize=8192)
def _short_date(day: date, lang: str) -> str:
    return format_date(day, format="short", locale=locale(lang))


@lru_cache(maxsize=8192)
def _short_time(hour: int, minute: int, lang: str) -> str:
    return format_time(time(hour, minute), format="short", locale=locale(lang))


@lru_cache(maxsize=64)
def _short_time_is_hours_and_minutes(lang: str) -> bool:
    """Whether the locale's short time shows only hours, minutes and a day period (so a naive time of the
    same hour and minute formats the same): true for every CLDR locale we ship, checked, not assumed."""
    pattern = locale(lang).time_formats["short"].pattern
    letters = set(re.sub(r"'[^']*'", "", pattern)) & set("abBhHkKmsSAzZOvVXxG")
    return letters <= set("abBhHkKm")


@lru_cache(maxsize=64)
def _short_datetime_pattern(lang: str) -> str:
    return get_datetime_format("short", locale=locale(lang)).replace("'", "")


def short_datetime(local: datetime, lang: str) -> str:
    """What `babel.dates.format_datetime(local, "short", locale=lang)` returns for a datetime already in
    the customer's zone: Babel's own composition of its short date and short time, each cached."""
    if not _short_time_is_hours_and_minutes(lang):
        return format_datetime(local, format="short", locale=locale(lang))
    return (_short_datetime_pattern(lang)
            .replace("{0}", _short_time(local.hour, local.minute, lang))
            .replace("{1}", _short_date(local.date(), lang)))


# Regional formats (issue 15): the customer's language and country choose the locale whose dates, money and
# numbers they read ("en" + "GB" -> en_GB: 28 February 2026, not 2/28/26), where Babel knows that locale.


@lru_cache(maxsize=512)
def regional_locale(lang: str, region: str | None) -> str:
    """`<lang>_<REGION>` if Babel has it (en_GB, ko_KR, ar_SA, ar_AE, pt_BR), else `lang` (its default)."""
    language = lang.replace("-", "_").split("_")[0].lower()
    country = (region or "").strip().upper()
    if country.isalpha() and len(country) == 2:
        try:
            return str(Locale.parse(f"{language}_{country}"))
        except (ValueError, UnknownLocaleError):
            pass
    return lang


@lru_cache(maxsize=8192)
def long_date(day: date, lang: str) -> str:
    """A date no reader can misread: the month in words and a four-digit year ("28 February 2026")."""
    return format_date(day, format="long", locale=locale(lang))


@lru_cache(maxsize=2048)
def _zone_label(zone_key: str, daylight: bool, lang: str, sample: datetime) -> str:
    short = get_timezone_name(sample, width="short", locale=locale(lang))
    if any(ch.isalpha() for ch in short) and not any(ch.isdigit() for ch in short):
        return short  # EST, GMT, BRT
    return get_timezone_name(sample, width="long", locale=locale(lang))  # 한국 표준시, not +0900


def zone_label(local: datetime, lang: str) -> str:
    """The customer's zone as the locale names it: an abbreviation where it has one, else its name."""
    key = str(getattr(local.tzinfo, "key", local.tzinfo))
    daylight = bool(local.dst())
    sample = local.replace(minute=0, second=0, microsecond=0)
    return _zone_label(key, daylight, lang, sample)


@lru_cache(maxsize=64)
def _long_datetime_pattern(lang: str) -> str:
    return get_datetime_format("long", locale=locale(lang)).replace("'", "")


def long_datetime(local: datetime, lang: str) -> str:
    """A time in the customer's zone with its date in words and the zone shown:
    "February 28, 2026, 10:30 AM EST", "2026년 3월 1일 오전 12:30 한국 표준시"."""
    time_text = _short_time(local.hour, local.minute, lang) if _short_time_is_hours_and_minutes(lang) \
        else format_time(local, format="short", locale=locale(lang))
    text = _long_datetime_pattern(lang).replace("{0}", time_text).replace("{1}", long_date(local.date(), lang))
    return f"{text} {zone_label(local, lang)}"


@lru_cache(maxsize=1024)
def country_name(code: str, lang: str) -> str:
    """A country code as the reader's language names it (Babel's territory names); unknown codes as given."""
    return locale(lang).territories.get(code.strip().upper(), code) if code else code


_CARD_ENDING = re.compile(r"^\s*(?P<brand>[^\d,]+?)\s+(?:ending|ending in|ends in|\*+|x+)\s*(?P<last4>\d{4})\s*$",
                          re.IGNORECASE)
_CARD_WORDING = {
    "en": "{brand} ending {last4}",
    "ko": "{brand} 끝자리 {last4}",
    "ar": "{brand} المنتهية بـ {last4}",
    "pt": "{brand} com final {last4}",
}


@lru_cache(maxsize=4096)
def payment_summary(text: str, lang: str) -> str:
    """"Visa ending 4242" in the reader's language; anything else (a gateway's name) as given."""
    match = _CARD_ENDING.match(text or "")
    wording = _CARD_WORDING.get(lang.replace("-", "_").split("_")[0].lower())
    if match is None or wording is None:
        return text
    return wording.format(brand=match["brand"].strip(), last4=match["last4"])
