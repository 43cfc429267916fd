"""Resolving a service-recovery case from outside (issue 11 item 19): the signed helpdesk webhook and the signed
link in support's notice. Bad input is a 4xx and changes nothing; a GET of the link changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import InboxEvent, RecoveryCase, ScheduledStep
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.recovery import resolve_link
from aftercare.webhooks.app import create_app
from tests.conftest import make_settings
from tests.journeys import answer_csat, fulfil, place_order, track
from tests.webhooks.conftest import snapshot

SECRET = "helpdesk-test-secret-0123456789abcdef"


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender) -> Iterator[Services]:
    built = build_services(make_settings(tmp_path, helpdesk_webhook_secret=SECRET,
                                         public_base_url="https://hooks.example.test"),
                           clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


def post(client: TestClient, payload: dict[str, Any] | bytes, secret: str = SECRET, prefix: str = "") -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/helpdesk", content=body,
                       headers={"X-Aftercare-Signature": signature, "Content-Type": "application/json"})


def unhappy_order(services: Services, clock: FrozenClock) -> int:
    order_id = place_order(services)
    fulfil(services)
    track(services, "delivered")
    clock.advance(timedelta(days=3, hours=1))
    answer_csat(services, order_id, 1)
    return order_id


def the_case(services: Services) -> RecoveryCase:
    with services.session_factory() as session:
        case = session.scalar(select(RecoveryCase))
        assert case is not None
        session.expunge(case)
        return case


def review_step(services: Services) -> ScheduledStep:
    with services.session_factory() as session:
        step = session.scalar(select(ScheduledStep).where(ScheduledStep.step == "review_request"))
        assert step is not None
        session.expunge(step)
        return step


def test_a_closed_ticket_resolves_the_case_by_order_number_and_releases_the_review(client, services, clock):
    unhappy_order(services, clock)
    event = {"event_id": "zd-4711-solved", "order": "#1001", "status": "solved", "resolution": "refund issued"}
    response = post(client, event, prefix="sha256=")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "stored", "result": "helpdesk:resolved"}
    case = the_case(services)
    assert case.resolved_at is not None and case.resolution == "refund issued" and not case.needs_follow_up
    assert review_step(services).trigger == "recovery_resolved"
    with services.session_factory() as session:
        stored = session.scalar(select(InboxEvent).where(InboxEvent.source == "recovery"))
    assert stored is not None and stored.dedup_key == "helpdesk:zd-4711-solved" and stored.applied_at is not None
    # The same event again is a replay: stored as nothing.
    before = snapshot(services)
    assert post(client, event).json()["status"] == "duplicate"
    assert snapshot(services) == before


def test_a_case_id_and_the_resolution_time_are_honoured(client, services, clock):
    unhappy_order(services, clock)
    case_id = the_case(services).id
    clock.advance(timedelta(hours=3))
    at = clock.now() - timedelta(hours=2)  # support closed the ticket two hours ago
    response = post(client, {"event_id": 9, "case": case_id, "resolved_at": at.isoformat().replace("+00:00", "Z")})
    assert response.json()["result"] == "helpdesk:resolved"
    assert review_step(services).due_at.replace(tzinfo=at.tzinfo) == at + timedelta(days=1)


def test_a_resolution_time_before_the_case_opened_counts_from_the_opening(client, services, clock):
    unhappy_order(services, clock)
    case = the_case(services)
    assert post(client, {"case": case.id, "resolved_at": "2020-01-01T00:00:00+00:00"}).json()["result"] == \
        "helpdesk:resolved"
    opened = case.opened_at.replace(tzinfo=clock.now().tzinfo)
    assert review_step(services).due_at.replace(tzinfo=opened.tzinfo) == opened + timedelta(days=1)


def test_a_ticket_with_no_recovery_case_or_still_open_is_stored_and_changes_no_case(client, services, clock):
    unhappy_order(services, clock)
    assert post(client, {"event_id": "a", "order": "#9999", "status": "closed"}).json()["result"] == \
        "no_recovery_case"
    assert post(client, {"event_id": "b", "order": "#1001", "status": "open"}).json()["result"] == \
        "ignored:status_open"
    assert the_case(services).resolved_at is None


@pytest.mark.parametrize(
    ("body", "secret", "status"),
    [
        (b'{"order": "#1001"}', "wrong-secret", 401),
        (b"{not json", SECRET, 400),
        (b'["#1001"]', SECRET, 400),
        (b'{"status": "closed"}', SECRET, 400),  # names no case
        (b'{"case": -3}', SECRET, 400),
        (b'{"case": true}', SECRET, 400),
        (b'{"order": "#1001", "resolved_at": "yesterday"}', SECRET, 400),
        (b'{"order": "#1001", "resolved_at": "2026-03-01T10:00:00"}', SECRET, 400),  # no zone
        (b'{"order": "' + b"x" * 65 + b'"}', SECRET, 400),
        (b"[" * 1000 + b"]" * 1000, SECRET, 400),
    ],
)
def test_bad_or_unsigned_requests_are_refused_and_change_nothing(client, services, clock, body, secret, status):
    unhappy_order(services, clock)
    before = snapshot(services)
    assert post(client, body, secret=secret).status_code == status
    assert snapshot(services) == before


def test_no_secret_configured_refuses_every_request(tmp_path, clock, email, sms):
    built = build_services(make_settings(tmp_path), clock=clock, email=email, sms=sms)
    with TestClient(create_app(lambda: built)) as c:
        assert post(c, {"order": "#1001"}).status_code == 401
    built.engine.dispose()


def _link_path(services: Services, case_id: int) -> str:
    parts = urlsplit(resolve_link(services.links, case_id, services.clock.now()))
    return f"{parts.path}?{parts.query}"


def test_the_support_link_shows_a_confirm_page_on_get_and_resolves_only_on_post(client, services, clock):
    unhappy_order(services, clock)
    case_id = the_case(services).id
    path = _link_path(services, case_id)
    before = snapshot(services)
    for _ in range(3):  # a link scanner fetching the link
        page = client.get(path)
        assert page.status_code == 200 and 'method="post"' in page.text and "Mark resolved" in page.text
    assert snapshot(services) == before
    done = client.post(path)
    assert done.status_code == 200 and "is resolved" in done.text
    case = the_case(services)
    assert case.resolved_at is not None and case.resolution == "resolved via support link"
    assert review_step(services).trigger == "recovery_resolved"


def test_the_link_in_supports_recovery_notice_resolves_the_case(client, services, clock, email):
    unhappy_order(services, clock)
    services.sweeper.run()
    [notice] = [m for m in email.sent if m.step == "recovery_notice"]
    assert notice.to == services.settings.support_email
    url = next(word for word in notice.text.split() if "/recovery/resolve?t=" in word)
    parts = urlsplit(url)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    assert the_case(services).resolved_at is None
    assert client.post(f"{parts.path}?{parts.query}").status_code == 200
    assert the_case(services).resolved_at is not None


def test_a_tampered_or_wrong_kind_support_link_is_refused(client, services, clock):
    order_id = unhappy_order(services, clock)
    path = _link_path(services, the_case(services).id)
    token = path.split("t=", 1)[1]
    body, sig = token.split(".")
    before = snapshot(services)
    forged = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert client.post(f"/recovery/resolve?t={body}.{forged}").status_code == 403
    csat_link = services.links.csat_links(order_id, clock.now())[1]
    assert client.post("/recovery/resolve?" + urlsplit(csat_link).query).status_code == 403
    assert client.post("/recovery/resolve").status_code == 400
    assert snapshot(services) == before
