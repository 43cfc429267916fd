"""The delivery promise as the customer reads it: a day in their own zone, kept until that day ends.

"Arrives by 11 December" holds until midnight at the end of 11 December where the customer lives, so a
delay grace counts from that moment, and a delivery at 00:12 the next day is late. A stall is counted in
days without tracking progress, optionally leaving out weekends (carriers do not move parcels then).
Pure functions: no database, no clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_of(name: str | None) -> ZoneInfo:
    """The customer's zone; an unknown one is UTC (never a failed decision)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def start_of_day(day: date, zone: str | None) -> datetime:
    """Midnight at the start of `day` in `zone`, as UTC (DST-safe: the wall clock, then the offset)."""
    return datetime.combine(day, time(0), tzinfo=zone_of(zone)).astimezone(UTC)


def promised_day(promised_at: datetime, zone: str | None) -> date:
    return promised_at.astimezone(zone_of(zone)).date()


def day_ends_at(promised_at: datetime, zone: str | None) -> datetime:
    """The end of the promised day in the customer's zone: the first moment the promise is broken."""
    return start_of_day(promised_day(promised_at, zone) + timedelta(days=1), zone)


def kept(promised_at: datetime, delivered_at: datetime, zone: str | None) -> bool:
    return delivered_at < day_ends_at(promised_at, zone)


def parse_promise(value: object, zone: str | None) -> datetime | None:
    """A promise written on an order: a day (`2026-12-11`) read in the customer's zone, or an ISO time.
    Anything else is no promise (a malformed attribute never costs an order)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return start_of_day(date.fromisoformat(text), zone)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone_of(zone))
    return moment.astimezone(UTC)


def promise_by_method(placed_at: datetime, days: float, zone: str | None) -> datetime:
    """A shipping method's promise: the day `days` after the order day, in the customer's zone."""
    local_day = placed_at.astimezone(zone_of(zone)).date()
    return start_of_day(local_day + timedelta(days=round(days)), zone)


def stalled_at(last_progress: datetime, days: float, zone: str | None, *, skip_weekends: bool = False) -> datetime:
    """When a shipment last moved at `last_progress` counts as stalled: `days` later, or, skipping weekends,
    that many working days later in the customer's zone (a Friday scan is not stalled on Monday morning)."""
    if not skip_weekends:
        return last_progress + timedelta(days=days)
    tz = zone_of(zone)
    local = last_progress.astimezone(tz)
    whole, part = int(days), days - int(days)
    moment = local
    counted = 0
    while counted < whole:
        moment = moment + timedelta(days=1)
        if moment.weekday() < 5:
            counted += 1
    moment = moment + timedelta(days=part)
    while moment.weekday() >= 5:  # landing on a weekend: the next Monday, same wall-clock time
        moment = moment + timedelta(days=1)
    return datetime.combine(moment.date(), local.timetz().replace(tzinfo=None), tzinfo=tz).astimezone(UTC)
