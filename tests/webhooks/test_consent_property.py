"""A property: any interleaving of consent events ends in the state the newest statement per (channel, purpose)
says, as the sweep sees it. Every event goes through the real webhook app: signed Shopify bodies in any order
and replayed (under the same or a fresh webhook id), preference and unsubscribe posts, STOP/START/YES/HELP,
and SendGrid unsubscribes, resubscribes, spam reports and bounces with their own (possibly old) timestamps.

The expected state is computed here from the rules in words, independently of aftercare.domain.consent:
- a statement counts at its own time (never later than it reached us), the newest wins, a tie goes to the
  one that reached us first (a statement identical to one already kept is the same statement);
- a platform echo (no consent timestamp of its own, or a state nobody chose) counts only while there is no
  other statement;
- STOP blocks every SMS until START (UNSTOP, YES), which only lifts the block.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from aftercare.bootstrap import build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Customer, Order
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.batch_state import load_batch_state
from aftercare.webhooks.app import create_app
from tests.conftest import START, make_settings
from tests.webhooks.conftest import (
    PUBLIC,
    SHOPIFY_PREVIOUS,
    SHOPIFY_SECRET,
    TWILIO_TOKEN,
    SendGridKey,
    post_shopify,
    sample_json,
    sendgrid_headers,
    twilio_post,
)

EMAIL_M, SMS_M, SMS_T = ("email", "marketing"), ("sms", "marketing"), ("sms", "transactional")
KEYS = (EMAIL_M, SMS_M, SMS_T)
OPT_OUTS = {"preferences_page", "unsubscribe_link", "email_provider", "complaint"}

minutes = st.integers(min_value=-3000, max_value=3000)  # statement times around the receipt times
shopify_state = st.sampled_from(["subscribed", "unsubscribed", "not_subscribed", "pending"])
shopify = st.fixed_dictionaries({
    "kind": st.just("shopify"),
    "email": st.none() | shopify_state, "email_at": st.none() | minutes,
    "sms": st.none() | shopify_state, "sms_at": st.none() | minutes,
    "updated_at": minutes,
})
events = st.one_of(
    shopify,
    st.fixed_dictionaries({"kind": st.just("replay"), "which": st.integers(0, 20), "fresh_id": st.booleans()}),
    st.fixed_dictionaries({"kind": st.just("prefs"), "email": st.booleans(), "sms": st.booleans()}),
    st.fixed_dictionaries({"kind": st.just("unsubscribe")}),
    st.fixed_dictionaries({"kind": st.just("sms"),
                           "word": st.sampled_from(["STOP", "START", "YES", "unstop", "HELP", "stopall"])}),
    st.fixed_dictionaries({"kind": st.just("sendgrid"),
                           "event": st.sampled_from(["unsubscribe", "group_unsubscribe", "group_resubscribe",
                                                     "spamreport", "bounce"]),
                           "at": minutes}),
)


@dataclass(frozen=True)
class Said:
    key: tuple[str, str]
    granted: bool
    source: str
    detail: str
    at: datetime
    explicit: bool = True

    @property
    def keyword(self) -> bool:
        return self.source in ("sms_keyword", "carrier_opt_out")


class Oracle:
    """What the customer's consent should be, from the statements in the order they reached us."""

    def __init__(self) -> None:
        self.kept: list[Said] = []
        self.bounced = False

    def say(self, said: Said) -> None:
        if said not in self.kept:  # the same statement again is not a new one
            self.kept.append(said)

    def _of(self, key: tuple[str, str]) -> list[tuple[int, Said]]:
        return [(seq, s) for seq, s in enumerate(self.kept) if s.key == key]

    def stopped(self) -> bool:
        keywords = [(s.at, seq, s) for seq, s in self._of(SMS_M) if s.keyword]
        return bool(keywords) and not max(keywords, key=lambda k: (k[0], k[1]))[2].granted

    def winner(self, key: tuple[str, str]) -> Said | None:
        said = [(seq, s) for seq, s in self._of(key) if not s.keyword]
        choices = [(seq, s) for seq, s in said if s.source != "platform" or s.explicit]
        pool = choices or said
        return max(pool, key=lambda p: (p[1].at, p[0]))[1] if pool else None

    def granted(self, key: tuple[str, str]) -> bool:
        if key[0] == "sms" and self.stopped():
            return False
        won = self.winner(key)
        return won is not None and won.granted

    def unsubscribed(self) -> bool:
        won = self.winner(EMAIL_M)
        return won is not None and not won.granted and won.source in OPT_OUTS


def shopify_body(event: dict[str, Any], who: Shopper) -> dict[str, Any]:
    body = copy.deepcopy(sample_json("orders_create.json"))
    body["id"], body["name"], body["email"] = 5000 + who.n, f"#{5000 + who.n}", who.email
    customer = body["customer"]
    customer.update(id=1000 + who.n, email=who.email, phone=who.phone,
                    updated_at=who.at(event["updated_at"]).isoformat())
    for channel in ("email", "sms"):
        state, at = event[channel], event[f"{channel}_at"]
        customer[f"{channel}_marketing_consent"] = None if state is None else {
            "state": state, "opt_in_level": "single_opt_in",
            "consent_updated_at": None if at is None else who.at(at).isoformat()}
    return body


def shopify_statements(event: dict[str, Any], who: Shopper, received: datetime) -> list[Said]:
    out = []
    for channel, keys in (("email", (EMAIL_M,)), ("sms", (SMS_M, SMS_T))):
        state, own = event[channel], event[f"{channel}_at"]
        if state is None:
            continue
        at = who.at(own if own is not None else event["updated_at"])
        explicit = own is not None and state in ("subscribed", "unsubscribed")
        out += [Said(k, state == "subscribed", "platform", "shopify", min(at, received), explicit) for k in keys]
    return out


def test_any_interleaving_ends_in_the_state_the_newest_statement_says(
    tmp_path: Path, sendgrid_key: SendGridKey
) -> None:
    clock = FrozenClock(START)
    settings = make_settings(
        tmp_path, shopify_webhook_secret=SHOPIFY_SECRET, shopify_webhook_secret_previous=SHOPIFY_PREVIOUS,
        sendgrid_webhook_public_key=sendgrid_key.public_b64, twilio_auth_token=TWILIO_TOKEN, public_base_url=PUBLIC,
    )
    services = build_services(settings, clock=clock, email=FakeEmailSender(), sms=FakeSmsSender())
    examples = itertools.count(1)

    # One app and database for every example, each with a customer of its own (a fresh database per example
    # would cost a second each and leave room for far fewer interleavings).
    @given(first=shopify, rest=st.lists(st.tuples(events, st.integers(1, 600)), max_size=12))
    @hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def interleaving(first: dict[str, Any], rest: list[tuple[dict[str, Any], int]]) -> None:
        who = Shopper(next(examples), clock.now())
        oracle = Oracle()
        bodies: list[tuple[str, dict[str, Any]]] = []
        assert post_shopify(client, "orders/create", shopify_body(first, who), f"wh-{who.n}-0").status_code == 200
        bodies.append((f"wh-{who.n}-0", first))
        for s in shopify_statements(first, who, clock.now()):
            oracle.say(s)
        for n, (event, gap) in enumerate(rest, start=1):
            clock.advance(timedelta(minutes=gap))
            apply(client, services, sendgrid_key, who, oracle, bodies, event, n)
        check(services, who, oracle)

    try:
        with TestClient(create_app(lambda: services), base_url="http://internal:8000") as client:
            interleaving()
    finally:
        services.engine.dispose()


@dataclass(frozen=True)
class Shopper:
    """One example's customer: its own Shopify ids, email and phone, and the time its example began."""

    n: int
    base: datetime

    @property
    def email(self) -> str:
        return f"bob{self.n}@mail.example.com"

    @property
    def phone(self) -> str:
        return f"+1613612{self.n:04d}"

    def at(self, offset: int) -> datetime:
        return self.base + timedelta(minutes=offset)


def apply(client: TestClient, services: Any, key: SendGridKey, who: Shopper, oracle: Oracle,
          bodies: list[tuple[str, dict[str, Any]]], event: dict[str, Any], n: int) -> None:
    now = services.clock.now()
    kind = event["kind"]
    webhook_id = f"wh-{who.n}-{n}"
    if kind == "shopify":
        bodies.append((webhook_id, event))
        assert post_shopify(client, "orders/updated", shopify_body(event, who), webhook_id).status_code == 200
        for s in shopify_statements(event, who, now):
            oracle.say(s)
    elif kind == "replay":
        first_id, body = bodies[event["which"] % len(bodies)]
        response = post_shopify(client, "orders/updated", shopify_body(body, who),
                                webhook_id if event["fresh_id"] else first_id)
        assert response.status_code == 200
        if event["fresh_id"]:  # under the same id it is a duplicate delivery, dropped whole
            for s in shopify_statements(body, who, now):
                oracle.say(s)
    elif kind == "prefs":
        url = services.links.preferences(customer_id(services, who), now)
        form = {name: "on" for name in ("email_marketing", "sms_marketing") if event[name.split("_")[0]]}
        assert client.post(url[url.index("/preferences"):], data=form).status_code == 200
        oracle.say(Said(EMAIL_M, event["email"], "preferences_page", "link:preferences", now))
        oracle.say(Said(SMS_M, event["sms"], "preferences_page", "link:preferences", now))
    elif kind == "unsubscribe":
        url = services.links.unsubscribe(customer_id(services, who), now)
        assert client.post(url[url.index("/unsubscribe"):], content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
        oracle.say(Said(EMAIL_M, False, "unsubscribe_link", "link:one_click", now))
    elif kind == "sms":
        params = {"MessageSid": f"SM{who.n}x{n}", "AccountSid": "ACtest", "From": who.phone, "To": "+15005550006",
                  "Body": event["word"]}
        assert twilio_post(client, "/webhooks/twilio/inbound", params).status_code == 200
        word = event["word"].upper()
        if word in ("STOP", "STOPALL"):
            for k in (SMS_M, SMS_T):
                oracle.say(Said(k, False, "sms_keyword", "sms:stop", now))
        elif word in ("START", "YES", "UNSTOP"):
            for k in (SMS_M, SMS_T):
                oracle.say(Said(k, True, "sms_keyword", "sms:start", now))
    else:
        at = who.at(event["at"])
        body = json.dumps([{"event": event["event"], "sg_event_id": f"evt-{who.n}-{n}",
                            "timestamp": int(at.timestamp()), "email": who.email}]).encode()
        ts = int(now.timestamp())
        response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(key, body, ts))
        assert response.status_code in (200, 204), response.text
        stated = min(datetime.fromtimestamp(int(at.timestamp()), UTC), now)
        name = event["event"]
        if name in ("unsubscribe", "group_unsubscribe"):
            oracle.say(Said(EMAIL_M, False, "email_provider", f"sendgrid:{name}", stated))
        elif name == "group_resubscribe":
            oracle.say(Said(EMAIL_M, True, "email_provider", "sendgrid:group_resubscribe", stated))
        elif name == "spamreport":
            oracle.say(Said(EMAIL_M, False, "complaint", "sendgrid:spamreport", stated))
        if name in ("spamreport", "bounce"):
            oracle.bounced = True


def customer_id(services: Any, who: Shopper) -> int:
    with services.session_factory() as session:
        found = session.scalar(select(Customer.id).where(Customer.external_id == f"shopify:{1000 + who.n}"))
        assert found is not None
        return found


def check(services: Any, who: Shopper, oracle: Oracle) -> None:
    """The state the sweep loads for this customer's order is what the newest statements say."""
    with services.session_factory() as session:
        customer = session.scalar(select(Customer).where(Customer.external_id == f"shopify:{1000 + who.n}"))
        order = session.scalar(select(Order).where(Order.external_id == str(5000 + who.n)))
        assert customer is not None and order is not None and customer.phone_valid
        batch = load_batch_state(session, customer_ids=[customer.id], order_ids=[order.id], cap_since=START)
        state = batch.customer_state(customer.id, order.id)
    for channel, purpose in KEYS:
        assert state.has_consent(Channel(channel), Purpose(purpose)) is oracle.granted((channel, purpose)), (
            channel, purpose, oracle.kept)
    assert state.sms_stopped is oracle.stopped()
    assert state.email_unsubscribed is oracle.unsubscribed()
    assert state.email_bounced is oracle.bounced
