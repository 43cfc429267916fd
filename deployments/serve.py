"""Every deployment in one process, for a small store: `python deployments/serve.py` (from the repo root).

The same flows and schedules as `deployments/prefect.yaml`, read from it, so the two cannot drift; no
work pool or worker is needed. `--no-schedules` serves the deployments without their schedules (manual
and API-created runs only; the server integration test uses it). Flows whose module is not installed
(another branch's work not merged yet) are left out with a warning.
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
    if "cron" in spec:
        return Schedule(cron=spec["cron"], timezone=spec["timezone"], active=active)
    return Schedule(interval=timedelta(seconds=spec["interval"]), timezone=spec["timezone"], active=active)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-schedules", action="store_true", help="Serve without schedules.")
    parser.add_argument("--only", action="append", help="Serve only this deployment (repeatable).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    from prefect import serve

    serve(*build_deployments(schedules=not args.no_schedules, only=set(args.only or ())), limit=4)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
