"""Is a Prefect API configured? The CLI's sweep, run-journey and demo run as Prefect flows only when it is.

With no `PREFECT_API_URL` in Prefect's settings, calling a flow starts a temporary Prefect server (tens of
seconds on a busy machine, and a time-out under load) only to record a run nobody will look at; the CLI then
runs the same services directly instead.

Importing Prefect alone costs more than the rest of `aftercare --help`, so the usual cases are read here
without it: the environment variable and the active profile in Prefect's profiles file. Any other place
Prefect reads settings from (`.env`, `prefect.toml`, `pyproject.toml`, a profiles path of its own, a profile
this file does not hold), or a Prefect already imported (the tests' harness sets the API in-process), is
asked of Prefect's own settings.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

_DEFAULT_PROFILE = "ephemeral"  # Prefect's default profile: no API URL, a temporary server


def prefect_api_url() -> str | None:
    """The Prefect API URL the current settings name, or None (Prefect would start a temporary server)."""
    if url := os.environ.get("PREFECT_API_URL"):
        return url
    if "prefect.settings" in sys.modules or _other_sources_may_set_it():
        return _from_prefect()
    profiles_file = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect") / "profiles.toml"
    active = os.environ.get("PREFECT_PROFILE")
    if not profiles_file.is_file():
        return None if (active or _DEFAULT_PROFILE) == _DEFAULT_PROFILE else _from_prefect()
    try:
        data = tomllib.loads(profiles_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return _from_prefect()  # let Prefect report its own error
    profile = data.get("profiles", {}).get(active or data.get("active") or _DEFAULT_PROFILE)
    if profile is None:
        return _from_prefect()  # a profile from Prefect's built-in defaults
    return str(profile["PREFECT_API_URL"]) if profile.get("PREFECT_API_URL") else None


def _other_sources_may_set_it() -> bool:
    if os.environ.get("PREFECT_PROFILES_PATH") or os.environ.get("PREFECT_TEST_MODE"):
        return True
    if Path("prefect.toml").is_file():
        return True
    return any(_mentions(Path(name), marker) for name, marker in ((".env", "PREFECT_"),
                                                                  ("pyproject.toml", "tool.prefect")))


def _mentions(path: Path, marker: str) -> bool:
    try:
        return path.is_file() and marker in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True


def _from_prefect() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def prefect_api_configured() -> bool:
    return prefect_api_url() is not None
