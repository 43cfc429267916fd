"""Every deployment in one process, for a small store: `python deployments/serve.py` (from the repo root).

The same flows and schedules as `deployments/prefect.yaml`, read from it, so the two cannot drift; no
work pool or worker is needed. `--no-schedules` serves the deployments without their schedules (manual
and API-created runs only; the server integration test uses it). Flows whose module is not installed
(another branch's work not merged yet) are left out with a warning.

One mode per Prefect server: serving a deployment replaces the one of the same name, and a deployment made by
`prefect deploy` (a work pool, pull steps) that this process then replaced ran from nowhere (every run crashed
with `FileNotFoundError: '.../None'`). So this refuses, naming them, unless `--force`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"

log = logging.getLogger("aftercare.serve")


def load_config(path: Path = PREFECT_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def module_name(entrypoint: str) -> str:
    """`flows/journey_sweep.py:journey_sweep` -> `flows.journey_sweep`."""
    return entrypoint.rsplit(":", 1)[0].removesuffix(".py").replace("/", ".")


def load_entrypoint(entrypoint: str) -> Any:
    """`flows/journey_sweep.py:journey_sweep` -> the flow object."""
    return getattr(importlib.import_module(module_name(entrypoint)), entrypoint.rsplit(":", 1)[1])


def _schedule(spec: dict[str, Any]) -> Any:
    from prefect.schedules import Schedule

    active = spec.get("active", True)
    slug = spec.get("slug")
    if "cron" in spec:
        return Schedule(cron=spec["cron"], timezone=spec["timezone"], active=active, slug=slug)
    return Schedule(interval=timedelta(seconds=spec["interval"]), timezone=spec["timezone"], active=active,
                    slug=slug)


def build_deployments(*, schedules: bool = True, only: set[str] | None = None) -> list[Any]:
    deployments = []
    for spec in load_config()["deployments"]:
        if only and spec["name"] not in only:
            continue
        try:
            flow = load_entrypoint(spec["entrypoint"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name(spec["entrypoint"]):
                raise
            log.warning("skipping deployment=%s missing_module=%s", spec["name"], exc.name)
            continue
        deployments.append(flow.to_deployment(
            name=spec["name"], description=spec.get("description"), tags=spec.get("tags"),
            parameters=spec.get("parameters") or {},
            schedules=[_schedule(s) for s in spec.get("schedules") or []] if schedules else None,
        ))
    return deployments


def made_by_prefect_deploy(deployments: list[Any], client: Any) -> list[str]:
    """The deployments among `deployments` that already exist on the server as `prefect deploy` made them (a
    work pool or pull steps; a served deployment has neither), each described for the refusal."""
    from prefect.exceptions import ObjectNotFound

    found = []
    for deployment in deployments:
        full_name = f"{deployment.flow_name}/{deployment.name}"
        try:
            existing = client.read_deployment_by_name(full_name)
        except ObjectNotFound:
            continue
        if existing.work_pool_name or existing.pull_steps:
            steps = ", ".join(next(iter(step)) for step in existing.pull_steps or []) or "none"
            found.append(f"{full_name} (work pool {existing.work_pool_name or '-'}, entrypoint "
                         f"{existing.entrypoint}, path {existing.path or '-'}, pull steps {steps})")
    return found


def refuse_to_overwrite(deployments: list[Any], client: Any, *, force: bool) -> None:
    """Exit with a clear message when serving would replace deployments made by `prefect deploy`."""
    clashes = made_by_prefect_deploy(deployments, client)
    if not clashes:
        return
    if force:
        log.warning("replacing deployments made by prefect deploy (--force): %s", "; ".join(clashes))
        return
    raise SystemExit(
        "refusing to serve: these deployments were made by `prefect deploy` and serving would overwrite them:\n  "
        + "\n  ".join(clashes)
        + "\nUse one mode per Prefect server: keep the work pool and its workers (do not run serve.py), or delete "
        "these deployments first (`prefect deployment delete NAME`), or pass --force to replace them."
    )


def quiet_http_logs() -> None:
    """No log line per poll: the runner asks the API every few seconds (httpx), and its webserver logs every
    request (uvicorn's access log). Warnings and errors still show."""
    for name in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-schedules", action="store_true", help="Serve without schedules.")
    parser.add_argument("--only", action="append", help="Serve only this deployment (repeatable).")
    parser.add_argument("--force", action="store_true",
                        help="Replace deployments of the same name made by `prefect deploy`.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from prefect import serve
    from prefect.client.orchestration import get_client

    quiet_http_logs()  # after Prefect's own logging set-up, which the import runs

    deployments = build_deployments(schedules=not args.no_schedules, only=set(args.only or ()))
    with get_client(sync_client=True) as client:
        refuse_to_overwrite(deployments, client, force=args.force)
    serve(*deployments, limit=4)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
