"""The store's tests run its own journey: override the kit's `aftercare_journey` fixture."""

from __future__ import annotations

import pytest

from aftercare.journeys import Journey
from skincare_journey import journey


@pytest.fixture
def aftercare_journey() -> Journey:
    return journey
