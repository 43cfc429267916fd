"""The pytest plugin (entry point `pytest11`): `journey_kit`, a `JourneyKit` on a temporary database.

Override `aftercare_journey` (a `Journey`, or None for the built-in one) and `aftercare_start` (a
timezone-aware start time) in a conftest to run your journey from your moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aftercare.journeys.journey import Journey
from aftercare.testing.kit import JourneyKit


@pytest.fixture
def aftercare_journey() -> Journey | None:
    return None


@pytest.fixture
def aftercare_start() -> datetime:
    return datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York


@pytest.fixture
def journey_kit(tmp_path: Path, aftercare_journey: Journey | None, aftercare_start: datetime) -> Iterator[JourneyKit]:
    kit = JourneyKit.start(tmp_path, journey=aftercare_journey, start=aftercare_start)
    try:
        yield kit
    finally:
        kit.close()
