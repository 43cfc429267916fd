"""Retry only what a retry can help: Prefect task options for sends.

`should_retry` is a Prefect 3 `retry_condition_fn`: it answers True only when the task failed with a
`TransientSendError` (429, 5xx, a connection refused before the request left). A permanent refusal, an
opt-out, an invalid number and an UNKNOWN outcome (a timeout after the request left, which may have been
delivered) are never retried: neither provider has an idempotency key, so a blind resend can send twice.

    @task(**send_retry_options(retries=4, backoff_seconds=10))
    def send_step(...): ...

Prefect's delays are fixed per attempt, so a provider's `retry_after_seconds` (SendGrid's
`X-RateLimit-Reset`) cannot stretch one; pick `backoff_seconds` above the providers' usual reset window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aftercare.providers.base import Outcome, SendResult, TransientSendError


def should_retry(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: True only for a `TransientSendError`."""
    error = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    if error is None:
        try:
            error = state.result(raise_on_failure=False, _sync=True)
        except Exception:  # noqa: BLE001 - a result that cannot be loaded is not a reason to resend
            return False
    return isinstance(error, TransientSendError)


def backoff_delays(*, retries: int, backoff_seconds: float, max_delay_seconds: float = 3600.0) -> list[float]:
    """Exponential delays for `retries` attempts: backoff, 2x, 4x, ... each capped at `max_delay_seconds`."""
    if retries < 0 or backoff_seconds < 0:
        raise ValueError("retries and backoff_seconds must not be negative")
    return [min(max_delay_seconds, backoff_seconds * 2**attempt) for attempt in range(min(retries, 50))]


def send_retry_options(
    *,
    retries: int = 4,
    backoff_seconds: float = 10.0,
    jitter_factor: float = 0.5,
    max_delay_seconds: float = 3600.0,
) -> dict[str, Any]:
    """Keyword arguments for `@task(...)`: exponential backoff with jitter, retrying transient failures only.

    `jitter_factor` is Prefect's `retry_jitter_factor`: each delay is stretched by up to that share at
    random, so workers that failed together do not retry together.
    """
    if jitter_factor < 0:
        raise ValueError("jitter_factor must not be negative")
    return {
        "retries": retries,
        "retry_delay_seconds": backoff_delays(
            retries=retries, backoff_seconds=backoff_seconds, max_delay_seconds=max_delay_seconds
        ),
        "retry_jitter_factor": jitter_factor,
        "retry_condition_fn": should_retry,
    }


def transient_error_for(results: Sequence[SendResult]) -> TransientSendError | None:
    """The error to raise after recording a batch, when some of its messages may be sent again."""
    retry = [result for result in results if result.outcome is Outcome.RETRY]
    if not retry:
        return None
    waits = [result.retry_after_seconds for result in retry if result.retry_after_seconds is not None]
    return TransientSendError(
        f"{len(retry)} of {len(results)} messages hit a transient provider error",
        retry_after_seconds=max(waits) if waits else None,
    )
