"""Daily: make sure every customer whose newest order was delivered has an open win-back step."""

from __future__ import annotations

from prefect import flow, get_run_logger

from aftercare.bootstrap import get_services
from aftercare.services.winback_scan import rescan


@flow(name="winback-scan", flow_run_name="winback-scan", log_prints=False)
def winback_scan(batch_size: int = 1000) -> dict[str, int]:
    services = get_services()
    with services.session_factory() as session, session.begin():
        created = rescan(session, services.journey, services.clock.now(), batch_size=batch_size)
    get_run_logger().info("winback scan done created=%s", created)
    return {"created": created}
