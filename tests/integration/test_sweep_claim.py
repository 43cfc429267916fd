"""The claim is built once per shape and run with its times, worker and journey as parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from aftercare.db.models import Journey, ScheduledStep
from tests.journeys import place_order


def test_a_sweep_of_one_journey_claims_its_steps_only_and_sets_no_other_column(services, email):
    orders = [place_order(services, n=n) for n in (1, 2, 3)]
    with services.session_factory() as session:
        journey_id = session.scalar(select(Journey.id).where(Journey.order_id == orders[1]))
        before = {r.id: r.journey_id for r in session.execute(select(ScheduledStep.id, ScheduledStep.journey_id))}
    report = services.sweeper.run(journey_id=journey_id)
    assert report.claimed == 1 and len(email.sent) == 1 and email.sent[0].to == "c2@example.com"
    assert services.sweeper.run(journey_id=journey_id).claimed == 0  # the template is reused for the same shape
    with services.session_factory() as session:
        after = {r.id: r.journey_id for r in session.execute(select(ScheduledStep.id, ScheduledStep.journey_id))}
    assert after == before  # the claim's parameters are named like no column: none is set by them
    assert services.sweeper.run().claimed == 2 and len(email.sent) == 3


def test_the_statement_exposed_for_explain_is_the_one_the_sweep_runs(services):
    now = datetime(2026, 3, 2, tzinfo=UTC)
    dialect = services.session_factory.kw["bind"].dialect
    for journey_id, reclaim_own in ((None, False), (None, True), (7, False)):
        shown = services.sweeper.claim_statement(now, "w", 50, journey_id, reclaim_own).compile(dialect=dialect)
        run = services.sweeper._claim_template(50, journey_id is not None, reclaim_own).compile(dialect=dialect)
        assert str(shown) == str(run)
