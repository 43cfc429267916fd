"""The send rate holds across threads and workers: no window of one second admits more than rate + burst."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from aftercare.providers.ratelimit import (
    RateLimitTimeout,
    RedisTokenBucket,
    TokenBucket,
    build_limiter,
    pool_size,
)
from aftercare.settings import Settings


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def most_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def admit_concurrently(acquirers: list[Callable[[], None]], *, threads: int, sends: int) -> list[float]:
    """`threads` threads take `sends` slots in all, round-robin over `acquirers`; returns admission times."""
    stamps: list[float] = []
    lock = threading.Lock()
    remaining = iter(range(sends))

    def worker(index: int) -> None:
        acquire = acquirers[index % len(acquirers)]
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            acquire()
            with lock:
                stamps.append(time.monotonic())

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert len(stamps) == sends
    return stamps


def test_a_full_bucket_admits_its_burst_at_once_then_one_per_interval() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=2, burst=3, monotonic=clock.monotonic, sleep=clock.sleep)
    admitted_at = []
    for _ in range(7):
        bucket.acquire()
        admitted_at.append(clock.now)
    assert admitted_at == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5, 2.0])


def test_an_idle_bucket_refills_no_further_than_its_burst() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=1, burst=2, monotonic=clock.monotonic, sleep=clock.sleep)
    clock.now = 100.0
    admitted_at = []
    for _ in range(3):
        bucket.acquire()
        admitted_at.append(clock.now)
    assert admitted_at == pytest.approx([100.0, 100.0, 101.0])


def test_acquire_gives_up_after_its_timeout_when_no_slot_comes() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=1, burst=1, monotonic=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    with pytest.raises(RateLimitTimeout):
        bucket.acquire(timeout=0.5)


def test_twenty_threads_sending_thirty_messages_at_ten_per_second_never_exceed_rate_plus_burst() -> None:
    rate, burst = 10.0, 1
    bucket = TokenBucket(rate, burst)
    stamps = admit_concurrently([bucket.acquire], threads=20, sends=30)
    assert most_in_any_window(stamps, 1.0) <= rate + burst
    # 30 sends need (30 - burst) / rate seconds of refill however fast the threads are
    assert max(stamps) - min(stamps) >= (30 - burst) / rate - 0.05


@pytest.fixture
def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    yield client
    client.close()


def test_two_workers_sharing_a_redis_bucket_hold_the_rate_together(redis_client) -> None:
    import redis

    rate, burst = 10.0, 1
    name = f"test:{uuid.uuid4().hex}"
    # two "workers": separate connections, separate bucket objects, one key
    url = "redis://127.0.0.1:6379/15"
    workers = [RedisTokenBucket(redis.Redis.from_url(url), name, rate, burst) for _ in "ab"]
    stamps = admit_concurrently([w.acquire for w in workers], threads=20, sends=30)
    assert most_in_any_window(stamps, 1.0) <= rate + burst
    assert max(stamps) - min(stamps) >= (30 - burst) / rate - 0.05
    assert 0 < redis_client.pttl(workers[0].key) <= 1000 + 1000 * burst / rate


def test_settings_with_a_redis_url_build_a_shared_bucket_and_without_one_a_process_bucket() -> None:
    shared = build_limiter(Settings(redis_url="redis://127.0.0.1:6379/15"), name="twilio:MGx", rate=1.0)
    local = build_limiter(Settings(), name="twilio:MGx", rate=1.0)
    assert isinstance(shared, RedisTokenBucket)
    assert isinstance(local, TokenBucket)
    assert build_limiter(Settings(), name="twilio:MGx", rate=1.0) is local


def test_the_send_pool_grows_with_the_rate_but_stays_bounded() -> None:
    assert pool_size(1.0) == 1
    assert pool_size(3.0) == 3
    assert pool_size(0.2) == 1
    assert pool_size(100.0) == 32
