"""Send-rate limits that hold across threads (`TokenBucket`) and across workers (`RedisTokenBucket`).

A bucket holds at most `burst` tokens and refills at `rate` tokens per second; every send takes one.
So in any window of T seconds at most `burst + rate * T` sends start, however many threads or workers
share the bucket. Prefect's `rate_limit()` goes through the API server for every slot, which is too slow
for per-message sends; these buckets live in the worker (and in Redis when workers must share one).

Provider senders have their own rates: Twilio long codes about 1 message/s, toll-free 3/s, short codes
100/s; SendGrid's limit is on API requests. Name a bucket after the provider and the sender
(`twilio:MG...`, `sendgrid:mail`) so each sender gets its own budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

    from aftercare.settings import Settings


class RateLimitTimeout(Exception):
    """No token became free within the caller's timeout."""


class RateLimiter(Protocol):
    rate: float

    def acquire(self, timeout: float | None = None) -> None:
        """Block until one send may start; raise `RateLimitTimeout` after `timeout` seconds."""
        ...


def _check(rate: float, burst: int) -> None:
    if rate <= 0:
        raise ValueError("rate must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class _Blocking:
    """`acquire` on top of `_try_acquire() -> seconds to wait (0 = acquired)`."""

    rate: float
    _sleep: Callable[[float], None]
    _monotonic: Callable[[], float]

    def _try_acquire(self) -> float:
        raise NotImplementedError

    def acquire(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else self._monotonic() + timeout
        while True:
            wait = self._try_acquire()
            if wait <= 0:
                return
            if deadline is not None and self._monotonic() + wait > deadline:
                raise RateLimitTimeout(f"no send slot within {timeout} s at {self.rate}/s")
            self._sleep(wait)


class TokenBucket(_Blocking):
    """An in-process, thread-safe token bucket."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check(rate, burst)
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = monotonic()

    def _try_acquire(self) -> float:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst})"


# One atomic step on Redis's own clock, so workers on different hosts agree on time.
_REDIS_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisTokenBucket(_Blocking):
    """The same bucket kept in Redis, shared by every worker that uses the same `name`."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        rate: float,
        burst: int = 1,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check(rate, burst)
        self.rate = rate
        self.burst = burst
        self.key = f"aftercare:ratelimit:{name}"
        self._sleep = sleep
        self._monotonic = time.monotonic
        self._script = client.register_script(_REDIS_BUCKET)

    def _try_acquire(self) -> float:
        return float(self._script(keys=[self.key], args=[repr(self.rate), self.burst]))

    def __repr__(self) -> str:
        return f"RedisTokenBucket(key={self.key!r}, rate={self.rate}, burst={self.burst})"


_local_buckets: dict[str, TokenBucket] = {}
_local_lock = threading.Lock()


def build_limiter(settings: Settings, *, name: str, rate: float, burst: int = 1) -> RateLimiter:
    """A bucket for one provider sender: in Redis when `settings.redis_url` is set, else per process.

    Process-local buckets are shared by name, so two senders built in one worker share one budget.
    """
    if settings.redis_url:
        import redis

        return RedisTokenBucket(redis.Redis.from_url(settings.redis_url), name, rate, burst)
    with _local_lock:
        bucket = _local_buckets.get(name)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = _local_buckets[name] = TokenBucket(rate, burst)
        return bucket


def pool_size(rate: float, *, cap: int = 32) -> int:
    """Threads for the sends of one batch: enough to keep `rate` busy, never more than `cap`."""
    return max(1, min(cap, math.ceil(rate)))
