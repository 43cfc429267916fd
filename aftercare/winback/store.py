"""The win-back lapse rule for THIS store: backtested on its own orders, recorded under `home`, loaded once.

Why a file and a setting rather than a backtest at every delivery: the backtest fits BG/NBD and tunes two
parameters over thousands of customers (seconds), while a delivery webhook must take milliseconds. So
`aftercare fit-winback` (run it monthly, or from a scheduled flow) backtests on the store's own order
history and writes `winback_rule.json` (the scores, the backtest's choice and every fitted parameter);
`AFTERCARE_WINBACK_RULE` (fixed | bgnbd | cadence, default fixed) says which rule the engine uses, and
`bootstrap` loads it once per process. A named model without a recorded fit falls back to the fixed window,
with a warning, rather than guessing parameters.

On CDNOW (cutoff 1997-09-30) BG/NBD led the fixed 90-day window on F1 by only a small margin and calling
everyone lapsed scores about as well; a store should look at its own `fit-winback` output before switching.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Order
from aftercare.winback.backtest import (
    BGNBD,
    CADENCE,
    FIXED,
    RULE_NAMES,
    BacktestReport,
    chosen_name,
    run_backtest,
)
from aftercare.winback.rules import BgNbdParams, BgNbdRule, CadenceRule, FixedWindowRule, LapseRule

log = logging.getLogger(__name__)

RULE_FILE = "winback_rule.json"
SETTING_NAMES = ("fixed", BGNBD, CADENCE)
MIN_CUSTOMERS = 100  # customers with >= 3 purchase days at the cutoff, below which we do not fit


@dataclass(frozen=True)
class NotEnoughHistory:
    customers: int
    needed: int
    detail: str


def store_histories(session: Session) -> dict[str, tuple[date, ...]]:
    """Every customer's distinct purchase days (UTC) from the store's own non-cancelled orders: one query."""
    days: dict[str, set[date]] = {}
    for customer_id, placed_at in session.execute(
        select(Order.customer_id, Order.placed_at).where(Order.status != "cancelled")
    ):
        days.setdefault(str(customer_id), set()).add(as_utc(placed_at).date())
    return {c: tuple(sorted(d)) for c, d in days.items()}


def backtest_store(
    session: Session, *, weeks: int = 26, min_customers: int = MIN_CUSTOMERS
) -> BacktestReport | NotEnoughHistory:
    """Backtest on the store's own history with the cutoff `weeks` before its last order."""
    histories = store_histories(session)
    if not histories:
        return NotEnoughHistory(0, min_customers, "the store has no orders yet")
    last = max(d[-1] for d in histories.values())
    cutoff = last - timedelta(weeks=weeks)
    eligible = sum(1 for d in histories.values() if sum(1 for x in d if x <= cutoff) >= 3)
    if eligible < min_customers:
        return NotEnoughHistory(
            eligible,
            min_customers,
            f"{eligible} customers have >= 3 purchase days by {cutoff} (need {min_customers})",
        )
    try:
        return run_backtest(cutoff, weeks=weeks, days_by_customer=histories)
    except ValueError as exc:  # too little history before the cutoff for a validation split, etc.
        return NotEnoughHistory(eligible, min_customers, str(exc))


def choice_record(report: BacktestReport, now: datetime) -> dict[str, Any]:
    cadence = report.rules[CADENCE]
    bgnbd = report.rules[BGNBD]
    assert isinstance(cadence, CadenceRule) and isinstance(bgnbd, BgNbdRule)
    return {
        "fitted_at": now.isoformat(),
        "cutoff": report.cutoff.isoformat(),
        "weeks": report.weeks,
        "chosen": chosen_name(report),
        "scores": {
            n: {
                "precision": round(report.scores[n].precision, 4),
                "recall": round(report.scores[n].recall, 4),
                "f1": round(report.scores[n].f1, 4),
                "customers": report.scores[n].customers,
            }
            for n in RULE_NAMES
        },
        CADENCE: {"k": cadence.k, "min_purchase_days": cadence.min_purchase_days},
        BGNBD: {
            "params": asdict(bgnbd.params),
            "threshold": bgnbd.threshold,
            "min_purchase_days": bgnbd.min_purchase_days,
        },
    }


def save_choice(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a file


def load_rule(name: str, path: Path, fixed_days: float) -> LapseRule | None:
    """The lapse rule the engine should use, or None for the fixed window (the journey's own offset)."""
    if name not in SETTING_NAMES:
        raise ValueError(f"winback rule must be one of {SETTING_NAMES}, not {name!r}")
    if name == "fixed":
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        fitted = record[name]
    except (OSError, ValueError, KeyError) as exc:
        log.warning(
            "winback rule %s has no recorded fit at %s (%s); using the fixed window; "
            "run `aftercare fit-winback`",
            name,
            path,
            type(exc).__name__,
        )
        return None
    fallback = FixedWindowRule(int(fixed_days), name=FIXED)
    if name == CADENCE:
        return CadenceRule(
            k=float(fitted["k"]), min_purchase_days=int(fitted["min_purchase_days"]), fallback=fallback
        )
    return BgNbdRule(
        BgNbdParams(**fitted["params"]),
        threshold=float(fitted["threshold"]),
        min_purchase_days=int(fitted["min_purchase_days"]),
        fallback=fallback,
    )


def winback_due(
    rule: LapseRule, purchase_dates: list[date], delivered_at: datetime, offset: timedelta
) -> datetime | None:
    """When winback_1 is due under `rule`, or None to keep the fixed window (too few purchase days).

    The rule gives a lapse DAY from the customer's purchase days; the message goes out at the delivery's
    time of day on that day (plus the sequence's first offset), and never before the delivery itself.
    """
    days = sorted(set(purchase_dates))
    minimum = getattr(rule, "min_purchase_days", 1)
    if len(days) < minimum:
        return None
    delivered_at = as_utc(delivered_at)
    lapse_day = rule.lapse_at(days)
    due = datetime.combine(lapse_day, delivered_at.timetz()).astimezone(UTC) + offset
    return max(due, delivered_at)
