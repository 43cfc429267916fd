"""Outside development, `serve`, `sweep` and the flows refuse to start with a weak link or webhook secret."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aftercare import bootstrap
from aftercare.cli import app
from aftercare.secrets_check import UnsafeSecrets
from aftercare.settings import DEVELOPMENT_LINK_SECRET, get_settings

runner = CliRunner()
GOOD = secrets.token_urlsafe(48)


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean environment in a folder with no `.env`: what a fresh user's shell gives the app."""
    for key in [k for k in os.environ if k.startswith("AFTERCARE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bootstrap, "_current", None)
    get_settings.cache_clear()
    yield {"AFTERCARE_HOME": str(tmp_path / "home")}
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("AFTERCARE_LINK_SECRET", None, "AFTERCARE_LINK_SECRET is not set"),
        ("AFTERCARE_LINK_SECRET", "   ", "AFTERCARE_LINK_SECRET is blank"),
        ("AFTERCARE_LINK_SECRET", DEVELOPMENT_LINK_SECRET, "AFTERCARE_LINK_SECRET is a placeholder"),
        ("AFTERCARE_LINK_SECRET", "x" * 31, "AFTERCARE_LINK_SECRET is shorter than 32 bytes"),
        ("AFTERCARE_SHOPIFY_WEBHOOK_SECRET", "short-shopify-secret", "AFTERCARE_SHOPIFY_WEBHOOK_SECRET is shorter"),
        ("AFTERCARE_TWILIO_AUTH_TOKEN", "0123456789abcdef", "AFTERCARE_TWILIO_AUTH_TOKEN is shorter"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["sweep"]])
def test_serve_and_sweep_refuse_a_weak_secret_and_say_how_to_make_one(
    production: dict[str, str], setting: str, value: str | None, says: str, command: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    monkeypatch.setattr("flows.journey_sweep.journey_sweep", lambda **k: started.append(k))
    env = {**production, "AFTERCARE_LINK_SECRET": GOOD}
    if value is None:
        del env[setting]
    else:
        env[setting] = value
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 2, result.output
    assert says in result.output and "secrets.token_urlsafe(48)" in result.output
    assert started == []
    for secret in (GOOD, value or GOOD):
        assert secret.strip() == "" or secret not in result.output  # never echo a secret


def test_the_flows_get_no_services_with_the_built_in_link_secret(production: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in production.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UnsafeSecrets, match="AFTERCARE_LINK_SECRET is not set"):
        bootstrap.get_services()


def test_serve_starts_with_strong_secrets_and_unset_webhook_secrets(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(k))
    result = runner.invoke(app, ["serve"], env={**production, "AFTERCARE_LINK_SECRET": GOOD,
                                                "AFTERCARE_TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2})
    assert result.exit_code == 0, result.output
    assert len(started) == 1


def test_development_signs_links_with_the_built_in_secret_without_complaint(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(k))
    result = runner.invoke(app, ["serve"], env={**production, "AFTERCARE_ENVIRONMENT": "development"})
    assert result.exit_code == 0, result.output
    assert get_settings().link_signing_key == DEVELOPMENT_LINK_SECRET.encode()
