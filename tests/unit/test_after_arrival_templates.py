"""Issue 14's templates with the data their steps give them, in every locale; and the order of the VIP line
in the service-recovery apology."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from aftercare.rendering.context import sample_context
from aftercare.rendering.renderer import Renderer

LOCALES = ("en", "ko", "ar", "pt_BR")
# What each step's `data` / `template_data` adds to the engine's context (see its module).
STEP_DATA = {
    "review_request": {"photo_prompt": True},
    "review_reminder": {"photo_prompt": True},
    "tier_up_notice": {"new_tier": "Platinum", "tier_went_up": True},
    "points_statement": {"reward_threshold": 100},
    "review_points": {"points_awarded": 50},
    "referral_bonus": {"points_awarded": 250},
    "referral_invite": {},
    "restock_reminder": {"reorder_url": "https://shop.example/p/beans", "cycle_source": "catalog"},
    "renewal_reminder": {"subscription_links": {a: f"https://x.example/subscription?t={a}" for a in
                                                ("manage", "skip", "swap", "reschedule", "cancel")},
                         "renews_at": None, "subscription_name": "Beans monthly"},
    "payment_failed_notice": {"subscription_links": {"payment": "https://x.example/subscription?t=payment"},
                              "renews_at": None, "subscription_name": ""},
    "exchange_offer": {"return_value": Decimal("24.50"), "credit_bonus": Decimal("2.45"),
                       "credit_total": Decimal("26.95"),
                       "return_links": {c: f"https://x.example/return-choice?t={c}" for c in ("exchange", "credit")}},
}
SHOWN = {"review_request": "", "tier_up_notice": "Platinum", "review_points": "50", "referral_bonus": "250",
         "points_statement": "4",  # 420 points, a reward per 100: four unclaimed
         "restock_reminder": "https://shop.example/p/beans", "renewal_reminder": "t=cancel",
         "payment_failed_notice": "t=payment", "exchange_offer": "t=credit"}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", sorted(STEP_DATA))
def test_each_new_email_shows_its_steps_data(renderer: Renderer, step: str, locale: str) -> None:
    email = renderer.render_email(step, locale, sample_context(step, locale, extra=STEP_DATA[step]))
    for part in (email.html, email.text):
        assert SHOWN.get(step, "") in part
    assert not re.search(r"</?[a-zA-Z][^>]*>", email.text), email.text  # the text part has no markup


@pytest.mark.parametrize("locale", LOCALES)
def test_the_photo_prompt_appears_only_when_the_step_asks_for_it(renderer: Renderer, locale: str) -> None:
    on = renderer.render_email("review_request", locale, sample_context("review_request", locale,
                                                                        extra={"photo_prompt": True}))
    off = renderer.render_email("review_request", locale, sample_context("review_request", locale,
                                                                         extra={"photo_prompt": False}))
    assert len(on.text) > len(off.text) and len(on.html) > len(off.html)


@pytest.mark.parametrize(("locale", "apology", "vip_line"), [
    ("en", "We're sorry", "VIP"), ("ko", "죄송합니다", "VIP"), ("ar", "نأسف", "VIP")])
def test_service_recovery_acknowledges_a_vip_after_the_apology_not_before(
        renderer: Renderer, locale: str, apology: str, vip_line: str) -> None:
    vip = renderer.render_email("service_recovery", locale, sample_context("service_recovery", locale, vip=True))
    member = renderer.render_email("service_recovery", locale, sample_context("service_recovery", locale))
    for part in (vip.html, vip.text):
        assert part.index(apology) < part.index(vip_line)
    assert vip_line not in member.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", ["renewal_reminder", "payment_failed_notice"])
def test_subscription_texts_carry_their_signed_link(renderer: Renderer, step: str, locale: str) -> None:
    text = renderer.render_sms(step, locale, sample_context(step, locale, extra=STEP_DATA[step]))
    assert "https://x.example/subscription?t=" in text.body
