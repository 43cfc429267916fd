"""Lift per marketing step: what happened next to customers who were sent a step vs those held out.

Groups. For each marketing step, every customer whose FIRST ledger row for that step is either
* `held_out` (the deterministic holdout in `decide`: eligible, never sent), or
* any other status that is not `skipped` (the decision was to send: sent, delivered, opened, clicked, and
  also failed, bounced or unknown). This is intent to treat: a send that bounced still belongs to the
  "sent" group, because dropping it would compare the holdout with a filtered, healthier group.
Skipped rows (no consent, quiet hours ran out, items returned...) are in neither group: the holdout is
drawn only among customers who passed every gate, so both groups face the same gates.

Outcomes, counted from the message time t0 (the ledger row's send time, or its decision time when held
out), per customer, over a fixed window; a customer enters an outcome's comparison only once the whole
window has passed (`as_of >= t0 + window`), so recent messages never look like failures:
* csat_answered: a CSAT answer within 14 days; csat_score: the mean score of those answers,
* review: a review within 30 days,
* repeat_30d / repeat_60d / repeat_90d: an order placed within 30 / 60 / 90 days (cancelled ones too: the
  customer came back),
* refund_60d: a return or refund recorded within 60 days.

Statistics: the difference in proportions (sent - held out) with Newcombe's hybrid score 95% interval
(see `aftercare.analytics.stats`); the difference of mean CSAT scores with a Welch normal interval.
"Too small to tell" when either group has fewer than `MIN_GROUP` (30) customers, or when the smallest
expected count of events or non-events in a group (under one shared rate) is below 5: below that neither
the interval's coverage nor a reader's intuition about a percentage can be trusted. For the CSAT score
the groups are the customers who answered, at least 30 each.

Everything below `gather` is pure; `gather` reads the ledger and the outcome tables in one query per
table (never per customer).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.analytics.stats import newcombe_difference, smallest_expected_count, welch_mean_difference
from aftercare.clock import as_utc
from aftercare.db.models import CsatAnswer, Message, Order, ReturnItem, Review
from aftercare.domain.vocabulary import MessageStatus, Purpose

SENT = "sent"
HELD_OUT = "held_out"
MIN_GROUP = 30
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class OutcomeSpec:
    name: str
    source: str  # "csat", "review", "order" or "refund"
    window: timedelta
    label: str


OUTCOMES: tuple[OutcomeSpec, ...] = (
    OutcomeSpec("csat_answered", "csat", timedelta(days=14), "CSAT answered (14 d)"),
    OutcomeSpec("review", "review", timedelta(days=30), "review left (30 d)"),
    OutcomeSpec("repeat_30d", "order", timedelta(days=30), "repeat order (30 d)"),
    OutcomeSpec("repeat_60d", "order", timedelta(days=60), "repeat order (60 d)"),
    OutcomeSpec("repeat_90d", "order", timedelta(days=90), "repeat order (90 d)"),
    OutcomeSpec("refund_60d", "refund", timedelta(days=60), "refund (60 d)"),
)
CSAT_SCORE = "csat_score"
CSAT_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Exposure:
    """A customer's first decision for a step: sent (intent to send) or held out, at `at`."""

    customer_id: int
    step: str
    group: str  # SENT | HELD_OUT
    at: datetime


@dataclass
class Events:
    """Per customer, sorted times of what happened (and CSAT scores, aligned with `csat`)."""

    orders: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    csat: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    csat_scores: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    reviews: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    refunds: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    def sort(self) -> Events:
        for series in (self.orders, self.reviews, self.refunds):
            for times in series.values():
                times.sort()
        for cid, times in self.csat.items():
            pairs = sorted(zip(times, self.csat_scores[cid], strict=True))
            self.csat[cid] = [t for t, _ in pairs]
            self.csat_scores[cid] = [s for _, s in pairs]
        return self

    def times(self, source: str) -> Mapping[int, list[datetime]]:
        return {"order": self.orders, "csat": self.csat, "review": self.reviews, "refund": self.refunds}[
            source
        ]


@dataclass(frozen=True)
class LiftRow:
    step: str
    outcome: str
    n_sent: int
    n_held_out: int
    value_sent: float | None  # a rate, or a mean score for csat_score
    value_held_out: float | None
    difference: float | None  # sent - held out
    ci_low: float | None
    ci_high: float | None
    verdict: str  # "too small to tell", "higher when sent", "lower when sent", "no clear difference"
    events_sent: int = 0
    events_held_out: int = 0
    awaiting: int = 0  # exposed customers whose window has not passed yet (not counted)

    @property
    def too_small(self) -> bool:
        return self.verdict == TOO_SMALL


TOO_SMALL = "too small to tell"


# --- pure computation ---------------------------------------------------------------------------------------


def first_exposures(rows: Iterable[tuple[int, str, str, datetime]]) -> list[Exposure]:
    """(customer, step, status, at) ledger rows -> each customer's first decision per step."""
    first: dict[tuple[int, str], Exposure] = {}
    for customer_id, step, status, at in rows:
        if status == MessageStatus.SKIPPED.value:
            continue
        group = HELD_OUT if status == MessageStatus.HELD_OUT.value else SENT
        key = (customer_id, step)
        current = first.get(key)
        if current is None or at < current.at:
            first[key] = Exposure(customer_id, step, group, at)
    return sorted(first.values(), key=lambda e: (e.step, e.customer_id))


def _any_within(times: Sequence[datetime], start: datetime, end: datetime) -> int | None:
    """Index of the first time in (start, end], or None."""
    i = bisect.bisect_right(times, start)
    return i if i < len(times) and times[i] <= end else None


def _verdict(low: float, high: float) -> str:
    if low > 0:
        return "higher when sent"
    if high < 0:
        return "lower when sent"
    return "no clear difference"


def _proportion_row(
    step: str, outcome: OutcomeSpec, exposures: Sequence[Exposure], events: Events, as_of: datetime
) -> LiftRow:
    times = events.times(outcome.source)
    n = {SENT: 0, HELD_OUT: 0}
    k = {SENT: 0, HELD_OUT: 0}
    awaiting = 0
    for e in exposures:
        end = e.at + outcome.window
        if end > as_of:
            awaiting += 1
            continue
        n[e.group] += 1
        if _any_within(times.get(e.customer_id, ()), e.at, end) is not None:
            k[e.group] += 1
    n1, n2, k1, k2 = n[SENT], n[HELD_OUT], k[SENT], k[HELD_OUT]
    rate1 = k1 / n1 if n1 else None
    rate2 = k2 / n2 if n2 else None
    if n1 < MIN_GROUP or n2 < MIN_GROUP or smallest_expected_count(k1, n1, k2, n2) < MIN_EXPECTED:
        diff = rate1 - rate2 if rate1 is not None and rate2 is not None else None
        return LiftRow(
            step, outcome.name, n1, n2, rate1, rate2, diff, None, None, TOO_SMALL, k1, k2, awaiting
        )
    ci = newcombe_difference(k1, n1, k2, n2)
    assert rate1 is not None and rate2 is not None
    return LiftRow(
        step,
        outcome.name,
        n1,
        n2,
        rate1,
        rate2,
        rate1 - rate2,
        ci.low,
        ci.high,
        _verdict(ci.low, ci.high),
        k1,
        k2,
        awaiting,
    )


def _csat_score_row(step: str, exposures: Sequence[Exposure], events: Events, as_of: datetime) -> LiftRow:
    scores: dict[str, list[float]] = {SENT: [], HELD_OUT: []}
    awaiting = 0
    for e in exposures:
        end = e.at + CSAT_WINDOW
        if end > as_of:
            awaiting += 1
            continue
        times = events.csat.get(e.customer_id, [])
        i = _any_within(times, e.at, end)
        if i is not None:
            scores[e.group].append(float(events.csat_scores[e.customer_id][i]))
    a, b = scores[SENT], scores[HELD_OUT]
    mean_a = sum(a) / len(a) if a else None
    mean_b = sum(b) / len(b) if b else None
    diff = mean_a - mean_b if mean_a is not None and mean_b is not None else None
    if len(a) < MIN_GROUP or len(b) < MIN_GROUP:
        return LiftRow(
            step,
            CSAT_SCORE,
            len(a),
            len(b),
            mean_a,
            mean_b,
            diff,
            None,
            None,
            TOO_SMALL,
            len(a),
            len(b),
            awaiting,
        )
    ci = welch_mean_difference(a, b)
    return LiftRow(
        step,
        CSAT_SCORE,
        len(a),
        len(b),
        mean_a,
        mean_b,
        diff,
        ci.low,
        ci.high,
        _verdict(ci.low, ci.high),
        len(a),
        len(b),
        awaiting,
    )


def compute_lift(
    exposures: Sequence[Exposure], events: Events, as_of: datetime, steps: Sequence[str] | None = None
) -> list[LiftRow]:
    """One row per (step, outcome), steps in the given order (default: alphabetical)."""
    by_step: dict[str, list[Exposure]] = defaultdict(list)
    for e in exposures:
        by_step[e.step].append(e)
    names = [s for s in steps if s in by_step] if steps is not None else sorted(by_step)
    rows: list[LiftRow] = []
    for step in names:
        group = by_step[step]
        for outcome in OUTCOMES:
            rows.append(_proportion_row(step, outcome, group, events, as_of))
            if outcome.name == "csat_answered":
                rows.append(_csat_score_row(step, group, events, as_of))
    return rows


# --- reading the database -----------------------------------------------------------------------------------


def gather(session: Session) -> tuple[list[Exposure], Events]:
    """Every marketing decision in the ledger and every later outcome of those customers: 5 queries."""
    m = Message.__table__
    ledger = session.execute(
        select(m.c.customer_id, m.c.step, m.c.status, func.coalesce(m.c.sent_at, m.c.created_at)).where(
            m.c.purpose == Purpose.MARKETING.value, m.c.status != MessageStatus.SKIPPED.value
        )
    ).all()
    exposures = first_exposures((r[0], r[1], r[2], _utc(r[3])) for r in ledger)
    cohort = (
        select(m.c.customer_id)
        .where(m.c.purpose == Purpose.MARKETING.value, m.c.status != MessageStatus.SKIPPED.value)
        .distinct()
        .scalar_subquery()
    )
    events = Events()
    for cid, at in session.execute(
        select(Order.customer_id, Order.placed_at).where(Order.customer_id.in_(cohort))
    ):
        events.orders[cid].append(_utc(at))
    for cid, at, score in session.execute(
        select(CsatAnswer.customer_id, CsatAnswer.answered_at, CsatAnswer.score).where(
            CsatAnswer.customer_id.in_(cohort)
        )
    ):
        events.csat[cid].append(_utc(at))
        events.csat_scores[cid].append(int(score))
    for cid, at in session.execute(
        select(Review.customer_id, Review.created_at).where(Review.customer_id.in_(cohort))
    ):
        events.reviews[cid].append(_utc(at))
    for cid, at in session.execute(
        select(Order.customer_id, ReturnItem.created_at)
        .join(Order, Order.id == ReturnItem.order_id)
        .where(Order.customer_id.in_(cohort))
    ):
        events.refunds[cid].append(_utc(at))
    return exposures, events.sort()


def data_as_of(session: Session) -> datetime | None:
    """The newest moment the database knows about (last ledger change or order): a simulated store's 'now'."""
    last_message = session.scalar(select(func.max(Message.status_at)))
    last_order = session.scalar(select(func.max(Order.placed_at)))
    known = [_utc(v) for v in (last_message, last_order) if v is not None]
    return max(known) if known else None


def lift(session: Session, as_of: datetime, steps: Sequence[str] | None = None) -> list[LiftRow]:
    exposures, events = gather(session)
    return compute_lift(exposures, events, as_of, steps)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # aggregates over a UTC column come back as text on SQLite
        value = datetime.fromisoformat(value)
    return as_utc(value)


# --- presentation -------------------------------------------------------------------------------------------


def _fmt_value(row: LiftRow, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if row.outcome == CSAT_SCORE else f"{100 * value:.1f}%"


def _fmt_diff(row: LiftRow, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if row.outcome == CSAT_SCORE else f"{100 * value:+.1f} pts"


def format_row(row: LiftRow) -> dict[str, str]:
    """The row as the CLI table and the markdown show it."""
    ci = "-" if row.ci_low is None else f"[{_fmt_diff(row, row.ci_low)}, {_fmt_diff(row, row.ci_high)}]"
    return {
        "step": row.step,
        "outcome": row.outcome,
        "sent (n)": str(row.n_sent),
        "held out (n)": str(row.n_held_out),
        "sent": _fmt_value(row, row.value_sent),
        "held out": _fmt_value(row, row.value_held_out),
        "difference": _fmt_diff(row, row.difference),
        "95% CI": ci,
        "verdict": row.verdict,
    }


METHOD_NOTE = (
    "Sent = decided to send (intent to treat), held out = deterministic holdout; first decision per customer "
    "and step; outcomes counted over the window after the message time, only once the window has passed. "
    "95% CI: Newcombe hybrid score (Wilson) for rates, Welch normal for the mean CSAT score. "
    f"'too small to tell': a group under {MIN_GROUP} customers, or an expected count of events or non-events "
    f"under {MIN_EXPECTED:g}."
)


def lift_markdown(session: Session, now: datetime) -> str:
    """The lift section of the daily report, as markdown (see `lift_section`)."""
    return lift_section(lift(session, now), now)


SIGNIFICANT = ("higher when sent", "lower when sent")


def lift_section(rows: Sequence[LiftRow], now: datetime) -> str:
    """Only the verdicts: the step/outcome pairs whose 95% interval excludes zero, then one line for the rest.

    A daily report of every pair is mostly "too small to tell" (35 rows of it on a young store), which hides
    the few that say something; `aftercare lift` shows every pair with its numbers."""
    if not rows:
        return "## Lift per step\n\nNo marketing step has been sent or held out yet.\n"
    verdicts = [r for r in rows if r.verdict in SIGNIFICANT]
    rest = Counter(r.verdict for r in rows if r.verdict not in SIGNIFICANT)
    lines = ["## Lift per step", "", f"As of {now.isoformat()}. {METHOD_NOTE}", ""]
    if verdicts:
        cells = [format_row(r) for r in verdicts]
        header = list(cells[0])
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(c[h] for h in header) + " |" for c in cells]
    else:
        lines.append("No step/outcome pair shows a clear difference yet.")
    if rest:
        parts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(rest.items(), key=lambda kv: (-kv[1], kv[0])))
        lines += ["", f"The other {sum(rest.values())} step/outcome pairs: {parts} "
                      "(`aftercare lift` shows every pair with its numbers)."]
    return "\n".join(lines) + "\n"


def rows_json(rows: Sequence[LiftRow], as_of: datetime) -> str:
    def clean(row: LiftRow) -> dict[str, Any]:
        out = asdict(row)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 4)
        return out

    return json.dumps({"as_of": as_of.isoformat(), "rows": [clean(r) for r in rows]})
