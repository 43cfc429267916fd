"""Shared fixtures: a fresh SQLite database per test, a frozen clock, recording fake providers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.settings import Settings

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York, 00:00 in Seoul


def services_required() -> bool:
    """In CI (AFTERCARE_REQUIRE_SERVICES=1) a missing Postgres, Prism or Prefect server fails, not skips."""
    return os.environ.get("AFTERCARE_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": home, "database_url": f"sqlite:///{(home / 'test.db').as_posix()}",
                                 "outbox_dir": home / "outbox", "holdout_share": 0.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def email() -> FakeEmailSender:
    return FakeEmailSender()


@pytest.fixture
def sms() -> FakeSmsSender:
    return FakeSmsSender()


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


def run_until(services: Services, clock: FrozenClock, until: datetime, tick: timedelta = timedelta(hours=1)) -> None:
    """Advance simulated time to `until`, sweeping every tick, as the scheduled deployment would."""
    services.sweeper.run()
    while clock.now() < until:
        clock.advance(min(tick, until - clock.now()))
        services.sweeper.run()
