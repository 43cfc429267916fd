"""Consent through the real surface: what a customer told us is never undone by an older, replayed or echoed
statement; START only lifts a STOP; every statement is kept as evidence and shown by the CLI."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from aftercare.bootstrap import Services, use_services
from aftercare.cli import app
from aftercare.clock import FrozenClock, as_utc
from aftercare.db.models import Consent, ConsentEvent, Customer, Order
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.commands import ConsentIn, FulfillmentIn
from tests.conftest import run_until
from tests.journeys import a_customer, place_order
from tests.webhooks.conftest import post_shopify, sample_json, snapshot, twilio_post

ORDER = "450789469"  # the sample order's id
SHOPIFY_PHONE = "+16136120707"  # the sample customer's phone
runner = CliRunner()


def shopify_body(
    *,
    sms: str | None = "subscribed",
    sms_at: str | None = "2026-02-01T10:00:00Z",
    email: str | None = "subscribed",
    email_at: str | None = "2026-02-01T10:00:00Z",
    customer_updated_at: str = "2026-02-01T10:00:00Z",
) -> dict[str, Any]:
    """The Shopify sample order with the customer's consent as given (state, and Shopify's own timestamp)."""
    body = copy.deepcopy(sample_json("orders_create.json"))
    customer = body["customer"]
    customer["updated_at"] = customer_updated_at
    customer["sms_marketing_consent"] = None if sms is None else {
        "state": sms, "opt_in_level": "single_opt_in", "consent_updated_at": sms_at,
        "consent_collected_from": "SHOPIFY",
    }
    customer["email_marketing_consent"] = None if email is None else {
        "state": email, "opt_in_level": "single_opt_in", "consent_updated_at": email_at,
    }
    return body


def consents(services: Services) -> dict[tuple[str, str], bool]:
    with services.session_factory() as session:
        return {(c.channel, c.purpose): c.granted for c in session.scalars(select(Consent))}


def the_customer(services: Services) -> Customer:
    with services.session_factory() as session:
        found = session.scalar(select(Customer))
        assert found is not None
        return found


def events(services: Services) -> list[ConsentEvent]:
    with services.session_factory() as session:
        return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def prefs_url(services: Services, customer_id: int) -> str:
    url = services.links.preferences(customer_id, services.clock.now())
    return url[url.index("/preferences"):]


def inbound(body: str, sid: str, phone: str) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "ACtest", "From": phone, "To": "+15005550006", "Body": body}


def advance(clock: FrozenClock, **delta: float) -> datetime:
    clock.advance(timedelta(**delta))
    return clock.now()


# Item 2: a choice made with us is not overwritten by a platform echo ----------------------------------------------
def test_an_sms_opt_out_on_the_preferences_page_survives_the_next_orders_webhook_and_no_marketing_sms_goes_out(
    client: TestClient, services: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender
) -> None:
    body = shopify_body()  # Shopify: subscribed to SMS and email marketing on 1 February
    assert post_shopify(client, "orders/create", body, "wh-create").json()["result"] == "order"
    customer_id = the_customer(services).id
    assert consents(services)[("sms", "marketing")] is True
    advance(clock, hours=1)
    assert client.post(prefs_url(services, customer_id), data={"email_marketing": "on"}).status_code == 200
    assert consents(services)[("sms", "marketing")] is False
    advance(clock, hours=1)
    # The platform never learned of our opt-out: its next body repeats its own consent, with a newer record
    # time, and a customer record touched since (an echo without a consent timestamp of its own), too.
    echo = {**body, "updated_at": clock.now().isoformat()}
    assert post_shopify(client, "orders/updated", echo, "wh-update-1").json()["result"] == "order"
    stale = shopify_body(sms_at=None, email_at=None, customer_updated_at=clock.now().isoformat())
    assert post_shopify(client, "orders/paid", stale, "wh-update-2").json()["result"] == "order"
    assert consents(services)[("sms", "marketing")] is False
    assert consents(services)[("email", "marketing")] is True

    # The order goes on to its CSAT survey: by email, since SMS marketing is off.
    with services.session_factory() as session, session.begin():
        now = clock.now()
        services.ingest.record_fulfillment(session, FulfillmentIn("ship-1", ORDER, now, "UPS"), now)
        services.ingest.record_tracking(session, shipment_external_id="ship-1", order_external_id=ORDER,
                                        status="delivered", at=now, now=now)
    run_until(services, clock, clock.now() + timedelta(days=4), tick=timedelta(hours=3))
    assert [m.step for m in sms.sent if m.step not in ("shipped", "delivered_notice")] == []
    assert "csat" in [m.step for m in email.sent]


def test_a_newer_explicit_opt_in_on_the_platform_does_count(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    post_shopify(client, "orders/create", shopify_body(), "wh-create")
    customer_id = the_customer(services).id
    opted_out = advance(clock, hours=1)
    client.post(prefs_url(services, customer_id), data={"email_marketing": "on"})
    advance(clock, hours=2)
    later = (opted_out + timedelta(hours=1)).isoformat()  # the customer subscribed again at checkout
    post_shopify(client, "orders/updated", shopify_body(sms_at=later, customer_updated_at=later), "wh-update")
    assert consents(services)[("sms", "marketing")] is True


# Item 3: the body's own time, not our receipt time ------------------------------------------------------------------
def test_an_older_shopify_body_delivered_late_or_replayed_does_not_regrant_revoked_consent(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    granted = shopify_body(sms_at="2026-02-01T10:00:00Z", email_at="2026-02-01T10:00:00Z")
    revoked = shopify_body(sms="unsubscribed", sms_at="2026-02-10T10:00:00-05:00",
                           email="unsubscribed", email_at="2026-02-10T10:00:00-05:00")
    post_shopify(client, "orders/updated", revoked, "wh-newer")
    advance(clock, minutes=5)
    post_shopify(client, "orders/create", granted, "wh-older")  # delivered late
    advance(clock, minutes=5)
    post_shopify(client, "orders/create", granted, "wh-older-replayed-under-a-fresh-id")
    assert consents(services) == {("email", "marketing"): False, ("sms", "marketing"): False,
                                  ("sms", "transactional"): False}
    with services.session_factory() as session:
        row = session.scalar(select(Consent).where(Consent.channel == "sms", Consent.purpose == "marketing"))
        assert row is not None and as_utc(row.recorded_at) == datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
    # Both statements are kept as evidence (the replay adds nothing), each at Shopify's own time.
    stated = sorted({(e.channel, e.purpose, e.granted, as_utc(e.stated_at)) for e in events(services)})
    assert len(events(services)) == 6 and len(stated) == 6


def test_without_consent_timestamps_the_newer_customer_record_wins_whatever_the_arrival_order(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    older = shopify_body(sms_at=None, email_at=None, customer_updated_at="2026-02-01T10:00:00Z")
    newer = shopify_body(sms="not_subscribed", sms_at=None, email="not_subscribed", email_at=None,
                         customer_updated_at="2026-02-20T10:00:00Z")
    post_shopify(client, "orders/updated", newer, "wh-newer")
    advance(clock, minutes=5)
    post_shopify(client, "orders/create", older, "wh-older")
    assert set(consents(services).values()) == {False}


# Item 4: START restores only what STOP removed; HELP changes nothing -----------------------------------------------
def test_yes_or_start_from_a_customer_who_never_had_sms_consent_grants_nothing(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    email_only = (ConsentIn(Channel.EMAIL, Purpose.MARKETING, True, "checkout"),)
    place_order(services, customer=a_customer(1, consents=email_only))
    for n, word in enumerate(("YES", "start", "Unstop")):
        advance(clock, minutes=1)
        assert twilio_post(client, "/webhooks/twilio/inbound", inbound(word, f"SMyes{n}", "+12125550001")
                           ).status_code == 200
    assert consents(services) == {("email", "marketing"): True}
    assert the_customer(services).sms_stopped_at is None


def test_start_after_stop_restores_only_what_stop_removed(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    transactional_only = (ConsentIn(Channel.SMS, Purpose.TRANSACTIONAL, True, "checkout"),)
    place_order(services, customer=a_customer(1, consents=transactional_only))
    advance(clock, minutes=1)
    twilio_post(client, "/webhooks/twilio/inbound", inbound("STOP", "SMstop", "+12125550001"))
    assert consents(services) == {("sms", "transactional"): False, ("sms", "marketing"): False}
    assert the_customer(services).sms_stopped_at == clock.now()
    advance(clock, minutes=1)
    twilio_post(client, "/webhooks/twilio/inbound", inbound("YES", "SMyes", "+12125550001"))
    assert consents(services) == {("sms", "transactional"): True}  # marketing was never given: not created
    assert the_customer(services).sms_stopped_at is None


def test_help_changes_no_consent(client: TestClient, services: Services, clock: FrozenClock) -> None:
    place_order(services)
    before = snapshot(services)
    reply = twilio_post(client, "/webhooks/twilio/inbound", inbound("HELP", "SMhelp", "+12125550001"))
    assert "<Message>" in reply.text
    after = snapshot(services)
    assert {k: v for k, v in after.items() if k != "inbox"} == {k: v for k, v in before.items() if k != "inbox"}


# Item 5: evidence, append-only, shown by `aftercare consent` and `explain` -----------------------------------------
def test_every_consent_change_is_kept_with_source_both_times_and_the_page_version(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    post_shopify(client, "orders/create", shopify_body(), "wh-create")
    customer_id = the_customer(services).id
    seen: list[list[tuple[Any, ...]]] = [[_row(e) for e in events(services)]]
    prefs_at = advance(clock, hours=1)
    client.post(prefs_url(services, customer_id), data={"email_marketing": "on"})
    seen.append([_row(e) for e in events(services)])
    stop_at = advance(clock, hours=1)
    twilio_post(client, "/webhooks/twilio/inbound", inbound("STOP", "SMstop", SHOPIFY_PHONE))
    seen.append([_row(e) for e in events(services)])
    for earlier, later in zip(seen, seen[1:], strict=False):  # append-only: nothing kept is ever changed
        assert later[: len(earlier)] == earlier and len(later) > len(earlier)

    by = {(e.source, e.channel, e.purpose, e.granted): e for e in events(services)}
    platform = by[("platform", "sms", "marketing", True)]
    assert (platform.detail, platform.explicit) == ("shopify", True)
    assert as_utc(platform.stated_at) == datetime(2026, 2, 1, 10, tzinfo=UTC)  # Shopify's own time
    assert as_utc(platform.received_at) < prefs_at  # ...and ours
    page = by[("preferences_page", "sms", "marketing", False)]
    assert as_utc(page.stated_at) == as_utc(page.received_at) == prefs_at
    assert page.text_version == services.settings.consent_copy_version
    assert by[("preferences_page", "email", "marketing", True)].text_version == services.settings.consent_copy_version
    keyword = by[("sms_keyword", "sms", "transactional", False)]
    assert (keyword.detail, as_utc(keyword.stated_at), keyword.text_version) == ("sms:stop", stop_at, None)

    for ref in (str(customer_id), "shopify:207119551", "Bob.Norman@mail.example.com"):
        with use_services(services):
            result = runner.invoke(app, ["consent", ref], env={"COLUMNS": "220"})
        assert result.exit_code == 0, result.output
        for text in ("preferences_page", "link:preferences", "sms_keyword", "sms:stop", "platform", "shopify",
                     services.settings.consent_copy_version, "2026-02-01 10:00:00 UTC", "revoked", "granted"):
            assert text in result.output, text
        for personal in ("bob.norman", "Bob", "Norman", "6136120707"):
            assert personal not in result.output
    with use_services(services):
        missing = runner.invoke(app, ["consent", "nobody@example.com"])
        explained = runner.invoke(app, ["explain", ORDER], env={"COLUMNS": "220"})
    assert missing.exit_code == 1 and "no customer matches" in missing.output
    assert explained.exit_code == 0 and "Consent history" in explained.output and "sms:stop" in explained.output


def _row(event: ConsentEvent) -> tuple[Any, ...]:
    return (event.id, event.channel, event.purpose, event.granted, event.source, event.detail, event.explicit,
            as_utc(event.stated_at), as_utc(event.received_at), event.text_version)


def test_the_order_is_still_mapped_when_a_consent_timestamp_is_unreadable(
    client: TestClient, services: Services
) -> None:
    body = shopify_body(sms_at="not a time", email_at="2026-02-30T99:00:00Z")
    assert post_shopify(client, "orders/create", body, "wh-bad-time").json()["result"] == "order"
    with services.session_factory() as session:
        assert session.scalar(select(Order)) is not None
    assert all(not e.explicit for e in events(services))  # no own time: an echo, which a choice outranks
