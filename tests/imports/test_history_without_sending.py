"""Three hundred orders from the last ten months imported: nothing past is sent, what is ahead is sent on time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftercare.clock import as_utc
from aftercare.db.models import DecisionLog, Message, Order, ScheduledStep
from aftercare.domain.vocabulary import Reason, StepStatus
from aftercare.services.explain import explain
from aftercare.services.funnel import funnel
from tests.conftest import run_until
from tests.imports.conftest import history, run_import


def test_history_is_backfilled_never_sent_and_steps_ahead_go_out_when_due(services, clock, email, sms,
                                                                          shopify_sample):
    imported_at = clock.now()
    shop = history(shopify_sample, imported_at, 300)
    summary = run_import(services, shop, imported_at - timedelta(days=400))

    assert summary.counts["orders_new"] == 300
    assert email.sent == [] and sms.sent == []  # the import itself sends nothing
    with services.session_factory() as session:
        steps = session.scalars(select(ScheduledStep)).all()
        own_time = {s.name for s in services.journey.steps if s.decides_own_time}  # left to be decided
        past = [s for s in steps if as_utc(s.first_due_at) <= imported_at and s.step not in own_time]
        ahead = [s for s in steps if as_utc(s.first_due_at) > imported_at]
        assert {(s.status, s.last_reason) for s in past} <= {
            (StepStatus.DONE.value, Reason.BACKFILLED.value),
            (StepStatus.CANCELLED.value, "new_order")}  # a later order stopped an older one's win-back
        assert sum(s.last_reason == Reason.BACKFILLED.value for s in past) >= 300 * 2  # confirmations and more
        assert {s.status for s in ahead} <= {StepStatus.PENDING.value, StepStatus.CANCELLED.value}
        assert session.scalar(select(Message.id).limit(1)) is None
        logged = {d.step_id: d for d in session.scalars(select(DecisionLog))}
        assert all(logged[s.id].outcome == "backfill" for s in past if s.last_reason == Reason.BACKFILLED.value)
        confirmations = [s for s in steps if s.step == "confirmation"]
        assert len(confirmations) == 300 and all(s.last_reason == Reason.BACKFILLED.value for s in confirmations)
        backfilled_ids = {s.id for s in past if s.last_reason == Reason.BACKFILLED.value}
        pending = {s.id: (s.step, s.order_id, as_utc(s.due_at)) for s in ahead
                   if s.status == StepStatus.PENDING.value}
        own = {s.id: (s.step, s.order_id, as_utc(s.first_due_at)) for s in steps if s.step in own_time}
        by_step = {row.step: row for row in summary.steps}
        assert by_step["confirmation"].backfilled == 300 and by_step["confirmation"].scheduled == 0
        assert by_step["review_request"].scheduled > 0 and by_step["winback_1"].scheduled > 0
        assert {row.step: row.backfilled for row in funnel(session, services.journey.names)
                if row.backfilled}["delivered_notice"] == by_step["delivered_notice"].backfilled
        newest_delivered = max((s for s in steps if s.step == "review_request" and s.status == "pending"),
                               key=lambda s: s.due_at)
        order_number = session.get(Order, newest_delivered.order_id).number
        timeline = explain(session, order_number)
        shown = {line.step: line for line in timeline.steps}
        assert shown["delivered_notice"].decisions[0].outcome == "backfill"
        assert shown["delivered_notice"].decisions[0].reason == "backfilled"
        assert shown["review_request"].status == "pending"

    run_until(services, clock, imported_at + timedelta(days=120), tick=timedelta(hours=3))

    with services.session_factory() as session:
        messages = session.scalars(select(Message)).all()
        sent = [m for m in messages if m.status == "sent"]
        assert sent, "the steps still ahead were sent by the sweep"
        assert not [m for m in messages if m.step_id in backfilled_ids]  # nothing backfilled ever became a message
        later = {s.id: (s.step, s.order_id, as_utc(s.first_due_at)) for s in session.scalars(
            select(ScheduledStep).where(ScheduledStep.id.not_in([*pending, *backfilled_ids, *own])))}
        # a step created after the import is one a sent message chained (win-back 2 after win-back 1)
        assert {later[m.step_id][0] for m in sent if m.step_id in later} <= {
            "winback_2", "winback_3", "review_reminder", "points_statement"}
        for m in sent:
            step, _, due = pending.get(m.step_id) or later.get(m.step_id) or own[m.step_id]
            assert as_utc(m.sent_at) >= max(due, imported_at)
        sent_steps = {(pending.get(m.step_id) or later.get(m.step_id) or own[m.step_id])[0] for m in sent}
        assert {"review_request", "winback_1"} <= sent_steps
        assert not sent_steps & {"confirmation", "shipped", "delivered_notice", "cancellation_notice"}
    assert len(email.sent) + len(sms.sent) == len(sent)
    assert {m.step for m in email.sent} | {m.step for m in sms.sent} == sent_steps
