"""The send stage on a Dask cluster: `journey_sweep.with_options(task_runner=DaskTaskRunner(...))`, exactly
as docs/scaling.md shows it, on a local cluster of two worker processes.

The worker processes build their own services from the `AFTERCARE_*` environment (the local outbox here);
this process installs recording fakes. The flow runs its first batch itself (it takes back a retried run's
own claims) and submits the rest to the cluster, so the fakes must hold exactly the first batch and the
outbox every other message: every message once, across processes, and most of them sent by Dask workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from aftercare.bootstrap import build_services, use_services
from aftercare.clock import SystemClock
from aftercare.db.models import Message
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from flows.journey_sweep import journey_sweep
from tests.conftest import make_settings
from tests.journeys import place_order

prefect_dask = pytest.importorskip("prefect_dask", reason="prefect-dask is a dev dependency (pip install -e .[dev])")

pytestmark = pytest.mark.timeout(180)

ORDERS = 30
BATCH = 5


def test_the_sweep_sends_its_batches_from_a_dask_cluster_exactly_once(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'dask.db'}"
    outbox = tmp_path / "outbox"
    for name, value in {"AFTERCARE_HOME": str(tmp_path), "AFTERCARE_DATABASE_URL": url,
                        "AFTERCARE_OUTBOX_DIR": str(outbox), "AFTERCARE_HOLDOUT_SHARE": "0",
                        "AFTERCARE_ENVIRONMENT": "development"}.items():
        monkeypatch.setenv(name, value)  # what the Dask worker processes build their services from
    email, sms = FakeEmailSender(), FakeSmsSender()
    services = build_services(make_settings(tmp_path, database_url=url, outbox_dir=outbox, holdout_share=0.0),
                              clock=SystemClock(), email=email, sms=sms)
    for n in range(1, ORDERS + 1):
        place_order(services, n=n)

    runner = prefect_dask.DaskTaskRunner(cluster_kwargs={"n_workers": 2, "processes": True,
                                                         "threads_per_worker": 1, "dashboard_address": None})
    sweep_on_dask = journey_sweep.with_options(task_runner=runner)
    with use_services(services):
        report = sweep_on_dask(batch_size=BATCH, concurrency=4)

    files = sorted(p.name for p in outbox.rglob("*.html"))
    assert report["claimed"] == ORDERS
    assert len(email.sent) == BATCH  # the first batch, sent by this process
    assert len(files) == ORDERS - BATCH  # every other one, by the cluster's workers
    with services.session_factory() as session:
        rows = session.execute(select(Message.idempotency_key, Message.status, Message.provider,
                                      Message.provider_message_id)).all()
        assert session.scalar(select(func.count(func.distinct(Message.idempotency_key)))) == ORDERS
    assert len(rows) == ORDERS and {r.status for r in rows} == {"sent"}
    assert sorted(r.provider for r in rows).count("outbox") == ORDERS - BATCH
    outbox_ids = {r.provider_message_id for r in rows if r.provider == "outbox"}
    assert len(outbox_ids) == ORDERS - BATCH
    services.engine.dispose()
