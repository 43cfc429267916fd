"""One temporary Prefect API for every flow test in the session (starting one costs seconds, and on a busy
2-core machine far more than Prefect's default 20: the harness gets 120)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness

from tests.conftest import STARTUP_TIMEOUT


@pytest.fixture(scope="session", autouse=True)
def prefect_api(request: pytest.FixtureRequest) -> Iterator[None]:
    # The real-server test starts its own server; it needs no harness.
    if all(item.get_closest_marker("prefect_server") for item in request.session.items
           if "tests/flows" in str(item.fspath)):
        yield
        return
    with prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT):
        yield
