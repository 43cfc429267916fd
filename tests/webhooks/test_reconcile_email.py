"""Unknown emails and SendGrid's event webhook (issue 11, item 16): an accepted message is always reported with
our ledger id, so a message still `unknown` past the window was never accepted and is sent again once, but
only while the webhook is known to be live; otherwise it is held for the operator (`aftercare reconcile
--resend`)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from aftercare.bootstrap import Services, build_reconciler, use_services
from aftercare.cli import app
from aftercare.db.models import Message
from tests.journeys import kill_sweep_at, place_order
from tests.webhooks.conftest import SendGridKey, message_row
from tests.webhooks.test_sendgrid import event, post_events

runner = CliRunner()


def unknown_confirmations(services: Services, clock, n: int = 1) -> list[int]:
    """`n` confirmations whose sweep was killed after marking them `sending`, before the provider call."""
    for i in range(1, n + 1):
        place_order(services, n=i)
    kill_sweep_at(services, clock, "sending")
    with services.session_factory() as session:
        rows = session.execute(select(Message.id, Message.status).where(Message.step == "confirmation")).all()
    assert {status for _, status in rows} == {"unknown"}
    return sorted(i for i, _ in rows)


def cells(line: str) -> list[str]:
    """The cells of a Rich table row."""
    return [c.strip() for c in line.strip().strip("│┃").split("│")] if "│" in line else []


def some_other_event(client: TestClient, services: Services, key: SendGridKey, n: int) -> None:
    """The webhook is live: SendGrid reports some other message (one it knows nothing of is fine)."""
    ts = int(services.clock.now().timestamp())
    assert post_events(client, services, key, [event("delivered", n, 999_999, ts)]).status_code == 200


def test_with_the_webhook_live_an_email_with_no_event_past_the_window_is_sent_again_once(
    client: TestClient, services: Services, sendgrid_key: SendGridKey, clock, email
) -> None:
    (ledger_id,) = unknown_confirmations(services, clock)
    clock.advance(timedelta(hours=1))
    some_other_event(client, services, sendgrid_key, 1)

    report = build_reconciler(services).run()

    assert report.resent_ids == [ledger_id]
    assert [(m.message_id, m.to, m.step) for m in email.sent] == [(str(ledger_id), "c1@example.com", "confirmation")]
    row = message_row(services, ledger_id)
    assert (row.status, row.resends, row.provider_message_id) == ("sent", 1, "fake-1")

    clock.advance(timedelta(hours=2))
    some_other_event(client, services, sendgrid_key, 2)
    assert build_reconciler(services).run().resent_ids == []  # a second run sends nothing more
    assert len(email.sent) == 1


def test_an_email_sendgrid_reported_is_settled_by_its_event_and_never_resent(
    client: TestClient, services: Services, sendgrid_key: SendGridKey, clock, email
) -> None:
    (ledger_id,) = unknown_confirmations(services, clock)
    ts = int(clock.now().timestamp())
    assert post_events(client, services, sendgrid_key, [event("processed", 1, ledger_id, ts)]).status_code == 200
    row = message_row(services, ledger_id)
    assert (row.status, row.provider_message_id) == ("sent", f"sg{ledger_id}")
    clock.advance(timedelta(hours=2))
    some_other_event(client, services, sendgrid_key, 2)
    assert build_reconciler(services).run().resent_ids == [] and email.sent == []


def test_before_the_window_nothing_is_resent(
    client: TestClient, services: Services, sendgrid_key: SendGridKey, clock, email
) -> None:
    (ledger_id,) = unknown_confirmations(services, clock)
    clock.advance(timedelta(minutes=30))
    some_other_event(client, services, sendgrid_key, 1)
    report = build_reconciler(services).run()
    assert email.sent == [] and [(w.ledger_id, w.reason) for w in report.waiting] == [(ledger_id,
                                                                                        "email_event_window")]


def test_with_the_webhook_silent_unknowns_are_listed_and_resent_only_by_the_operator(
    client: TestClient, services: Services, sendgrid_key: SendGridKey, clock, email
) -> None:
    ids = unknown_confirmations(services, clock, n=3)
    some_other_event(client, services, sendgrid_key, 1)  # heard from, but not since these were attempted...
    clock.advance(timedelta(hours=4))  # ...and nothing for hours: the webhook is not known to be live

    with use_services(services):
        listed = runner.invoke(app, ["reconcile"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert email.sent == []
    for ledger_id in ids:
        line = next(ln for ln in listed.output.splitlines() if cells(ln)[:1] == [str(ledger_id)])
        assert "confirmation" in line and "event_webhook_not_live" in line
    assert "aftercare reconcile --resend" in listed.output
    assert "@example.com" not in listed.output
    assert {message_row(services, i).status for i in ids} == {"unknown"}

    with use_services(services):
        resent = runner.invoke(app, ["reconcile", "--resend"], env={"COLUMNS": "200"})
    assert resent.exit_code == 0, resent.output
    assert sorted(int(m.message_id) for m in email.sent) == ids
    assert {message_row(services, i).status for i in ids} == {"sent"}
    assert "resent 3" in resent.output and "@example.com" not in resent.output

    with use_services(services):
        again = runner.invoke(app, ["reconcile", "--resend"])
    assert again.exit_code == 0 and "resent 0" in again.output and len(email.sent) == 3
