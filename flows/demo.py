"""The demo as one Prefect flow run: the synthetic store's 180 days, swept by the real sweep task.

One flow run for the whole simulation (not one per simulated day): a flow call costs about a second,
a task call a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prefect import flow

from aftercare.bootstrap import get_services
from aftercare.clock import FrozenClock
from aftercare.demo.simulation import DemoConfig, Simulation
from aftercare.services.reports import SweepReport
from flows.journey_sweep import sweep_until_empty
from flows.run_context import run_logger

# Set by the CLI to drive its progress bar; flows take only serialisable parameters.
progress_hook: Callable[[int, int], None] | None = None


@flow(name="demo-store", flow_run_name="demo-store-seed-{seed}")
def demo_store(seed: int = 7, customers: int = 2500, order_days: int = 90, days: int = 180,
               tick_minutes: int = 180) -> dict[str, Any]:
    services = get_services()
    if not isinstance(services.clock, FrozenClock):
        raise RuntimeError("the demo needs a simulated (frozen) clock; run it with `aftercare demo`")
    config = DemoConfig(seed=seed, customers=customers, order_days=order_days, days=days,
                        tick=timedelta(minutes=tick_minutes), start=services.clock.now())
    def sweep() -> SweepReport:
        # Most simulated hours have nothing due: a one-row probe spares a task run for those. One batch at
        # a time, whatever the setting: the demo replays exactly for a seed.
        return sweep_until_empty("demo", concurrency=1) if services.sweeper.has_due() else SweepReport()

    sim = Simulation(services, services.clock, config, sweep=sweep)
    sim.seed_store()
    report = sim.run(on_tick=progress_hook)
    run_logger().info("demo done claimed=%s sent=%s", report.claimed, report.total_sent)
    return report.as_dict()
