"""The demo gives the same ledger for a seed whether it runs as a Prefect flow run (an API configured) or
directly (the CLI with none): the same body, the same sweep service, batches in the same order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from aftercare.bootstrap import build_services, use_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.demo.simulation import DemoConfig
from flows.demo import demo_store
from tests.conftest import make_settings

SMALL = {"seed": 5, "customers": 60, "order_days": 10, "days": 24, "tick_minutes": 180}


def _demo(home: Path, *, through_prefect: bool) -> tuple[dict[str, object], Counter[tuple[str, str, str | None]]]:
    services = build_services(make_settings(home, holdout_share=0.05), clock=FrozenClock(DemoConfig().start))
    try:
        with use_services(services):
            result = demo_store(**SMALL) if through_prefect else demo_store.fn(**SMALL)
        with services.session_factory() as session:
            rows = session.execute(select(Message.step, Message.status, Message.reason)).all()
        return result, Counter((r.step, r.status, r.reason) for r in rows)
    finally:
        services.engine.dispose()


def test_the_demo_run_directly_gives_the_same_ledger_as_through_prefect(tmp_path):
    direct_result, direct = _demo(tmp_path / "direct", through_prefect=False)
    prefect_result, via_prefect = _demo(tmp_path / "prefect", through_prefect=True)
    assert direct == via_prefect
    # The same report, but for how long each phase took (a profile, not an outcome).
    assert _without_timings(direct_result) == _without_timings(prefect_result)
    assert sum(n for (_, status, _), n in direct.items() if status == "sent") > 50


def _without_timings(result: dict) -> dict:
    return {k: _without_timings(v) if isinstance(v, dict) else v for k, v in result.items() if k != "phase_seconds"}
