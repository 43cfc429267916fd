from __future__ import annotations

import pytest
from prefect.states import Completed, Failed

from aftercare.providers.base import Outcome, PermanentSendError, SendResult, TransientSendError
from aftercare.providers.retry import backoff_delays, send_retry_options, should_retry, transient_error_for


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransientSendError("429", retry_after_seconds=3), True),
        (PermanentSendError("400"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_a_transient_send_error_is_retried(error: Exception, expected: bool) -> None:
    assert should_retry(None, None, Failed(data=error)) is expected


def test_a_state_without_an_exception_is_not_retried() -> None:
    assert should_retry(None, None, Completed(data=1)) is False


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert backoff_delays(retries=5, backoff_seconds=10, max_delay_seconds=60) == [10, 20, 40, 60, 60]
    assert backoff_delays(retries=0, backoff_seconds=10) == []


def test_send_retry_options_plug_the_predicate_backoff_and_jitter_into_a_task() -> None:
    from prefect import task

    options = send_retry_options(retries=3, backoff_seconds=5, jitter_factor=0.5)
    assert options == {
        "retries": 3,
        "retry_delay_seconds": [5, 10, 20],
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": should_retry,
    }

    @task(**options)
    def send() -> None: ...

    assert send.retries == 3 and send.retry_condition_fn is should_retry


def test_a_batch_with_retryable_results_yields_one_transient_error_with_the_longest_wait() -> None:
    results = [
        SendResult("a", Outcome.SENT, provider_id="x"),
        SendResult("b", Outcome.RETRY, retry_after_seconds=2.0),
        SendResult("c", Outcome.RETRY, retry_after_seconds=7.0),
        SendResult("d", Outcome.UNKNOWN),
    ]
    error = transient_error_for(results)
    assert isinstance(error, TransientSendError)
    assert error.retry_after_seconds == 7.0
    assert "2 of 4" in str(error)
    assert transient_error_for(results[:1] + results[3:]) is None
