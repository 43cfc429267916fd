"""Rendering a batch's messages on other cores: a process pool fed one batch at a time.

A sweep is one Python process, and its batches in flight are threads, so the GIL runs their Python work one
at a time: on two cores a sweep uses about one. Rendering (Jinja, escaping, number and date formatting) is
the largest piece of a batch and needs nothing but the message's context, so it can run elsewhere. The
sweep builds every context of a batch, hands them to this pool in one call per worker, and waits (without
holding the GIL, so the other batch in flight claims, loads and records meanwhile).

Exactly-once is unaffected: rendering still happens before the ledger rows are reserved, and a message whose
render fails is recorded as failed (`render_error`) as before. Each child builds its own renderer from the
same composition root (`aftercare.bootstrap.build_renderer`) and the same settings as the sweep's process.
Children are started with `spawn` (never `fork`: the sweep's process runs threads), lazily on the first
batch, and live as long as the pool; `AFTERCARE_SWEEP_RENDER_PROCESSES=0` (the default) renders in the
sweep's own process, as tests do.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aftercare.settings import Settings

log = logging.getLogger(__name__)
_POLL_SECONDS = 0.002  # how often a waiting batch looks whether the sweep has become idle


@dataclass(frozen=True)
class RenderJob:
    """One message to render: what `Renderer.render_email` / `render_sms` take."""

    step: str
    channel: str  # "email" or "sms"
    locale: str
    ctx: Any  # a MessageContext (picklable: frozen dataclasses of plain values)


@dataclass(frozen=True)
class RenderFailed:
    """A render that raised: the exception's type name only (its message may quote personal data)."""

    error: str


_renderer: Any = None


def build_renderer(settings: Settings, *, store_dirs: tuple[Path, ...] = ()) -> Any:
    """The renderer of the sweep's process and of each render-pool child, from the same settings and the
    journey's template folders (`aftercare.bootstrap` builds its renderer with this). Here, not in the
    bootstrap module, so that a child imports the renderer and nothing else of the engine: it starts in a
    quarter of a second instead of three."""
    from aftercare.rendering.renderer import Renderer

    return Renderer(store_dirs=store_dirs, catalog_dirs=settings.catalog_dirs, brand_color=settings.brand_color,
                    logo_url=settings.logo_url, shop_url=settings.shop_url)


def _start_child(settings: Settings, store_dirs: tuple[Path, ...]) -> None:
    global _renderer
    _renderer = build_renderer(settings, store_dirs=store_dirs)
    gc.freeze()  # the renderer's compiled templates and locale data live as long as the child


def render_jobs(renderer: Any, jobs: Sequence[RenderJob]) -> list[Any]:
    """Render each job in order; a failed render is a `RenderFailed`, never an exception for the batch."""
    out: list[Any] = []
    for job in jobs:
        try:
            if job.channel == "email":
                out.append(renderer.render_email(job.step, job.locale, job.ctx))
            else:
                out.append(renderer.render_sms(job.step, job.locale, job.ctx))
        except Exception as exc:  # noqa: BLE001 - a broken template must cost one message, not the batch
            out.append(RenderFailed(type(exc).__name__))
    return out


def _render_in_child(jobs: Sequence[RenderJob]) -> list[Any]:
    return render_jobs(_renderer, jobs)


class RenderPool:
    """`processes` child processes rendering for one sweep process (shared by its batches in flight).

    Until the children have started (about a second, once per process), and for good if one dies, batches
    are rendered in the sweep's own process by `local`: a pool never delays or fails a batch."""

    def __init__(self, settings: Settings, store_dirs: tuple[Path, ...], processes: int, local: Any) -> None:
        self.processes = processes
        self.local = local
        self._settings = settings
        self._store_dirs = tuple(store_dirs)
        self._executor: ProcessPoolExecutor | None = None
        self._warming: list[Future[list[Any]]] = []
        self._ready = False
        self._broken = False
        self._lock = threading.Lock()
        self.rendered_in_children = 0  # messages the children rendered (the tests and the benchmark print it)
        # The sweep takes back the chunks no child has started rather than wait, when none of its batches in
        # flight has other work (`RenderBatch.results`); the tests that need the children to render everything
        # turn it off.
        self.take_back = True
        self._busy = 0  # this process's batches in flight that are not waiting for the children
        self._busy_lock = threading.Lock()

    def start(self) -> None:
        """Start the children if not yet started, without waiting for them: the sweep calls this before each
        claim, so the first batches render here while the children import and build their renderers."""
        with self._lock:
            if self._executor is not None or self._broken:
                return
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_child, initargs=(self._settings, self._store_dirs))
            try:
                self._warming = [self._executor.submit(_render_in_child, ()) for _ in range(self.processes)]
            except (BrokenProcessPool, RuntimeError):
                self._give_up_locked()

    @property
    def broken(self) -> bool:
        """A child died or could not start: this process renders by itself from then on."""
        return self._broken

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the children and wait until they can render (tests; a sweep never waits for them)."""
        self.start()
        for future in list(self._warming):
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - reported by ready() as a broken pool
                break
        return self.ready()

    def ready(self) -> bool:
        if not self._ready and not self._broken and self._warming and all(f.done() for f in self._warming):
            if any(f.exception() is not None for f in self._warming):
                self._give_up()
            else:
                self._ready = True
        return self._ready and not self._broken

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Around one sweep batch (`Sweeper.process_batch`): while it claims, loads, decides, records or sends,
        this process has work of its own and leaves the rendering to the children."""
        self._add_busy(1)
        try:
            yield
        finally:
            self._add_busy(-1)

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        self._add_busy(-1)
        try:
            yield
        finally:
            self._add_busy(1)

    def _add_busy(self, n: int) -> None:
        with self._busy_lock:
            self._busy += n

    def _idle(self) -> bool:
        """Whether every batch this process has in flight is waiting for the children (or none is counted)."""
        return self._busy <= 0

    def batch(self) -> RenderBatch:
        """Collects one sweep batch's jobs and sends them to the children in chunks as they are added, so the
        children render while the sweep still builds the batch's later contexts."""
        return RenderBatch(self)

    def render(self, jobs: Sequence[RenderJob]) -> list[Any]:
        """The rendered messages (or `RenderFailed`), in the order of `jobs`."""
        batch = self.batch()
        for job in jobs:
            batch.add(job)
        return batch.results()

    def _submit(self, jobs: list[RenderJob]) -> Future[list[Any]] | None:
        if not self.ready():
            return None
        assert self._executor is not None
        try:
            return self._executor.submit(_render_in_child, jobs)
        except (BrokenProcessPool, RuntimeError):
            self._give_up()
            return None

    def _give_up(self) -> None:
        with self._lock:
            self._give_up_locked()

    def _give_up_locked(self) -> None:
        # A child died (killed, out of memory) or could not start: nothing of the batch is reserved yet, so
        # it is rendered here, and so is every later batch of this process (no restart loop).
        if not self._broken:
            log.warning("render pool broken; rendering in the sweep's process from now on")
        self._broken = True

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            self._warming, self._ready = [], False


class RenderBatch:
    """One sweep batch's render jobs, sent to the pool `CHUNK` at a time as they are added."""

    CHUNK = 25

    def __init__(self, pool: RenderPool) -> None:
        self._pool = pool
        self._jobs: list[RenderJob] = []
        self._sent = 0
        self._futures: list[tuple[int, int, Future[list[Any]] | None]] = []

    def add(self, job: RenderJob) -> None:
        self._jobs.append(job)
        if len(self._jobs) - self._sent >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._sent < len(self._jobs):
            chunk = self._jobs[self._sent:]
            self._futures.append((self._sent, len(self._jobs), self._pool._submit(chunk)))
            self._sent = len(self._jobs)

    def results(self) -> list[Any]:
        """The rendered messages (or `RenderFailed`), in the order the jobs were added.

        While another batch of this process has work (claiming, loading, recording), this one waits for the
        children without holding the GIL, so the sweep's core does that work and the children's cores render.
        When every batch in flight is waiting, the sweep would be idle: it takes back the chunks no child has
        started, from the end, and renders them itself while the children work from the front. So a batch is
        never slower than rendering in the sweep's own process, and the children render as much as their
        cores allow."""
        self._flush()
        pool = self._pool
        local: dict[int, list[Any]] = {}
        out: list[Any] = []
        with pool._waiting():
            for index, (start, end, future) in enumerate(self._futures):
                if future is not None:
                    self._wait(index, future, local)
                if index in local:
                    out.extend(local[index])
                    continue
                rendered = None
                if future is not None and not future.cancelled():
                    try:
                        rendered = future.result()
                        pool.rendered_in_children += len(rendered)
                    except Exception:  # noqa: BLE001 - a dead child (BrokenProcessPool) or a failed transfer
                        log.exception("render pool chunk failed")
                        pool._give_up()
                if rendered is None:
                    rendered = render_jobs(pool.local, self._jobs[start:end])
                out.extend(rendered)
        return out

    def _wait(self, index: int, future: Future[list[Any]], local: dict[int, list[Any]]) -> None:
        """Until chunk `index` is done: wait (GIL released) while another batch has work, else render the
        last chunk no child has started (into `local`); a chunk taken back is rendered here, not waited for."""
        pool = self._pool
        while not future.done():
            if pool.take_back and pool._idle() and self._take_back_one(index, local):
                continue
            wait([future], timeout=_POLL_SECONDS)

    def _take_back_one(self, after: int, local: dict[int, list[Any]]) -> bool:
        """Render here the last chunk (at or after `after`) that no child has started; False if none is left."""
        for index in range(len(self._futures) - 1, after - 1, -1):
            if index in local:
                continue
            start, end, future = self._futures[index]
            if future is not None and future.cancel():
                local[index] = render_jobs(self._pool.local, self._jobs[start:end])
                return True
            if future is not None and future.running():
                return False  # handed to a child: chunks are handed over in order, so every earlier one is too
        return False


class LocalBatch:
    """The same interface, rendering in this process when the results are asked for (no pool configured)."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer
        self._jobs: list[RenderJob] = []

    def add(self, job: RenderJob) -> None:
        self._jobs.append(job)

    def results(self) -> list[Any]:
        return render_jobs(self._renderer, self._jobs)
