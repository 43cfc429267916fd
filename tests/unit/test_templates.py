"""Every template, in every locale, rendered strictly; plus the renderer's escaping, fallback and filters."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import UndefinedError
from markupsafe import Markup

from aftercare.domain.vocabulary import Channel
from aftercare.journeys import Timings, default_journey
from aftercare.rendering.context import MessageContext, sample_context
from aftercare.rendering.renderer import TEMPLATES_DIR, Renderer, TemplateMissingError, _tidy

# The lists come from the journey: a step brings its channels and its SMS budget with it.
# Every built-in step, the ones off by default included (their templates ship too).
JOURNEY = default_journey(Timings(failed_attempt_notice_enabled=True, out_for_delivery_notice_enabled=True))
EMAIL_STEPS = tuple(s.name for s in JOURNEY.steps if Channel.EMAIL in s.channels)
SMS_STEPS = tuple(s.name for s in JOURNEY.steps if Channel.SMS in s.channels)
SMS_SEGMENT_BUDGET = {s.name: s.sms_segments for s in JOURNEY.steps if s.sms_segments is not None}
LOCALES = ("en", "ko", "ar", "pt_BR")
SCRIPT = {"ko": re.compile(r"[\uac00-\ud7a3]"), "ar": re.compile(r"[\u0600-\u06ff]")}
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def locales_for(step: str, channel: str) -> tuple[str, ...]:
    """Every language for a shared template; a step still written per locale (to be converted to the shared
    form) only in the locales it has files for."""
    suffix = "email.html" if channel == "email" else "sms.txt"
    if (TEMPLATES_DIR / f"{step}.{suffix}").is_file():
        return LOCALES
    return tuple(loc for loc in LOCALES if (TEMPLATES_DIR / loc / f"{step}.{suffix}").is_file())


def cases(steps: list[str] | tuple[str, ...], channel: str) -> list[tuple[str, str]]:
    return [(step, locale) for step in steps for locale in locales_for(step, channel)]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def is_marketing(step: str) -> bool:
    return JOURNEY.step(step).is_marketing


def bare_context(step: str, locale: str) -> MessageContext:
    """The sample with every optional field empty: templates must guard each one."""
    return replace(
        sample_context(step, locale, referral_invite=False),
        shipping_address=None, cancel_until=None, points_expire_at=None, discount_codes=(),
        discount_total=0, points_earned=0, points_to_next_reward=0, points_balance=0, carrier=None,
        tracking_number=None, tracking_url=None, promised_at=None, delivered_at=None, review_url=None,
        goodwill_points=0, referral_url=None, cross_sell=(), offer_code=None, unsubscribe_url=None,
        preferences_url=None, order_url=None, csat_score=None, recovery_resolve_url=None,
        return_policy=None, new_estimate=None, original_promised_at=None,
    )


def test_every_step_and_channel_has_one_shared_template_and_no_per_locale_copy() -> None:
    """Languages are catalogs, not copies: one shared template per (step, channel), for every built-in step
    (a per-locale copy got Portuguese customers English and skipped the layout's preheader and action). The
    per-locale folders keep only the `_email.*` shims a store's own per-locale templates import."""
    wanted = [f"{step}.email.html" for step in EMAIL_STEPS] + [f"{step}.sms.txt" for step in SMS_STEPS]
    for name in wanted:
        assert (TEMPLATES_DIR / name).is_file(), name
    per_locale = {p.relative_to(TEMPLATES_DIR).as_posix() for loc in LOCALES for p in (TEMPLATES_DIR / loc).glob("*.*")}
    assert all(path.split("/")[1].startswith("_email.") for path in per_locale), per_locale
    stray = {p.name for p in TEMPLATES_DIR.glob("*.*")} - set(wanted)
    assert not stray


def test_every_journey_step_has_an_email_and_every_sms_step_has_a_budget() -> None:
    assert set(JOURNEY.names) == set(EMAIL_STEPS)
    assert set(SMS_SEGMENT_BUDGET) == set(SMS_STEPS)


@pytest.mark.parametrize("vip", [False, True], ids=["member", "vip"])
@pytest.mark.parametrize(("step", "locale"), cases(EMAIL_STEPS, "email"))
def test_every_email_renders_in_its_own_language_and_direction(
    renderer: Renderer, step: str, locale: str, vip: bool
) -> None:
    email = renderer.render_email(step, locale, sample_context(step, locale, vip=vip))

    assert email.template == f"{locale}/{step}.email" and email.locale == locale
    assert email.subject and "\n" not in email.subject
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{locale.replace("_", "-")}" dir="{direction}"' in email.html
    assert not HTML_TAG.search(email.text)
    if locale in SCRIPT:
        for part in (email.subject, email.html, email.text):
            assert SCRIPT[locale].search(part), part
    if locale != "en":  # translated, not the English fallback
        english = renderer.render_email(step, "en", sample_context(step, "en", vip=vip))
        assert email.subject != english.subject


@pytest.mark.parametrize(("step", "locale"), cases(EMAIL_STEPS, "email"))
def test_every_email_renders_with_every_optional_field_empty(
    renderer: Renderer, step: str, locale: str
) -> None:
    email = renderer.render_email(step, locale, bare_context(step, locale))
    assert "None" not in email.text and "None" not in email.html


@pytest.mark.parametrize("vip", [False, True], ids=["member", "vip"])
@pytest.mark.parametrize(("step", "locale"), cases(SMS_STEPS, "sms"))
def test_every_sms_renders_within_its_segment_budget(
    renderer: Renderer, step: str, locale: str, vip: bool
) -> None:
    # Marketing SMS with the advertising details (the Korean prefix and free opt-out number) in the budget.
    sms = renderer.render_sms(step, locale, sample_context(step, locale, vip=vip, marketing=is_marketing(step)))

    assert sms.template == f"{locale}/{step}.sms" and sms.locale == locale
    assert sms.segments <= SMS_SEGMENT_BUDGET[step], f"{sms.segments} segments ({sms.encoding}): {sms.body!r}"
    if locale in SCRIPT:
        assert SCRIPT[locale].search(sms.body)
    elif locale == "en":
        assert sms.encoding == "GSM-7", sms.body  # one stray character would double the cost
    if is_marketing(step):
        assert "STOP" in sms.body.splitlines()[-1]
    else:
        assert "STOP" not in sms.body


@pytest.mark.parametrize(("step", "locale"), cases(SMS_STEPS, "sms"))
def test_every_sms_renders_with_every_optional_field_empty(
    renderer: Renderer, step: str, locale: str
) -> None:
    sms = renderer.render_sms(step, locale, bare_context(step, locale))
    assert "None" not in sms.body
    assert sms.segments <= SMS_SEGMENT_BUDGET[step]


@pytest.mark.parametrize(("step", "locale"), cases([s for s in EMAIL_STEPS if is_marketing(s)], "email"))
def test_marketing_emails_carry_unsubscribe_and_preferences_links(
    renderer: Renderer, step: str, locale: str
) -> None:
    ctx = sample_context(step, locale)
    email = renderer.render_email(step, locale, ctx)
    for part in (email.html, email.text):
        assert ctx.unsubscribe_url in part and ctx.preferences_url in part


@pytest.mark.parametrize(("step", "locale"), cases([s for s in EMAIL_STEPS if not is_marketing(s)], "email"))
def test_transactional_emails_carry_no_unsubscribe_link(renderer: Renderer, step: str, locale: str) -> None:
    ctx = sample_context(step, locale)
    assert ctx.unsubscribe_url not in renderer.render_email(step, locale, ctx).html


@pytest.mark.parametrize(("step", "locale"), cases([s for s in EMAIL_STEPS if is_marketing(s)], "email"))
def test_vip_customers_are_thanked_as_vips_in_marketing_emails(
    renderer: Renderer, step: str, locale: str
) -> None:
    vip = renderer.render_email(step, locale, sample_context(step, locale, vip=True))
    member = renderer.render_email(step, locale, sample_context(step, locale, vip=False))
    assert "VIP" in vip.html and "VIP" in vip.text
    assert "VIP" not in member.html and "VIP" not in member.text


@pytest.mark.parametrize(
    ("locale", "total", "card", "country"),
    [("en", "$409.84", "Visa ending 4242", "United States"), ("ko", "₩410", "Visa 끝자리 4242", "미국"),
     ("ar", "409.84\u00a0ر.س.", "Visa المنتهية بـ 4242", "الولايات المتحدة")],
)
def test_confirmation_shows_the_order_and_its_localised_money(
    renderer: Renderer, locale: str, total: str, card: str, country: str
) -> None:
    ctx = sample_context("confirmation", locale)
    email = renderer.render_email("confirmation", locale, ctx)
    number = ctx.order_number.lstrip("#") if locale == "ar" else ctx.order_number  # no "#" in Arabic
    for part in (html.unescape(email.html), email.text):  # the CSS inliner writes U+00A0 as &nbsp;
        assert number in part and total in part
        assert "WELCOME20" in part and card in part and "Springfield" in part and country in part
        assert "Espresso Machine Pro" in part and "398" in part and "80" in part


@pytest.mark.parametrize(
    ("locale", "cancel_until"),
    [("en", "March 1, 2026, 12:30\u202fPM EST"), ("ko", "2026년 3월 2일 오전 2:30 한국 표준시"),
     ("ar", "1 مارس 2026، 8:30 م التوقيت العربي الرسمي")],
)
def test_times_are_shown_in_the_customers_own_zone(
    renderer: Renderer, locale: str, cancel_until: str
) -> None:
    """cancel_until is 17:30 UTC: 12:30 in New York, 02:30 the next day in Seoul, 20:30 in Riyadh."""
    email = renderer.render_email("confirmation", locale, sample_context("confirmation", locale))
    assert cancel_until in email.text


@pytest.mark.parametrize("locale", LOCALES)
def test_shipping_messages_link_to_tracking(renderer: Renderer, locale: str) -> None:
    for step in ("shipped", "delay_notice"):
        ctx = sample_context(step, locale)
        email = renderer.render_email(step, locale, ctx)
        assert ctx.tracking_url in email.html and ctx.tracking_url in email.text
        assert ctx.tracking_url in renderer.render_sms(step, locale, ctx).body
    shipped = renderer.render_email("shipped", locale, sample_context("shipped", locale))
    assert "1Z001985YW99744790" in shipped.text


def test_shipped_and_delay_notice_show_the_promised_date(renderer: Renderer) -> None:
    for step in ("shipped", "delay_notice"):
        assert "March 6, 2026" in renderer.render_email(step, "en", sample_context(step)).text


@pytest.mark.parametrize("locale", LOCALES)
def test_csat_email_links_all_five_scores(renderer: Renderer, locale: str) -> None:
    ctx = sample_context("csat", locale)
    email = renderer.render_email("csat", locale, ctx)
    for score in range(1, 6):
        assert f'href="{ctx.csat_links[score]}"' in email.html
        assert ctx.csat_links[score] in email.text


@pytest.mark.parametrize("locale", LOCALES)
def test_csat_sms_asks_for_a_reply_from_1_to_5_without_links(renderer: Renderer, locale: str) -> None:
    body = renderer.render_sms("csat", locale, sample_context("csat", locale)).body
    assert "1" in body and "5" in body and "http" not in body


@pytest.mark.parametrize("locale", LOCALES)
def test_review_request_links_each_item_and_the_order(renderer: Renderer, locale: str) -> None:
    ctx = sample_context("review_request", locale)
    email = renderer.render_email("review_request", locale, ctx)
    for url in [item.review_url for item in ctx.items] + [ctx.review_url]:
        assert url in email.html and url in email.text
    assert ctx.review_url in renderer.render_sms("review_request", locale, ctx).body


def test_review_request_asks_for_an_honest_review_not_a_good_one(renderer: Renderer) -> None:
    ctx = sample_context("review_request")
    text = renderer.render_email("review_request", "en", ctx).text
    text += renderer.render_sms("review_request", "en", ctx).body
    assert "honest" in text and "good or bad" in text.lower()
    assert not re.search(r"5[- ]star|positive", text, re.IGNORECASE)


@pytest.mark.parametrize("locale", LOCALES)
def test_setup_guide_shows_only_items_with_instructions_plus_cross_sell_and_referral(
    renderer: Renderer, locale: str
) -> None:
    ctx = sample_context("setup_guide", locale)
    email = renderer.render_email("setup_guide", locale, ctx)
    assert "Espresso Machine Pro" in email.html and "https://example.com/videos/espresso-setup" in email.html
    assert "House Blend Beans" not in email.html
    assert "https://example.com/p/sku-grinder" in email.text and ctx.referral_url in email.text
    no_referral = sample_context("setup_guide", locale, referral_invite=False)
    without = renderer.render_email("setup_guide", locale, no_referral)
    assert ctx.referral_url not in without.html


@pytest.mark.parametrize("locale", LOCALES)
def test_service_recovery_apologises_with_goodwill_points_and_support(
    renderer: Renderer, locale: str
) -> None:
    text = renderer.render_email("service_recovery", locale, sample_context("service_recovery", locale)).text
    assert "200" in text and "support@example.com" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_winback_escalates_from_missing_you_to_an_offer_to_a_last_chance(
    renderer: Renderer, locale: str
) -> None:
    texts = [
        renderer.render_email(step, locale, sample_context(step, locale)).text
        for step in ("winback_1", "winback_2", "winback_3")
    ]
    assert "COMEBACK15" not in texts[0]
    assert "COMEBACK15" in texts[1] and "COMEBACK15" in texts[2]
    assert all("420" in text and "Burr Grinder" in text for text in texts)
    no_points = replace(sample_context("winback_1", locale), points_balance=0)
    assert "420" not in renderer.render_email("winback_1", locale, no_points).text


@pytest.mark.parametrize("step", ["points_expiry_30", "points_expiry_7"])
@pytest.mark.parametrize("locale", LOCALES)
def test_points_expiry_shows_expiring_points_their_date_and_the_balance(
    renderer: Renderer, locale: str, step: str
) -> None:
    ctx = sample_context(step, locale)
    email = renderer.render_email(step, locale, ctx)
    sms = renderer.render_sms(step, locale, ctx)
    expiry = {"en": "April 30, 2026", "ko": "2026년 5월 1일", "ar": "30 أبريل 2026",
              "pt_BR": "30 de abril de 2026"}[locale]
    for part in (email.text, sms.body):
        assert "120" in part and "420" in part and expiry in part


@pytest.mark.parametrize(("locale", "refund"), [("en", "$409.84"), ("ko", "₩410"), ("ar", "409.84")])
def test_cancellation_notice_names_the_order_and_the_refund(
    renderer: Renderer, locale: str, refund: str
) -> None:
    ctx = sample_context("cancellation_notice", locale)
    email = renderer.render_email("cancellation_notice", locale, ctx)
    for part in (email.html, email.text):
        assert ("1042" if locale == "ar" else "#1042") in part and refund in part


def test_delivered_notice_shows_the_delivery_time_in_the_customers_zone(renderer: Renderer) -> None:
    email = renderer.render_email("delivered_notice", "en", sample_context("delivered_notice"))
    assert "March 5, 2026, 10:30\u202fAM EST" in email.text  # 15:30 UTC in New York, the zone named


def test_a_hostile_first_name_is_escaped_in_html_and_literal_in_text(renderer: Renderer) -> None:
    ctx = replace(sample_context("csat"), first_name="<script>alert(1)</script>")
    email = renderer.render_email("csat", "en", ctx)
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text
    sub = renderer.render_email("service_recovery", "en", replace(ctx, step="service_recovery")).subject
    assert "alert" not in sub  # subjects carry no customer free text (tests/unit/test_subjects_and_names.py)


def test_urls_with_ampersands_stay_raw_in_the_text_part(renderer: Renderer) -> None:
    ctx = replace(sample_context("shipped"), tracking_url="https://t.example/?a=1&b=2")
    email = renderer.render_email("shipped", "en", ctx)
    assert "https://t.example/?a=1&b=2" in email.text and "https://t.example/?a=1&amp;b=2" in email.html


@pytest.mark.parametrize("locale", ["fr", "de-DE", ""])
def test_an_unsupported_locale_renders_english(renderer: Renderer, locale: str) -> None:
    email = renderer.render_email("shipped", locale, sample_context("shipped"))
    assert email.locale == "en" and email.template == "en/shipped.email"
    assert "has shipped" in email.text
    assert renderer.render_sms("csat", locale, sample_context("csat")).locale == "en"


def test_a_regional_locale_uses_its_language(renderer: Renderer) -> None:
    assert renderer.render_sms("csat", "ko-KR", sample_context("csat", "ko")).template == "ko/csat.sms"


def test_a_missing_template_raises_an_error_naming_step_and_channel(renderer: Renderer) -> None:
    with pytest.raises(TemplateMissingError, match=r"sms.*'confirmation'"):
        renderer.render_sms("confirmation", "ko", sample_context("confirmation", "ko"))
    with pytest.raises(TemplateMissingError, match=r"email.*'no_such_step'"):
        renderer.render_email("no_such_step", "en", sample_context("csat"))


def test_has_template_answers_with_the_english_fallback(renderer: Renderer) -> None:
    assert renderer.has_template("csat", "sms", "ar")
    assert renderer.has_template("csat", "sms", "fr")
    assert not renderer.has_template("confirmation", "sms", "en")
    assert renderer.has_template("confirmation", "email", "ko")


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_a_locale_without_a_file_for_a_step_falls_back_to_english(tmp_path: Path) -> None:
    write(tmp_path, "en/csat.sms.txt", "Hello {{ first_name }}")
    write(tmp_path, "ko/shipped.sms.txt", "안녕하세요")
    sms = Renderer(tmp_path).render_sms("csat", "ko", sample_context("csat", "ko"))
    assert (sms.body, sms.locale, sms.template) == ("Hello 지민", "en", "en/csat.sms")


def test_a_template_using_a_field_that_does_not_exist_fails(tmp_path: Path) -> None:
    write(tmp_path, "en/csat.sms.txt", "Hi {{ first_name }}, {{ nickname }}")
    write(
        tmp_path, "en/csat.email.html",
        "{% block subject %}x{% endblock %}{% block html %}{{ shipping_address.floor }}{% endblock %}"
        "{% block text %}x{% endblock %}",
    )
    renderer = Renderer(tmp_path)
    with pytest.raises(UndefinedError, match="nickname"):
        renderer.render_sms("csat", "en", sample_context("csat"))
    with pytest.raises(UndefinedError, match="floor"):
        renderer.render_email("csat", "en", sample_context("csat"))


def test_an_email_template_missing_a_block_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "en/csat.email.html", "{% block subject %}x{% endblock %}{% block html %}y{% endblock %}")
    with pytest.raises(TemplateMissingError, match="text"):
        Renderer(tmp_path).render_email("csat", "en", sample_context("csat"))


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "$409.84|March 1, 2026|1,234,567"),
        ("ko", "₩410|2026년 3월 2일|1,234,567"),
    ],
)
def test_filters_format_in_the_customers_locale_and_zone(tmp_path: Path, locale: str, expected: str) -> None:
    """The order was placed at 15:30 UTC on 1 March: already 2 March in Seoul."""
    source = "{{ total | money(currency) }}|{{ order_placed_at | date }}|{{ 1234567 | number }}"
    write(tmp_path, f"{locale}/x.sms.txt", source)
    assert Renderer(tmp_path).render_sms("x", locale, sample_context("x", locale)).body == expected


def test_an_over_long_sms_is_counted_over_budget(tmp_path: Path) -> None:
    """The budget test above would catch a template that grows: the count is the real one."""
    write(tmp_path, "en/csat.sms.txt", "{{ store_name }} " * 20)
    sms = Renderer(tmp_path).render_sms("csat", "en", sample_context("csat"))
    assert sms.segments > SMS_SEGMENT_BUDGET["csat"]


def test_sms_bodies_replace_babel_no_break_spaces_to_stay_in_gsm7(renderer: Renderer) -> None:
    sms = renderer.render_sms("delivered_notice", "en", sample_context("delivered_notice"))
    assert "10:30 AM" in sms.body and sms.encoding == "GSM-7"


def test_templates_are_compiled_once_and_never_read_again(tmp_path: Path) -> None:
    """A batch renders tens of thousands of messages: the file is parsed on first use only."""
    write(tmp_path, "en/csat.sms.txt", "first {{ first_name }}")
    renderer = Renderer(tmp_path)
    assert renderer.render_sms("csat", "en", sample_context("csat")).body == "first Alex"
    write(tmp_path, "en/csat.sms.txt", "second {{ first_name }}")
    assert renderer.render_sms("csat", "en", sample_context("csat")).body == "first Alex"


@pytest.mark.parametrize("step", ["setup_guide", "csat", "review_request", "points_expiry_30", "points_expiry_7"])
def test_korean_ads_open_with_the_prefix_and_carry_the_senders_details(renderer: Renderer, step: str) -> None:
    ctx = sample_context(step, "ko", marketing=True)
    email = renderer.render_email(step, "ko", ctx)
    assert email.subject.startswith("(광고) ") and email.subject.count("(광고)") == 1
    assert ctx.sender_block in email.html and ctx.postal_address in email.html
    assert ctx.sender_block in email.text and ctx.postal_address in email.text
    if renderer.has_template(step, Channel.SMS, "ko"):
        body = renderer.render_sms(step, "ko", ctx).body
        assert body.startswith("(광고)[") and f"무료수신거부 {ctx.opt_out_number}" in body


def test_the_renderer_adds_the_ad_prefix_a_template_forgot(renderer: Renderer) -> None:
    ctx = replace(sample_context("csat", "en", marketing=True), ad_prefix="(광고)")
    assert renderer.render_email("csat", "en", ctx).subject.startswith("(광고) ")
    assert renderer.render_sms("csat", "en", ctx).body.startswith("(광고) ")
    plain = sample_context("csat", "en")
    assert not renderer.render_email("csat", "en", plain).subject.startswith("(")


@pytest.mark.parametrize("locale", LOCALES)
def test_marketing_email_shows_the_stores_postal_address(renderer: Renderer, locale: str) -> None:
    ctx = sample_context("setup_guide", locale, marketing=True)
    email = renderer.render_email("setup_guide", locale, ctx)
    assert ctx.postal_address in email.html and ctx.postal_address in email.text
    confirmation = renderer.render_email("confirmation", locale, sample_context("confirmation", locale,
                                                                                 marketing=True))
    assert ctx.postal_address not in confirmation.html  # transactional mail: the layout's marketing footer only


def test_calls_in_templates_behave_as_in_plain_jinja(tmp_path: Path) -> None:
    """The renderer's shorter call path (`_Context.call`) gives what Jinja's own gives: a macro escapes as
    its caller does (HTML in an email's html block, raw under `autoescape false`), functions that ask for the
    context or the environment get it, and a callable object goes through Jinja's path."""
    from jinja2 import Environment, pass_context, pass_environment

    class Shout:
        def __call__(self, text: str) -> str:
            return text.upper() + "!"

    @pass_context
    def who(context: object, greeting: str) -> str:
        return f"{greeting} {context['first_name']}"  # type: ignore[index]

    @pass_environment
    def strict(environment: Environment) -> str:
        return environment.undefined.__name__

    amp = "{% macro amp() %}<b>&</b>{% endmacro %}"
    source = (
        "{% block subject %}" + amp + "{% autoescape false %}{{ amp() ~ '&' }} {{ amp() | e }}{% endautoescape %}"
        "{% endblock %}"
        "{% block html %}" + amp + "{{ amp() ~ '&' }}|{{ who('Hi') }}|{{ shout('a<b') }}|{{ strict() }}"
        "|{{ {'k': '<v>'}.get('k') }}{% endblock %}"
        "{% block text %}" + amp + "{% autoescape false %}{{ amp() }}{% endautoescape %}{% endblock %}"
    )
    write(tmp_path, "en/csat.email.html", source)
    renderer = Renderer(tmp_path)
    env = renderer.environment("en")
    env.globals.update(who=who, shout=Shout(), strict=strict)
    email = renderer.render_email("csat", "en", sample_context("csat"))
    plain = Environment(loader=env.loader, undefined=env.undefined, autoescape=env.autoescape,
                        extensions=["jinja2.ext.i18n"])
    plain.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    plain.globals.update(who=who, shout=Shout(), strict=strict)
    expected = plain.get_template("en/csat.email.html")
    context = expected.new_context({"first_name": "Alex"})
    # escaped by `| e` only because, under `autoescape false`, the macro's result is plain text, not Markup
    assert email.subject == "".join(expected.blocks["subject"](context)) == "<b>&</b>& &lt;b&gt;&amp;&lt;/b&gt;"
    assert email.html.strip() == "".join(expected.blocks["html"](context)) \
        == "<b>&</b>&amp;|Hi Alex|A&lt;B!|StrictUndefined|&lt;v&gt;"
    assert email.text.strip() == "<b>&</b>"


@given(st.text(alphabet=" \t\nab\u00a0", max_size=60))
def test_the_text_part_is_tidied_as_the_two_regular_expressions_say(text: str) -> None:
    """`_tidy` drops trailing spaces and tabs on every line and keeps at most one blank line in a row."""
    expected = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)).strip() + "\n"
    assert _tidy(text) == expected


@given(st.text(alphabet="<>&\"'a %", max_size=12), st.integers(), st.sampled_from(
    ["Hi %(name)s, %(n)s%% off", "%(name)s", "%(n)d items for %(name)s", "100%% %(name)s & co"]))
def test_html_sentences_are_formatted_as_markup_formats_them(name: str, n: int, msgid: str) -> None:
    """The shortcut for `%(name)s` sentences gives `Markup.__mod__`'s result: values escaped, the sentence not
    (and a sentence with another placeholder, `%(n)d`, takes `Markup.__mod__` itself)."""
    from jinja2 import Environment
    from jinja2.nodes import EvalContext

    from aftercare.rendering.renderer import _direct_gettext

    gettext = _direct_gettext(lambda text: text)
    html = EvalContext(Environment(autoescape=True))
    for _ in range(2):  # the first call fills the caches, the second reads them
        out = gettext(html, msgid, name=name, n=n)
        assert out == Markup(msgid) % {"name": name, "n": n}
        assert isinstance(out, Markup)
