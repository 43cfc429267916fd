"""The store's tests run its own journey: override the kit's `aftercare_journey` fixture."""

from __future__ import annotations

import pytest
from skincare_journey import journey

from aftercare.journeys import Journey


@pytest.fixture
def aftercare_journey() -> Journey:
    return journey
