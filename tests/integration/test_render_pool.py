"""The render pool (AFTERCARE_SWEEP_RENDER_PROCESSES): messages rendered in child processes are the messages the
sweep's own process renders, a failed render costs one message, and a dead child costs nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.render_pool import RenderFailed, RenderJob, render_jobs
from tests.conftest import START, make_settings
from tests.journeys import a_customer, fulfil, place_order


def _store(home: Path, processes: int) -> Services:
    home.mkdir()
    services = build_services(make_settings(home, sweep_render_processes=processes), clock=FrozenClock(START),
                              email=FakeEmailSender(), sms=FakeSmsSender())
    for n in range(1, 13):
        place_order(services, n=n, customer=a_customer(n, locale="ko" if n % 3 == 0 else "en"))
        if n % 2 == 0:
            fulfil(services, n)
    return services


@pytest.fixture
def pooled(tmp_path: Path) -> Iterator[Services]:
    services = _store(tmp_path / "pooled", 1)
    assert services.sweeper.render_pool is not None
    assert services.sweeper.render_pool.wait_ready(timeout=120)
    services.sweeper.render_pool.take_back = False  # the children render every message (see the last test)
    yield services
    services.sweeper.render_pool.close()
    services.engine.dispose()


def _sent(services: Services) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    emails = sorted((m.to, m.step, m.template, m.locale, m.subject, m.html, m.text) for m in services.email.sent)
    texts = sorted((m.to, m.step, m.template, m.body, m.segments) for m in services.sms.sent)
    return emails, texts


def test_the_pool_renders_what_the_sweep_process_renders(tmp_path: Path, pooled: Services) -> None:
    local = _store(tmp_path / "local", 0)
    assert local.sweeper.render_pool is None
    local_report, pooled_report = local.sweeper.run(), pooled.sweeper.run()
    assert pooled_report.total_sent == local_report.total_sent > 12
    assert pooled.sweeper.render_pool is not None and pooled.sweeper.render_pool.rendered_in_children > 12
    assert _sent(pooled) == _sent(local)
    assert any(m.locale == "ko" for m in pooled.email.sent)
    local.engine.dispose()


def test_a_dead_child_costs_no_message_and_sends_none_twice(pooled: Services) -> None:
    pool = pooled.sweeper.render_pool
    assert pool is not None and pool._executor is not None
    for pid in list(pool._executor._processes):  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
    report = pooled.sweeper.run()
    assert pool.broken and report.total_sent > 12 and not report.failed
    with pooled.session_factory() as session:
        rows = session.execute(select(Message.idempotency_key, Message.status)).all()
    assert {status for _, status in rows} == {"sent"}
    assert len(pooled.email.sent) + len(pooled.sms.sent) == len(rows)
    assert pooled.sweeper.run().claimed == 0


class _Broken:
    def render_email(self, step: str, locale: str, ctx: Any) -> Any:
        raise KeyError("first_name")

    def render_sms(self, step: str, locale: str, ctx: Any) -> Any:
        return ("sms", step)


def test_a_failed_render_is_that_message_only() -> None:
    jobs = [RenderJob("confirmation", "email", "en", None), RenderJob("shipped", "sms", "en", None)]
    assert render_jobs(_Broken(), jobs) == [RenderFailed("KeyError"), ("sms", "shipped")]


class _Tagged:
    """A renderer whose output says who rendered it."""

    def __init__(self, who: str, rendered: list[str] | None = None) -> None:
        self.who, self.rendered = who, rendered

    def render_email(self, step: str, locale: str, ctx: Any) -> tuple[str, Any]:
        if self.rendered is not None:
            self.rendered.append(ctx)
        return (self.who, ctx)

    render_sms = render_email


class _SlowPool:
    """What `RenderBatch` uses of a `RenderPool`: one 'child' (a thread) that is stuck on the first chunk
    until the sweep's process has rendered the last one."""

    def __init__(self) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.local_rendered: list[Any] = []
        self.local = _Tagged("sweep", self.local_rendered)
        self.rendered_in_children = 0
        self.take_back = True
        self.gate = threading.Event()
        self._executor = ThreadPoolExecutor(1)

    def _submit(self, jobs: list[RenderJob]) -> Any:
        def child() -> list[Any]:
            assert self.gate.wait(30), "the sweep waited for the child instead of rendering"
            return render_jobs(_Tagged("child"), jobs)
        return self._executor.submit(child)

    def _give_up(self) -> None:
        raise AssertionError("nothing failed")

    def _waiting(self) -> Any:
        from contextlib import nullcontext
        return nullcontext()

    def _idle(self) -> bool:
        return True  # no other batch in flight: the sweep would only wait


def test_the_sweep_renders_the_chunks_no_child_has_started_instead_of_waiting() -> None:
    """A busy child (no free core) holds up a batch only by the chunk it is rendering: the sweep's process takes
    back the rest, from the end, and the batch's messages come back in their order."""
    from aftercare.services.render_pool import RenderBatch

    pool = _SlowPool()
    batch = RenderBatch(pool)  # type: ignore[arg-type]
    jobs = [RenderJob("csat", "email", "en", n) for n in range(RenderBatch.CHUNK * 4)]
    for job in jobs:
        batch.add(job)

    original = pool.local.render_email

    def render_and_open(step: str, locale: str, ctx: Any) -> tuple[str, Any]:
        if ctx == RenderBatch.CHUNK:  # the first message of the second chunk: the last one the sweep takes
            pool.gate.set()
        return original(step, locale, ctx)

    pool.local.render_email = render_and_open  # type: ignore[method-assign]
    out = batch.results()
    assert [ctx for _, ctx in out] == list(range(len(jobs)))
    assert {who for who, ctx in out if ctx < RenderBatch.CHUNK} == {"child"}
    assert {who for who, ctx in out if ctx >= RenderBatch.CHUNK} == {"sweep"}
    assert pool.local_rendered[0] == RenderBatch.CHUNK * 3  # taken back from the end
    assert pool.rendered_in_children == RenderBatch.CHUNK


def test_a_batch_waits_for_the_children_while_another_batch_of_the_sweep_has_work() -> None:
    """While this process has other work (another batch in flight claiming, loading or recording), a batch
    leaves its chunks to the children and waits without holding the GIL: taking them back would only move
    the rendering from the children's cores onto the sweep's own."""
    import threading

    from aftercare.services.render_pool import RenderBatch

    pool = _SlowPool()
    pool._idle = lambda: False  # type: ignore[method-assign]
    batch = RenderBatch(pool)  # type: ignore[arg-type]
    jobs = [RenderJob("csat", "email", "en", n) for n in range(RenderBatch.CHUNK * 4)]
    for job in jobs:
        batch.add(job)
    threading.Timer(0.05, pool.gate.set).start()  # the child gets going a little later
    out = batch.results()
    assert [ctx for _, ctx in out] == list(range(len(jobs)))
    assert {who for who, _ in out} == {"child"} and pool.local_rendered == []
