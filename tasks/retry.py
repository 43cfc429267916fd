"""Which failures a task retry can help: transient provider errors and a busy database; nothing else."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from aftercare.providers.base import TransientSendError

RETRYABLE = (TransientSendError, OperationalError, ConnectionError, TimeoutError)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn` for Prefect: retry only errors a later attempt can fix."""
    try:
        state.result()
    except RETRYABLE:
        return True
    except BaseException:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False
