"""Which journey a process runs: `AFTERCARE_JOURNEY=package.module:attribute`, an entry point, or the default.

The composition root (`aftercare.bootstrap`) calls `load_journey(settings)` once, so the CLI, the flows,
the deployments, the webhook app and the demo all run the same journey. The attribute is a `Journey`, or a
callable taking the settings and returning one. A bare name (`AFTERCARE_JOURNEY=skincare`) is looked up in
the `aftercare.journeys` entry-point group that a store's package declares.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from aftercare.journeys.journey import Journey
from aftercare.settings import Settings

ENTRY_POINT_GROUP = "aftercare.journeys"
DEFAULT = "aftercare.journeys.default:build"


class JourneyNotFound(LookupError):
    pass


def load_journey(settings: Settings) -> Journey:
    ref = settings.journey_ref or DEFAULT
    target = _resolve(ref)
    function = callable(target) and not isinstance(target, type)
    journey = target if isinstance(target, Journey) else target(settings) if function else None
    if not isinstance(journey, Journey):
        raise JourneyNotFound(f"AFTERCARE_JOURNEY={ref!r} is not a Journey nor a function returning one")
    return journey


def _resolve(ref: str) -> Any:
    if ":" not in ref:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == ref]
        if not found:
            raise JourneyNotFound(f"no journey {ref!r}: use package.module:attribute, or register an entry point "
                                  f"in the {ENTRY_POINT_GROUP!r} group")
        return found[0].load()
    module_name, _, attribute = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise JourneyNotFound(f"AFTERCARE_JOURNEY={ref!r}: cannot import {module_name!r} ({exc})") from exc
    try:
        target = module
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise JourneyNotFound(f"AFTERCARE_JOURNEY={ref!r}: {module_name!r} has no {attribute!r}") from None
    return target
