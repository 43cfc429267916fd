"""The daily report: the funnel, the CSAT distribution, review conversion, win-back recovery, and the
service-recovery cases left open past the recovery window (support's to-do list).

`daily_report(session, ...)` returns the numbers and their markdown; the flow publishes the markdown as a
Prefect artifact. Definitions:
- review conversion = review requests answered by a review / review requests sent (per order: a review of
  that order, or any review by the customer after the request went out);
- win-back recovery = customers who ordered within `recovery_window` after their first win-back message /
  customers sent a win-back message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import CsatAnswer, Message, Order, RecoveryCase, Review
from aftercare.journeys.journey import Journey
from aftercare.services.funnel import FunnelRow, funnel
from aftercare.services.recovery import CaseView, overdue_cases

SENT_STATUSES = ("sent", "delivered", "opened", "clicked")
RECOVERY_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def share(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def __str__(self) -> str:
        share = self.share
        return f"{self.numerator} / {self.denominator} ({share:.1%})" if share is not None else "0 / 0 (n/a)"


@dataclass
class DailyReport:
    as_of: datetime
    funnel: list[FunnelRow]
    csat: dict[int, int]  # score 1-5 -> answers
    review_conversion: Ratio
    winback_recovery: Ratio
    extra_sections: list[str] = field(default_factory=list)
    recovery_open: int = 0  # service-recovery cases not resolved yet
    recovery_overdue: list[CaseView] = field(default_factory=list)  # ...of which open past the recovery window
    recovery_window: timedelta = timedelta(days=7)

    @property
    def csat_total(self) -> int:
        return sum(self.csat.values())

    def csat_share(self, score: int) -> float:
        return self.csat[score] / self.csat_total if self.csat_total else 0.0


def _lift_section(session: Session, now: datetime) -> str | None:
    from aftercare.analytics.lift import lift_markdown  # keeps scipy off this module's import path

    return lift_markdown(session, now)


# Extra sections appended to the report in order, each returning markdown (or None: nothing to say yet).
LIFT_SECTION_HOOKS: list[Callable[[Session, datetime], str | None]] = [_lift_section]


def csat_distribution(session: Session) -> dict[int, int]:
    counts = dict(session.execute(select(CsatAnswer.score, func.count()).group_by(CsatAnswer.score)).all())
    return {score: int(counts.get(score, 0)) for score in range(1, 6)}


def review_conversion(session: Session, steps: Sequence[str]) -> Ratio:
    """Of the orders a review request (a step tagged `review`) went to, how many got a review."""
    requests = session.execute(
        select(Message.order_id, Message.customer_id, func.min(Message.sent_at))
        .where(Message.step.in_(list(steps)), Message.status.in_(SENT_STATUSES))
        .group_by(Message.order_id, Message.customer_id)
    ).all()
    if not requests:
        return Ratio(0, 0)
    customers = {customer_id for _, customer_id, _ in requests}
    reviews = session.execute(
        select(Review.customer_id, Review.order_id, Review.created_at).where(Review.customer_id.in_(customers))
    ).all()
    converted = 0
    for order_id, customer_id, sent_at in requests:
        sent = as_utc(sent_at) if sent_at else None
        if any(r.customer_id == customer_id and (r.order_id == order_id or (sent and as_utc(r.created_at) >= sent))
               for r in reviews):
            converted += 1
    return Ratio(converted, len(requests))


def winback_recovery(session: Session, steps: Sequence[str], window: timedelta = RECOVERY_WINDOW) -> Ratio:
    first_sent = {
        customer_id: as_utc(sent_at)
        for customer_id, sent_at in session.execute(
            select(Message.customer_id, func.min(Message.sent_at))
            .where(Message.step.in_(list(steps)), Message.status.in_(SENT_STATUSES), Message.sent_at.is_not(None))
            .group_by(Message.customer_id)
        )
    }
    if not first_sent:
        return Ratio(0, 0)
    recovered = set()
    for customer_id, placed_at in session.execute(
        select(Order.customer_id, Order.placed_at).where(Order.customer_id.in_(first_sent))
    ):
        start = first_sent[customer_id]
        if start < as_utc(placed_at) <= start + window:
            recovered.add(customer_id)
    return Ratio(len(recovered), len(first_sent))


def daily_report(session: Session, *, journey: Journey, now: datetime,
                 recovery_window: timedelta = timedelta(days=7)) -> DailyReport:
    """Review conversion and win-back recovery count the journey's steps tagged `review` and `winback`."""
    report = DailyReport(now, funnel(session, journey.names), csat_distribution(session),
                         review_conversion(session, journey.tagged("review")),
                         winback_recovery(session, journey.tagged("winback")))
    report.recovery_open = int(session.scalar(
        select(func.count()).select_from(RecoveryCase).where(RecoveryCase.resolved_at.is_(None))) or 0)
    report.recovery_overdue = overdue_cases(session, now, recovery_window)
    report.recovery_window = recovery_window
    for hook in LIFT_SECTION_HOOKS:
        section = hook(session, now)
        if section:
            report.extra_sections.append(section)
    return report


def to_markdown(report: DailyReport) -> str:
    lines = [f"# Aftercare daily report, {report.as_of:%Y-%m-%d %H:%M} UTC", "", "## Funnel", "",
             ("| step | email | sms | deferred | waiting | pending | held out | failed | unknown | skipped | "
             "skipped by reason |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in report.funnel:
        reasons = ", ".join(f"{k} {v}" for k, v in r.skipped.most_common()) or "-"
        lines.append(f"| {r.step} | {r.sent['email']} | {r.sent['sms']} | {r.deferred} | {r.waiting} | {r.pending} "
                     f"| {r.held_out} | {r.failed} | {r.unknown} | {r.skipped_total} | {reasons} |")
    if not report.funnel:
        lines.append("| (no messages yet) | | | | | | | | | | |")
    lines += ["", f"## CSAT ({report.csat_total} answers)", "", "| score | answers | share |", "|---:|---:|---:|"]
    lines += [f"| {s} | {report.csat[s]} | {report.csat_share(s):.1%} |" for s in range(1, 6)]
    lines += ["", "## Reviews", "", (f"Review conversion (reviews left / review requests sent): "
              f"**{report.review_conversion}**"), "", "## Win-back", "",
              (f"Win-back recovery (customers who ordered within 30 days of a win-back message / customers "
              f"messaged): **{report.winback_recovery}**")]
    lines += _recovery_lines(report)
    for section in report.extra_sections:
        lines += ["", section]
    return "\n".join(lines) + "\n"


def _recovery_lines(report: DailyReport) -> list[str]:
    """Open cases, and those past the window: no longer holding the customer back, but nobody closed them."""
    days = report.recovery_window / timedelta(days=1)
    lines = ["", "## Service recovery", "",
             f"Open cases: **{report.recovery_open}**; open past the {days:g}-day recovery window: "
             f"**{len(report.recovery_overdue)}** (their customers are no longer held back; resolve them with "
             "`aftercare recovery resolve CASE` or from the helpdesk)."]
    if report.recovery_overdue:
        lines += ["", "| case | order | open since |", "|---:|---|---|"]
        lines += [f"| {c.case_id} | {c.order_number} | {c.opened_at:%Y-%m-%d %H:%M} UTC |"
                  for c in report.recovery_overdue]
    return lines
