"""The demo's synthetic store: deterministic for a seed, and it exercises every kind of stop."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.demo.simulation import DemoConfig, Simulation
from tests.conftest import make_settings


def simulate(home: Path, seed: int) -> Counter[tuple[str, str, str | None]]:
    config = DemoConfig(seed=seed, customers=120, order_days=20, days=45, tick=timedelta(hours=2))
    clock = FrozenClock(config.start)
    services = build_services(make_settings(home), clock=clock)
    sim = Simulation(services, clock, config, sweep=services.sweeper.run)
    sim.seed_store()
    sim.run()
    with services.session_factory() as session:
        rows = session.execute(select(Message.step, Message.status, Message.reason)).all()
    services.engine.dispose()
    return Counter((r.step, r.status, r.reason) for r in rows)


def test_the_same_seed_gives_the_same_ledger_and_another_seed_does_not(tmp_path):
    first = simulate(tmp_path / "a", seed=3)
    again = simulate(tmp_path / "b", seed=3)
    other = simulate(tmp_path / "c", seed=4)
    assert first == again
    assert first != other
    steps_sent = {step for (step, status, _), n in first.items() if status == "sent"}
    assert {"confirmation", "shipped", "delivered_notice", "setup_guide", "csat"} <= steps_sent
    reasons = {reason for (_, status, reason) in first if status == "skipped"}
    assert "no_marketing_consent" in reasons
