"""Shared fixtures: a fresh SQLite database per test, a frozen clock, recording fake providers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.settings import Settings

# CI runs the same examples every time (a red build is then reproducible, not a dice roll); a developer's run
# keeps exploring new ones. `HYPOTHESIS_PROFILE=ci` picks the CI profile locally.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

# Every Prefect server a test starts (the flow tests' harness, the server and workers tests) gets this long to
# answer: a busy 2-core machine needs far more than Prefect's default 20 s. Any temporary server Prefect
# might still start on its own gets it too.
STARTUP_TIMEOUT = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT))

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
                                 "outbox_dir": home / "outbox", "holdout_share": 0.0,
                                 "environment": "development"}
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


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh Postgres database at head (dropped afterwards), with a `provider_sent` table the fake providers of
    the scale tests write to; skipped with a reason, or failed in CI, when no Postgres is reachable."""
    url = os.environ.get("AFTERCARE_TEST_POSTGRES_URL")
    if not url:
        skip_or_fail("AFTERCARE_TEST_POSTGRES_URL is not set")
    try:
        import psycopg

        admin = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                connect_timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no Postgres here"
        skip_or_fail(f"no Postgres reachable at AFTERCARE_TEST_POSTGRES_URL: {type(exc).__name__}: {exc}")
    name = f"aftercare_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    test_url = f"{url.rpartition('/')[0]}/{name}"
    try:
        from aftercare.db.engine import make_engine, migrate

        engine = make_engine(test_url)
        migrate(engine)  # the Alembic migrations, on Postgres
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE provider_sent (id bigserial PRIMARY KEY, message_id text NOT NULL, "
                                 "channel text NOT NULL, worker text NOT NULL)")
        engine.dispose()
        yield test_url
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
