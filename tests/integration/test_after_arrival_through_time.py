"""Issue 14's steps through simulated time: the store's events arrive signed at POST /webhooks/events, the
sweep runs every tick, and the recording fakes say what went out, when, and how often."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from aftercare.bootstrap import build_services
from aftercare.db.models import Customer, Message, Product, ScheduledStep
from aftercare.services.commands import ItemIn, RefundIn
from aftercare.webhooks.app import create_app
from tests.conftest import START, make_settings, run_until
from tests.journeys import a_customer, answer_csat, fulfil, place_order, track

SECRET = "after-it-arrives-events-secret"
GRINDER = (ItemIn("sku-a", "Espresso Machine", 1, Decimal("349.00"), "appliances"),
           ItemIn("sku-c", "Burr Grinder", 1, Decimal("99.00"), "appliances"))


@pytest.fixture
def services(tmp_path, clock, email, sms):
    built = build_services(make_settings(tmp_path, events_webhook_secret=SECRET), clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


@pytest.fixture
def post_event(services):
    client = TestClient(create_app(lambda: services))

    def post(name: str, customer: str, key: str, order: str | None = None, **data: object) -> dict:
        raw = json.dumps({"name": name, "customer": customer, "idempotency_key": key, "order": order,
                          "occurred_at": services.clock.now().isoformat(), "data": data}).encode()
        digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"X-Aftercare-Signature": f"sha256={digest}", "Content-Type": "application/json"}
        response = client.post("/webhooks/events", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    return post


def sent(fake, step: str, to: str | None = None) -> list:
    return [m for m in fake.sent if m.step == step and (to is None or m.to == to)]


def delivered_order(services, clock, n: int, customer, **overrides) -> int:
    order_id = place_order(services, n=n, customer=customer, **overrides)
    fulfil(services, n)
    track(services, "delivered", n)
    return order_id


class TestReviews:
    def test_one_reminder_a_week_later_only_without_a_review(self, services, clock, email, post_event):
        quiet = a_customer(1, phone=None)
        reviewer = a_customer(2, phone=None)
        first = delivered_order(services, clock, 1, quiet)
        second = delivered_order(services, clock, 2, reviewer)
        run_until(services, clock, START + timedelta(days=3, hours=1), tick=timedelta(hours=6))
        answer_csat(services, first, 5)
        answer_csat(services, second, 5)
        run_until(services, clock, clock.now() + timedelta(days=2, hours=1), tick=timedelta(hours=6))
        assert len(sent(email, "review_request")) == 2
        # The second customer reviews one product at the review destination, reported as a store event.
        assert post_event("review.created", "c2", "rv-1", product="sku-a", rating=4)["status"] == "stored"
        run_until(services, clock, clock.now() + timedelta(days=8), tick=timedelta(hours=6))
        [reminder] = sent(email, "review_reminder")
        assert reminder.to == "c1@example.com" and reminder.marketing and "/review?t=" in reminder.text
        with services.session_factory() as session:
            skipped = session.scalar(select(Message).where(Message.step == "review_reminder",
                                                           Message.customer_id != reminder_customer(session)))
        assert skipped.status == "skipped" and skipped.reason == "already_reviewed"
        run_until(services, clock, clock.now() + timedelta(days=20), tick=timedelta(days=1))
        assert len(sent(email, "review_reminder")) == 1  # one reminder, never a second

    def test_a_delivered_request_never_opened_gets_no_reminder(self, services, clock, email):
        order_id = delivered_order(services, clock, 1, a_customer(1, phone=None))
        run_until(services, clock, START + timedelta(days=3, hours=1), tick=timedelta(hours=6))
        answer_csat(services, order_id, 5)
        run_until(services, clock, clock.now() + timedelta(days=2, hours=1), tick=timedelta(hours=6))
        with services.session_factory() as session, session.begin():  # SendGrid reported it delivered, no open
            session.execute(update(Message).where(Message.step == "review_request").values(status="delivered"))
        run_until(services, clock, clock.now() + timedelta(days=8), tick=timedelta(hours=6))
        assert sent(email, "review_reminder") == []
        with services.session_factory() as session:
            reminder = session.scalar(select(Message).where(Message.step == "review_reminder"))
        assert reminder.reason == "reviews.request_not_opened"

    def test_a_product_is_asked_about_once_a_year_across_orders(self, services, clock, email):
        first = delivered_order(services, clock, 1, a_customer(1, phone=None))
        run_until(services, clock, START + timedelta(days=3, hours=1), tick=timedelta(hours=6))
        answer_csat(services, first, 5)
        run_until(services, clock, clock.now() + timedelta(days=3), tick=timedelta(hours=6))
        [asked] = sent(email, "review_request")
        assert "Espresso Machine" in asked.text and "Beans" in asked.text
        second = delivered_order(services, clock, 2, a_customer(1, phone=None), items=GRINDER)
        run_until(services, clock, clock.now() + timedelta(days=3, hours=1), tick=timedelta(hours=6))
        answer_csat(services, second, 5)
        run_until(services, clock, clock.now() + timedelta(days=3), tick=timedelta(hours=6))
        [_, again] = sent(email, "review_request")
        assert "Burr Grinder" in again.text and "Espresso Machine" not in again.text


def reminder_customer(session) -> int:
    return session.scalar(select(Customer.id).where(Customer.external_id == "c1"))


class TestLoyaltyMoments:
    def test_two_tier_ups_before_the_next_order_are_two_notices_once_each(self, services, clock, email, post_event):
        place_order(services, customer=a_customer(1, phone=None))
        run_until(services, clock, START + timedelta(hours=2))
        up = [("t-1", "Silver", 2, 1), ("t-2", "Gold", 3, 2)]
        for key, tier, new, old in up:
            post_event("loyalty.tier_changed", "c1", key, new_tier=tier, new_rank=new, old_rank=old)
            assert post_event("loyalty.tier_changed", "c1", key, new_tier=tier, new_rank=new,
                              old_rank=old)["status"] == "duplicate"
            run_until(services, clock, clock.now() + timedelta(days=1, hours=1), tick=timedelta(hours=3))
        # The same tier again under a new key, and a drop: nothing new (no notice on a drop by default).
        post_event("loyalty.tier_changed", "c1", "t-3", new_tier="Gold", new_rank=3, old_rank=2)
        post_event("loyalty.tier_changed", "c1", "t-4", new_tier="Silver", new_rank=2, old_rank=3)
        place_order(services, n=2, customer=a_customer(1, phone=None))
        run_until(services, clock, clock.now() + timedelta(days=5), tick=timedelta(hours=6))
        notices = sent(email, "tier_up_notice")
        assert [("Silver" in m.text, "Gold" in m.text) for m in notices] == [(True, False), (False, True)]

    def test_the_monthly_statement_waits_a_week_after_a_loyalty_email_and_stops_for_the_inactive(
            self, services, clock, email):
        expiring = dict(points_balance=700, points_expiring=100, points_expire_at=START + timedelta(days=57))
        place_order(services, n=1, customer=a_customer(1, phone=None, points_balance=700))
        place_order(services, n=2, customer=a_customer(2, phone=None, **expiring))
        run_until(services, clock, datetime(2026, 5, 2, tzinfo=UTC), tick=timedelta(hours=12))
        with services.session_factory() as session:
            rows = session.execute(select(Message.customer_id, Message.sent_at, Message.step)
                                   .where(Message.step.in_(("points_statement", "points_expiry_30")),
                                          Message.status == "sent").order_by(Message.sent_at)).all()
        by = {(cid, step): [] for cid, _, step in rows}
        for cid, at, step in rows:
            by[(cid, step)].append(at.replace(tzinfo=UTC) if at.tzinfo is None else at)
        c1, c2 = 1, 2
        assert [at.date() for at in by[(c1, "points_statement")]] == [datetime(2026, 4, 1).date(),
                                                                      datetime(2026, 5, 1).date()]
        [reminder] = by[(c2, "points_expiry_30")]
        first_statement = by[(c2, "points_statement")][0]
        assert first_statement >= reminder + timedelta(days=7) > datetime(2026, 4, 1, 15, tzinfo=UTC)
        statement = sent(email, "points_statement", "c1@example.com")[0]
        # 700 points, plus 398 for the order; a reward per 500 points: two unclaimed, 402 to the next.
        assert "1,098 points" in statement.text and "2 unclaimed reward(s)" in statement.text
        assert "402 more points" in statement.text

    def test_a_five_star_review_earns_points_and_a_referral_invitation_and_a_referral_order_a_bonus(
            self, services, clock, email, post_event):
        place_order(services, customer=a_customer(1, phone=None))
        run_until(services, clock, START + timedelta(days=2))
        with services.session_factory() as session:
            before = session.scalar(select(Customer.points_balance))
        post_event("review.created", "c1", "rv-1", product="sku-a", rating=5)
        post_event("review.created", "c1", "rv-1b", product="sku-a", rating=5)  # the same review again
        run_until(services, clock, clock.now() + timedelta(hours=3))
        [thanks] = sent(email, "review_points")
        [invite] = sent(email, "referral_invite")
        assert "50 points" in thanks.text and not thanks.marketing
        assert "/refer?t=" in invite.text and invite.marketing
        post_event("referral.ordered", "c1", "ref-o-77", referred_order="o-77")
        # The same referred order again under another key: a duplicate, never a second bonus.
        assert post_event("referral.ordered", "c1", "ref-o-77-again", referred_order="o-77")["status"] == "duplicate"
        run_until(services, clock, clock.now() + timedelta(hours=2))
        [bonus] = sent(email, "referral_bonus")
        assert "250 bonus points" in bonus.text
        with services.session_factory() as session:
            assert session.scalar(select(Customer.points_balance)) == before + 50 + 250
            steps = session.scalars(select(ScheduledStep.step).where(ScheduledStep.scope == "customer")).all()
        assert steps.count("referral_invite") == 1 and steps.count("review_points") == 1

    def test_a_malformed_review_event_is_refused_and_changes_nothing(self, services):
        client = TestClient(create_app(lambda: services))
        raw = json.dumps({"name": "review.created", "customer": "c1", "idempotency_key": "bad",
                          "data": {"product": "sku-a", "rating": 9}}).encode()
        digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        response = client.post("/webhooks/events", content=raw, headers={"X-Aftercare-Signature": f"sha256={digest}"})
        assert response.status_code == 400


def catalog(services, **cycles: int | None) -> None:
    with services.session_factory() as session, session.begin():
        for pid, days_ in cycles.items():
            session.merge(Product(id=pid, title=pid, category="coffee", use_cycle_days=days_,
                                  url=f"https://shop.example/p/{pid}"))


class TestReplenishment:
    BEANS_AND_FILTERS = (ItemIn("sku-beans", "House Beans", 1, Decimal("24.50"), "coffee"),
                         ItemIn("sku-filters", "Paper Filters", 1, Decimal("6.50"), "accessories"))

    def test_two_products_with_different_use_cycles_in_one_order_get_one_reminder_each(self, services, clock,
                                                                                          email):
        catalog(services, **{"sku-beans": 30, "sku-filters": 60})
        delivered_order(services, clock, 1, a_customer(1, phone=None), items=self.BEANS_AND_FILTERS)
        delivered = clock.now()
        run_until(services, clock, delivered + timedelta(days=80), tick=timedelta(hours=12))
        reminders = sent(email, "restock_reminder")
        assert [("House Beans" in m.text, "Paper Filters" in m.text) for m in reminders] == [(True, False),
                                                                                           (False, True)]
        assert "https://shop.example/p/sku-beans" in reminders[0].text
        with services.session_factory() as session:
            times = session.scalars(select(Message.sent_at).where(Message.step == "restock_reminder")
                                    .order_by(Message.sent_at)).all()
        for at, cycle in zip(times, (30, 60), strict=True):  # 5 days before it runs out (a cap may hold it a day)
            lead = delivered + timedelta(days=cycle - 5)
            assert lead <= at.replace(tzinfo=UTC) <= lead + timedelta(days=1)

    def test_reordered_returned_or_rated_low_products_get_none(self, services, clock, email, post_event):
        catalog(services, **{"sku-beans": 30, "sku-filters": 30, "sku-a": 30})
        items = (*self.BEANS_AND_FILTERS, ItemIn("sku-a", "Espresso Machine", 1, Decimal("349.00"), "appliances"))
        delivered_order(services, clock, 1, a_customer(1, phone=None), items=items)
        with services.session_factory() as session, session.begin():
            services.ingest.record_refund(session, RefundIn("r1", "o1", clock.now(), ("sku-a",), Decimal("349.00")),
                                          clock.now())
        post_event("review.created", "c1", "rv-1", product="sku-filters", rating=2)
        run_until(services, clock, clock.now() + timedelta(days=10), tick=timedelta(hours=12))
        place_order(services, n=2, customer=a_customer(1, phone=None), items=self.BEANS_AND_FILTERS[:1])
        run_until(services, clock, clock.now() + timedelta(days=30), tick=timedelta(hours=12))
        assert sent(email, "restock_reminder") == []
        with services.session_factory() as session:
            reasons = dict(session.execute(select(ScheduledStep.item, ScheduledStep.last_reason).where(
                ScheduledStep.step == "restock_reminder", ScheduledStep.order_id == 1)).all())
        assert reasons == {"sku-beans": "replenishment.reordered", "sku-filters": "replenishment.rated_low",
                           "sku-a": "replenishment.returned"}

    def test_without_a_use_cycle_the_stores_median_reorder_interval_times_it(self, tmp_path, clock, email, sms):
        services = build_services(make_settings(tmp_path, journey={"replenishment_min_repeat_buyers": 2}),
                                  clock=clock, email=email, sms=sms)
        catalog(services, **{"sku-beans": None})
        beans = self.BEANS_AND_FILTERS[:1]
        for n, customer in ((11, 11), (12, 12)):  # two repeat buyers, each reordering after 20 days
            place_order(services, n=n, customer=a_customer(customer, consents=()), items=beans,
                        at=START - timedelta(days=60))
            place_order(services, n=n + 10, customer=a_customer(customer, consents=()), items=beans,
                        at=START - timedelta(days=40))
        delivered_order(services, clock, 1, a_customer(1, phone=None), items=beans)
        delivered = clock.now()
        run_until(services, clock, delivered + timedelta(days=30), tick=timedelta(hours=12))
        [reminder] = sent(email, "restock_reminder", "c1@example.com")
        with services.session_factory() as session:
            at = session.scalar(select(Message.sent_at).where(Message.step == "restock_reminder",
                                                              Message.status == "sent"))
        assert delivered + timedelta(days=15) <= at.replace(tzinfo=UTC) <= delivered + timedelta(days=16)
        services.engine.dispose()


class TestSubscriptions:
    @pytest.fixture
    def services(self, tmp_path, clock, email, sms):
        portal = "https://shop.example/portal/{subscription_id}?do={action}&t={token}"
        built = build_services(make_settings(tmp_path, events_webhook_secret=SECRET,
                                             subscription_portal_url_template=portal),
                               clock=clock, email=email, sms=sms)
        yield built
        built.engine.dispose()

    def test_a_reminder_three_days_before_each_renewal_by_sms_with_a_passwordless_link(
            self, services, clock, sms, post_event):
        place_order(services, customer=a_customer(1))
        first, second = START + timedelta(days=10), START + timedelta(days=40)
        post_event("subscription.renewal_upcoming", "c1", "ren-1", subscription="sub-9", renews_at=first.isoformat())
        run_until(services, clock, first - timedelta(days=3, hours=1), tick=timedelta(hours=6))
        assert sent(sms, "renewal_reminder") == []
        run_until(services, clock, first - timedelta(days=3) + timedelta(hours=1))
        [reminder] = sent(sms, "renewal_reminder")
        link = next(w for w in reminder.body.split() if "/subscription?t=" in w)
        response = TestClient(create_app(lambda: services)).get(link.removeprefix(services.settings.public_base_url),
                                                               follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("https://shop.example/portal/sub-9?do=manage&t=")
        # The next renewal, announced after this one: its own reminder.
        post_event("subscription.renewal_upcoming", "c1", "ren-2", subscription="sub-9", renews_at=second.isoformat())
        run_until(services, clock, second, tick=timedelta(hours=12))
        assert len(sent(sms, "renewal_reminder")) == 2

    def test_a_moved_renewal_and_a_cancellation_stop_the_reminder(self, services, clock, sms, email, post_event):
        place_order(services, customer=a_customer(1))
        renews, moved = START + timedelta(days=10), START + timedelta(days=24)
        post_event("subscription.renewal_upcoming", "c1", "ren-1", subscription="sub-9", renews_at=renews.isoformat())
        run_until(services, clock, START + timedelta(days=2))
        post_event("subscription.renewal_upcoming", "c1", "ren-1-moved", subscription="sub-9",
                   renews_at=moved.isoformat())
        run_until(services, clock, START + timedelta(days=12), tick=timedelta(hours=6))
        assert sent(sms, "renewal_reminder") == []  # the first date was skipped in the portal: moved
        post_event("subscription.cancelled", "c1", "cx-1", subscription="sub-9")
        run_until(services, clock, moved, tick=timedelta(hours=12))
        assert sent(sms, "renewal_reminder") == [] and sent(email, "renewal_reminder") == []
        with services.session_factory() as session:
            rows = dict(session.execute(select(ScheduledStep.occurrence, ScheduledStep.last_reason).where(
                ScheduledStep.step == "renewal_reminder")).all())
        assert sorted(rows.values()) == ["subscription.cancelled", "subscription.rescheduled"]

    def test_a_failed_payment_gets_a_link_to_update_the_payment_method(self, services, clock, email, post_event):
        place_order(services, customer=a_customer(1))
        post_event("subscription.payment_failed", "c1", "pf-1", subscription="sub-9")
        post_event("subscription.payment_failed", "c1", "pf-1", subscription="sub-9")  # replayed
        run_until(services, clock, START + timedelta(hours=2))
        [notice] = sent(email, "payment_failed_notice")
        assert not notice.marketing and "/subscription?t=" in notice.text
        link = next(w for w in notice.text.split() if "/subscription?t=" in w)
        response = TestClient(create_app(lambda: services)).get(link.removeprefix(services.settings.public_base_url),
                                                               follow_redirects=False)
        assert "do=payment" in response.headers["location"]


class TestExchangeBeforeRefund:
    @pytest.fixture
    def services(self, tmp_path, clock, email, sms):
        portal = "https://shop.example/returns/{return_id}?choose={choice}&t={token}"
        settings = make_settings(tmp_path, events_webhook_secret=SECRET, returns_portal_url_template=portal)
        built = build_services(settings, clock=clock, email=email, sms=sms)
        yield built
        built.engine.dispose()

    def test_a_started_return_gets_an_exchange_or_bonus_credit_offer(self, services, clock, email, post_event):
        delivered_order(services, clock, 1, a_customer(1))
        run_until(services, clock, START + timedelta(days=2))
        assert post_event("return.started", "c1", "ret-1", order="o1", products=["sku-b"], **{"return": "R-7"}) \
            == {"status": "stored", "result": "store_event:1_scheduled"}
        run_until(services, clock, clock.now() + timedelta(hours=1))
        [offer] = sent(email, "exchange_offer")
        # Two bags of beans at $24.50: $49.00, plus the default 10% bonus, $4.90.
        assert "Beans" in offer.text and "Espresso" not in offer.text and not offer.marketing
        assert "$53.90" in offer.text and "$4.90" in offer.text
        links = [w for w in offer.text.split() if "/return-choice?t=" in w]
        client = TestClient(create_app(lambda: services))
        targets = [client.get(x.removeprefix(services.settings.public_base_url), follow_redirects=False)
                   .headers["location"] for x in links]
        assert sorted(t.split("?")[1].split("&")[0] for t in targets) == ["choose=credit", "choose=exchange"]
        assert all(t.startswith("https://shop.example/returns/R-7?") for t in targets)

    def test_none_once_refunded(self, services, clock, email, post_event):
        delivered_order(services, clock, 1, a_customer(1))
        run_until(services, clock, START + timedelta(days=2))
        post_event("return.started", "c1", "ret-1", order="o1", products=["sku-b"])
        with services.session_factory() as session, session.begin():  # the refund lands before the sweep
            services.ingest.record_refund(session, RefundIn("rf-1", "o1", clock.now(), ("sku-b",), Decimal("49.00")),
                                          clock.now())
        run_until(services, clock, clock.now() + timedelta(days=1))
        assert sent(email, "exchange_offer") == []
        with services.session_factory() as session:
            offer = session.scalar(select(Message).where(Message.step == "exchange_offer"))
        assert offer.status == "skipped" and offer.reason == "returns.already_refunded"


def test_every_new_step_runs_on_postgres_too(pg_url, tmp_path, clock, email, sms):
    """The new steps' batch facts (review asks, loyalty activity, supply, renewals, refunds) on Postgres."""
    settings = make_settings(tmp_path, database_url=pg_url, events_webhook_secret=SECRET)
    services = build_services(settings, clock=clock, email=email, sms=sms)
    try:
        from aftercare.journeys import send_event

        catalog(services, **{"sku-beans": 30, "sku-filters": 60})
        order_id = delivered_order(services, clock, 1, a_customer(1, phone=None),
                                   items=TestReplenishment.BEANS_AND_FILTERS)
        run_until(services, clock, START + timedelta(days=3, hours=1), tick=timedelta(hours=6))
        answer_csat(services, order_id, 5)
        customer = {"customer": "c1"}
        send_event(services, "loyalty.tier_changed", **customer, idempotency_key="t1",
                   data={"new_tier": "Gold", "new_rank": 2, "old_rank": 1})
        send_event(services, "subscription.renewal_upcoming", **customer, idempotency_key="s1",
                   data={"subscription": "sub-1", "renews_at": (START + timedelta(days=20)).isoformat()})
        send_event(services, "subscription.payment_failed", **customer, idempotency_key="p1",
                   data={"subscription": "sub-1"})
        send_event(services, "return.started", **customer, order="o1", idempotency_key="r1",
                   data={"products": ["sku-filters"]})
        run_until(services, clock, clock.now() + timedelta(days=3), tick=timedelta(hours=6))
        send_event(services, "review.created", **customer, idempotency_key="rv1",
                   data={"product": "sku-beans", "rating": 5})
        send_event(services, "referral.ordered", **customer, idempotency_key="ref1",
                   data={"referred_order": "o-9"})
        run_until(services, clock, START + timedelta(days=40), tick=timedelta(hours=12))
        steps = {m.step for m in email.sent}
        assert {"review_request", "tier_up_notice", "points_statement", "review_points", "referral_invite",
                "referral_bonus", "restock_reminder", "renewal_reminder", "payment_failed_notice",
                "exchange_offer"} <= steps, steps
    finally:
        services.engine.dispose()
