"""Credentials that stay secret: given directly as `SecretStr`, or loaded once, on first use.

A Prefect `Secret` block is read only when a sender first needs it, so building services (and importing
flows) never calls the Prefect API. Neither form ever shows its value in a repr, log or error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import SecretStr


class LazySecret:
    def __init__(self, load: Callable[[], SecretStr], *, source: str) -> None:
        self._load = load
        self._value: SecretStr | None = None
        self._lock = threading.Lock()
        self.source = source  # where it comes from, e.g. "prefect-secret-block:sendgrid-key"; no value

    def get(self) -> SecretStr:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value

    def __repr__(self) -> str:
        return f"LazySecret(source={self.source!r})"


Credential = SecretStr | LazySecret


def require(credential: Credential, name: str) -> Credential:
    """Refuse an empty secret up front: the SendGrid SDK would quietly fall back to $SENDGRID_API_KEY."""
    if isinstance(credential, SecretStr) and not credential.get_secret_value().strip():
        raise ValueError(f"{name} is empty")
    return credential


def reveal(credential: Credential) -> str:
    """The plain value, for handing to an SDK at the last moment; never log the result."""
    secret = credential.get() if isinstance(credential, LazySecret) else credential
    return secret.get_secret_value()


def prefect_secret_block(name: str) -> LazySecret:
    """A credential read from the `prefect.blocks.system.Secret` block called `name`, when first used."""

    def load() -> SecretStr:
        from prefect.blocks.system import Secret

        value = Secret.load(name, _sync=True).get()
        if not isinstance(value, str) or not value:
            raise ValueError(f"Prefect Secret block {name!r} does not hold a non-empty string")
        return SecretStr(value)

    return LazySecret(load, source=f"prefect-secret-block:{name}")
