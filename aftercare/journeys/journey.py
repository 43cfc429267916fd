"""A journey: a name and its steps. Looked up by step name and by event; the engine's only view of steps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aftercare.journeys.facts import Fact
from aftercare.journeys.step import On, Step


@dataclass(frozen=True)
class Journey:
    name: str
    steps: tuple[Step, ...]
    _by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __init__(self, name: str, steps: Iterable[Step]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", tuple(steps))
        by_name: dict[str, Step] = {}
        for s in self.steps:
            if s.name in by_name:
                raise ValueError(f"journey {name!r} has two steps named {s.name!r}")
            by_name[s.name] = s
        object.__setattr__(self, "_by_name", by_name)

    def step(self, name: str) -> Step:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown journey step {name!r}; known: {sorted(self._by_name)}") from None

    def get(self, name: str) -> Step | None:
        return self._by_name.get(name)

    def triggered_by(self, event: str) -> list[tuple[Step, On]]:
        return [(s, t) for s in self.steps for t in s.triggers if t.event == event]

    def cancelled_by(self, event: str) -> dict[str, list[str]]:
        """Reason -> the steps `event` cancels with that reason."""
        out: dict[str, list[str]] = {}
        for s in self.steps:
            for c in s.cancel_on:
                if c.event == event:
                    out.setdefault(c.reason, []).append(s.name)
        return out

    def tagged(self, tag: str) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if tag in s.tags)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def facts(self) -> tuple[Fact, ...]:
        """Every fact some step needs, once each (by name)."""
        seen: dict[str, Fact] = {}
        for s in self.steps:
            for f in s.needs:
                seen.setdefault(f.name, f)
        return tuple(seen.values())

    @property
    def template_dirs(self) -> tuple[Path, ...]:
        """The store's template folders, in step order, looked up before the package's own."""
        return tuple(dict.fromkeys(s.templates for s in self.steps if s.templates is not None))

    def without(self, *names: str) -> Journey:
        missing = set(names) - set(self._by_name)
        if missing:
            raise KeyError(f"no such steps: {sorted(missing)}")
        return Journey(self.name, [s for s in self.steps if s.name not in names])
