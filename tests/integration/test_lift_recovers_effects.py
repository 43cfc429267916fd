"""`aftercare lift` on a simulated store recovers the store's built-in true effects within its 95% CI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aftercare.analytics.lift import MIN_GROUP, TOO_SMALL, lift, lift_markdown
from aftercare.bootstrap import build_services
from aftercare.clock import FrozenClock
from aftercare.demo.simulation import TRUE_EFFECTS, DemoConfig, Simulation, expected_lift
from aftercare.journeys import default_journey
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.reports import SweepReport
from tests.conftest import make_settings

pytestmark = pytest.mark.slow  # one ~40 s simulation shared by the module's tests

HOLDOUT = 0.5  # a large holdout so a test-sized store can tell; the default is 5%


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    home: Path = tmp_path_factory.mktemp("lift")
    # Orders over 10 days, then long enough for winback_1 (90 days after delivery) plus its 30-day window.
    config = DemoConfig(seed=11, customers=1000, order_days=10, days=135, tick=timedelta(hours=3))
    clock = FrozenClock(config.start)
    services = build_services(
        make_settings(home, holdout_share=HOLDOUT), clock=clock, email=FakeEmailSender(), sms=FakeSmsSender()
    )

    def sweep() -> (
        SweepReport
    ):  # a one-row probe spares the empty hours a claim transaction, as the demo does
        return services.sweeper.run() if services.sweeper.has_due() else SweepReport()

    sim = Simulation(services, clock, config, sweep=sweep)
    sim.seed_store()
    sim.run()
    marketing = [s.name for s in services.journey.steps if s.is_marketing]
    with services.session_factory() as session:
        rows = lift(session, clock.now(), marketing)
        markdown = lift_markdown(session, clock.now())
    services.engine.dispose()
    return rows, markdown


def test_every_true_effect_with_enough_data_lies_inside_the_reported_interval(simulated):
    rows, _ = simulated
    checked = []
    for effect in TRUE_EFFECTS:
        row = next(r for r in rows if r.step == effect.step and r.outcome == effect.outcome)
        if row.too_small:
            continue
        truth = expected_lift(effect.step, HOLDOUT)
        assert row.ci_low is not None and row.ci_high is not None
        assert row.ci_low <= truth <= row.ci_high, (effect, row)
        checked.append(effect.step)
    # The test must not pass by having nothing to check.
    assert {"winback_1", "review_request", "setup_guide"} <= set(checked)


def test_small_groups_are_reported_as_too_small_to_tell_without_an_interval(simulated):
    rows, _ = simulated
    small = [r for r in rows if min(r.n_sent, r.n_held_out) < MIN_GROUP]
    assert small, "the simulation should leave some step with a small group (winback_3)"
    for row in small:
        assert row.verdict == TOO_SMALL and row.ci_low is None and row.ci_high is None


def test_transactional_steps_are_never_in_the_lift_table(simulated):
    rows, _ = simulated
    journey = default_journey()
    marketing = {s.name for s in journey.steps if s.is_marketing}
    assert {"setup_guide", "review_request", "winback_1", "points_statement"} <= marketing
    assert {r.step for r in rows} <= marketing
    assert not {r.step for r in rows} & {s.name for s in journey.steps if not s.is_marketing}
    assert "confirmation" not in {r.step for r in rows}


def test_the_daily_report_shows_the_verdicts_and_one_line_for_the_rest(simulated):
    rows, markdown = simulated
    assert markdown.startswith("## Lift per step")
    verdicts = [r for r in rows if r.verdict in ("higher when sent", "lower when sent")]
    assert verdicts, "the simulated store's true effects should show"
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # The report lists the steps in its own order; the pairs are the same.
    assert sorted(tuple(line.split(" | ")[:2]) for line in table) == sorted((f"| {r.step}", r.outcome)
                                                                            for r in verdicts)
    assert f"The other {len(rows) - len(verdicts)} step/outcome pairs: " in markdown
    assert TOO_SMALL not in "\n".join(table)
