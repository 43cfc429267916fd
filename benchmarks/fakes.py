"""Fake providers with latency, modelled on the real adapters (what is modelled is said in the output).

- Email (SendGrid-like): one request per up to 1,000 messages; each request sleeps `latency`.
- SMS (Twilio-like): one request per message; the sends of a batch overlap in a bounded thread pool,
  each taking a token from a token bucket at the configured send rate first (as `TwilioSmsSender` does
  with `aftercare.providers.ratelimit`). Each request sleeps `latency`.
Nothing leaves the process; sent messages are counted, not kept (a 1M-step run must not hold them).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aftercare.providers.base import EmailMessage, Outcome, SendResult, SmsMessage
from aftercare.providers.ratelimit import TokenBucket, pool_size

EMAIL_REQUEST_LIMIT = 1000


class LatencyEmailSender:
    name = "bench-email"

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.sent = 0
        self.requests = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send_emails(self, messages: Sequence[EmailMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for start in range(0, len(messages), EMAIL_REQUEST_LIMIT):
            chunk = messages[start:start + EMAIL_REQUEST_LIMIT]
            if self.latency_s:
                time.sleep(self.latency_s)
            with self._lock:
                self.requests += 1
                self.sent += len(chunk)
            results.extend(SendResult(m.message_id, Outcome.SENT, provider_id=f"em-{next(self._ids)}") for m in chunk)
        return results


class LatencySmsSender:
    name = "bench-sms"

    def __init__(self, latency_s: float, rate_per_s: float) -> None:
        self.latency_s = latency_s
        self.sent = 0
        self.requests = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._limiter = TokenBucket(rate_per_s, burst=max(1, int(rate_per_s // 10)))
        self._pool = ThreadPoolExecutor(max_workers=pool_size(rate_per_s, cap=64), thread_name_prefix="bench-sms")

    def _one(self, m: SmsMessage) -> SendResult:
        self._limiter.acquire()
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.requests += 1
            self.sent += 1
        return SendResult(m.message_id, Outcome.SENT, provider_id=f"SM{next(self._ids)}", segments=m.segments)

    def send_sms(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        if not self.latency_s:  # nothing to overlap: no thread hand-off
            return [self._one(m) for m in messages]
        return list(self._pool.map(self._one, messages))
