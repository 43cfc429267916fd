"""What a sweep did, counted per step: the funnel rows, the Prefect artifact and the CLI table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SweepReport:
    batches: int = 0
    claimed: int = 0
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, channel)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    deferred: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    waiting: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    held_out: Counter[str] = field(default_factory=Counter)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, reason)
    unknown: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    # Seconds spent in each phase of `Sweeper.process_batch` (claim, load, decide, render, reserve,
    # mark_sending, send, record), summed over batches: the profile the sweep benchmark prints per step.
    phase_seconds: Counter[str] = field(default_factory=Counter)

    def merge(self, other: SweepReport) -> SweepReport:
        self.batches += other.batches
        self.claimed += other.claimed
        for name in ("sent", "skipped", "deferred", "waiting", "held_out", "failed", "unknown", "retried",
                     "phase_seconds"):
            getattr(self, name).update(getattr(other, name))
        return self

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def steps(self) -> list[str]:
        names: set[str] = set()
        for counter in (self.sent, self.skipped, self.deferred, self.waiting, self.failed):
            names.update(key[0] for key in counter)
        names.update(self.held_out, self.unknown, self.retried)
        return sorted(names)

    def rows(self) -> list[dict[str, Any]]:
        """One row per step: sent per channel, deferred, waiting, held out, failed and skipped by reason."""
        out = []
        for step in self.steps():
            out.append({
                "step": step,
                "sent_email": self.sent[(step, "email")],
                "sent_sms": self.sent[(step, "sms")],
                "deferred": sum(v for (s, _), v in self.deferred.items() if s == step),
                "waiting": sum(v for (s, _), v in self.waiting.items() if s == step),
                "held_out": self.held_out[step],
                "failed": sum(v for (s, _), v in self.failed.items() if s == step),
                "unknown": self.unknown[step],
                "skipped": _by_reason(self.skipped, step),
            })
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "claimed": self.claimed, "sent": self.total_sent, "steps": self.rows(),
                "phase_seconds": {k: round(v, 6) for k, v in self.phase_seconds.items()}}


def _by_reason(counter: Counter[tuple[str, str]], step: str) -> dict[str, int]:
    return dict(sorted(((r, v) for (s, r), v in counter.items() if s == step), key=lambda kv: -kv[1]))
