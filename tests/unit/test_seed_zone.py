"""The benchmark seed's customers are in daytime whenever a test seeds by the system clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from benchmarks.seed import NOW, daytime_zone


def test_the_benchmark_moment_keeps_new_york():
    assert daytime_zone(NOW) == "America/New_York"


def test_at_any_hour_the_seeded_customers_local_time_is_daytime():
    for minutes in range(0, 24 * 60, 17):
        now = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=minutes)
        local = now.astimezone(ZoneInfo(daytime_zone(now)))
        assert 9 <= local.hour < 20, (now, local)
