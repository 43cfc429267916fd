"""Session-scoped Prism mocks of Twilio Messages and SendGrid Mail Send (see `contract_support`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.integration.contract_support import MockProvider, mock_spec, recorder, start_prism, stop


@contextmanager
def _serve(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    spec = mock_spec(name)
    process, port = start_prism(spec, tmp_path_factory.mktemp("prism") / f"{spec.stem}.log")
    provider = MockProvider(url="", spec=spec)
    server = recorder(port, provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        stop(process)


@pytest.fixture(scope="session")
def _twilio_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    with _serve("twilio_messages.mock.json", tmp_path_factory) as provider:
        yield provider


@pytest.fixture(scope="session")
def _sendgrid_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    with _serve("sendgrid_mail.mock.json", tmp_path_factory) as provider:
        yield provider


@pytest.fixture
def twilio_mock(_twilio_prism: MockProvider) -> MockProvider:
    _twilio_prism.take()
    return _twilio_prism


@pytest.fixture
def sendgrid_mock(_sendgrid_prism: MockProvider) -> MockProvider:
    _sendgrid_prism.take()
    return _sendgrid_prism
