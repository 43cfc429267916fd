"""`aftercare recovery resolve CASE` and the flags for cases left open past the recovery window (issue 11
item 19): through the real CLI (Typer's CliRunner) and the daily report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from aftercare.bootstrap import use_services
from aftercare.cli import app
from aftercare.db.models import RecoveryCase, ScheduledStep
from aftercare.services.daily_report import daily_report, to_markdown
from tests.journeys import answer_csat, fulfil, place_order, track

runner = CliRunner()


def _unhappy(services, clock, n: int = 1) -> int:
    order_id = place_order(services, n=n)
    fulfil(services, n)
    track(services, "delivered", n)
    clock.advance(timedelta(days=3, hours=1))
    services.sweeper.run()
    answer_csat(services, order_id, 1)
    return order_id


def _case(services, order_id: int) -> RecoveryCase:
    with services.session_factory() as session:
        case = session.scalar(select(RecoveryCase).where(RecoveryCase.order_id == order_id))
        assert case is not None
        session.expunge(case)
        return case


def test_resolve_by_case_id_closes_the_case_and_releases_the_review_request(services, clock, email, sms):
    order_id = _unhappy(services, clock)
    case = _case(services, order_id)
    with use_services(services):
        result = runner.invoke(app, ["recovery", "resolve", str(case.id), "--note", "refund issued"])
    assert result.exit_code == 0, result.output
    assert f"case {case.id} (order #1001) resolved" in result.output
    resolved = _case(services, order_id)
    assert resolved.resolved_at is not None and resolved.resolution == "refund issued"
    assert not resolved.needs_follow_up
    with services.session_factory() as session:
        review = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "review_request"))
    assert review.trigger == "recovery_resolved"
    clock.advance(timedelta(days=1, hours=1))
    services.sweeper.run()
    assert [m.step for m in email.sent + sms.sent].count("review_request") == 1


def test_resolve_by_order_number_and_a_second_resolve_changes_nothing(services, clock):
    order_id = _unhappy(services, clock)
    with use_services(services):
        first = runner.invoke(app, ["recovery", "resolve", "#1001"])
        clock.advance(timedelta(hours=1))
        second = runner.invoke(app, ["recovery", "resolve", "#1001", "--note", "again"])
    assert first.exit_code == 0 and "resolved; the review request is released" in first.output
    assert second.exit_code == 0 and "already resolved" in second.output
    assert _case(services, order_id).resolution == "resolved via cli"


def test_resolving_an_unknown_case_exits_non_zero_and_changes_nothing(services, clock):
    order_id = _unhappy(services, clock)
    with use_services(services):
        result = runner.invoke(app, ["recovery", "resolve", "999"])
        by_order = runner.invoke(app, ["recovery", "resolve", "#9999"])
    assert result.exit_code == 1 and "no recovery case 999" in result.output
    assert by_order.exit_code == 1
    assert _case(services, order_id).resolved_at is None


def test_a_case_open_past_the_recovery_window_is_flagged_in_status_and_the_daily_report(services, clock):
    _unhappy(services, clock)
    with use_services(services):
        inside = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert inside.exit_code == 0, inside.output
    assert "recovery cases open past the window: none" in inside.output
    clock.advance(timedelta(days=7, hours=1))
    with use_services(services):
        past = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
        listed = runner.invoke(app, ["recovery", "overdue"])
    assert past.exit_code == 0, past.output
    assert "Recovery cases open past the window (1)" in past.output and "#1001" in past.output
    assert "#1001" in listed.output
    with services.session_factory() as session:
        report = daily_report(session, journey=services.journey, now=clock.now(),
                              recovery_window=services.policy.recovery_window)
    markdown = to_markdown(report)
    assert "Open cases: **1**; open past the 7-day recovery window: **1**" in markdown
    assert "| #1001 |" in markdown and "@" not in markdown
