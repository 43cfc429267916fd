"""Email HTML that mail clients render well (issue 15, items 2 and 3): an MJML layout compiled once, CSS
inlined, dark mode, the store's brand, semantic headings, one primary action, a preheader, and every email
under Gmail's clipping limit."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

import pytest

from aftercare.domain.vocabulary import Channel
from aftercare.journeys import default_journey
from aftercare.rendering import email_html
from aftercare.rendering.context import MessageContext, sample_context
from aftercare.rendering.renderer import DEFAULT_BRAND_COLOR, TEMPLATES_DIR, Renderer
from tests.unit.test_after_arrival_templates import STEP_DATA

JOURNEY = default_journey()
EMAIL_STEPS = tuple(s.name for s in JOURNEY.steps if Channel.EMAIL in s.channels)
# Steps with one shared template (all of the built-in ones); a step a store writes per locale gets the layout
# but writes its own preheader and action.
SHARED_EMAIL_STEPS = tuple(s for s in EMAIL_STEPS if (TEMPLATES_DIR / f"{s}.email.html").is_file())
# A notice to the support team about a request they handle in Shopify has nothing to click.
NO_ACTION = frozenset({"order_request_notice"})
LOCALES = ("en", "ko", "ar", "pt_BR")
GMAIL_CLIP_BYTES = 102 * 1024
SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(shop_url=SHOP)


def preheader(html: str) -> str:
    found = re.search(r'<div style="display:none;[^"]*">\s*(.*?)\s*</div>', html, re.S)
    assert found, "no hidden preheader"
    return found.group(1)


def with_step_data(step: str, locale: str, *, vip: bool = False) -> MessageContext:
    """The sample plus what the step's own `template_data` adds (its links are often its action)."""
    return sample_context(step, locale, vip=vip, extra=STEP_DATA.get(step))


def first_paragraph(html: str) -> str:
    content = html.split('class="ac-content', 1)[1]
    found = re.search(r"<p[^>]*>(.*?)</p>", content, re.S)
    assert found
    return found.group(1)


@pytest.mark.parametrize("vip", [False, True], ids=["member", "vip"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", EMAIL_STEPS)
def test_every_email_is_under_gmails_clipping_limit_and_built_for_mail_clients(
    renderer: Renderer, step: str, locale: str, vip: bool
) -> None:
    html = renderer.render_email(step, locale, sample_context(step, locale, vip=vip)).html

    assert len(html.encode("utf-8")) < GMAIL_CLIP_BYTES
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert "<!--[if mso | IE]>" in html and 'role="presentation"' in html  # MJML's table layout for Outlook
    assert html.count("<h1") == 1  # the store heads the page
    if step in SHARED_EMAIL_STEPS:
        assert "<h3" not in html  # sections are h2
    assert "{{" not in html and "{%" not in html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", SHARED_EMAIL_STEPS)
def test_every_email_has_its_own_preheader_and_one_primary_action(
    renderer: Renderer, step: str, locale: str
) -> None:
    html = renderer.render_email(step, locale, with_step_data(step, locale, vip=True)).html

    text = preheader(html)
    assert text and "VIP" not in text
    assert html.count("data-primary-action") == (0 if step in NO_ACTION else 1), step


def test_the_preheaders_differ_from_step_to_step(renderer: Renderer) -> None:
    seen = {preheader(renderer.render_email(s, "en", with_step_data(s, "en")).html) for s in SHARED_EMAIL_STEPS}
    assert len(seen) == len(SHARED_EMAIL_STEPS)


@pytest.mark.parametrize("step", [s for s in SHARED_EMAIL_STEPS if not JOURNEY.step(s).is_marketing])
def test_the_vip_line_never_opens_or_appears_in_an_order_update_or_apology(renderer: Renderer, step: str) -> None:
    """An order update never mentions status; an apology may acknowledge a VIP, but only after saying sorry."""
    email = renderer.render_email(step, "en", with_step_data(step, "en", vip=True))
    assert "VIP" not in preheader(email.html) and "VIP" not in first_paragraph(email.html)
    # A notice to the support team greets no one.
    assert first_paragraph(email.html).startswith("Dear Alex,") or JOURNEY.step(step).to_support
    if step == "service_recovery":
        for body in (email.html, email.text):
            assert body.index("We're sorry") < body.index("VIP members")
    else:
        assert "VIP" not in email.html and "VIP" not in email.text


def test_buttons_are_table_cells_in_the_store_colour_with_a_border_that_survives_dark_mode() -> None:
    html = Renderer(brand_color="#7c3aed").render_email("shipped", "en", sample_context("shipped")).html
    button = html.split("data-primary-action", 1)[1].split("</table>", 1)[0]

    assert 'bgcolor="#7c3aed"' in button and "border: 2px solid #7c3aed" in button
    assert "color: #ffffff" in button and "Track your package" in button
    assert ".ac-btn td, .ac-btn a { background-color: #7c3aed !important; color: #ffffff !important; " \
           "border-color: #f5f5f4 !important; }" in html


def relative_luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_default_button_colour_reads_in_light_and_stays_visible_in_dark_mode() -> None:
    """The old near-black button all but vanished on a dark page."""
    assert contrast(DEFAULT_BRAND_COLOR, "#ffffff") >= 4.5  # white label on the button
    assert contrast(DEFAULT_BRAND_COLOR, "#1c1917") >= 3  # the button against the dark-mode card


def test_the_logo_from_settings_heads_the_email_with_the_store_name_as_its_text() -> None:
    html = Renderer(logo_url="https://cdn.example/logo.png").render_email(
        "confirmation", "en", sample_context("confirmation")).html
    heading = html.split("<h1", 1)[1].split("</h1>", 1)[0]
    assert '<img src="https://cdn.example/logo.png" alt="Aftercare Demo Store"' in heading


@pytest.mark.parametrize("locale", LOCALES)
def test_csat_score_buttons_have_accessible_names(renderer: Renderer, locale: str) -> None:
    html = renderer.render_email("csat", locale, sample_context("csat", locale)).html
    names = re.findall(r'<a href="https://example.com/csat/(\d)\?sig=abc" aria-label="([^"]+)"', html)
    assert [n for n, _ in names] == ["1", "2", "3", "4", "5"]
    assert all(label.startswith(f"{n}: ") and len(label) > 4 for n, label in names)


def test_review_requests_offer_one_button_per_product(renderer: Renderer) -> None:
    html = renderer.render_email("review_request", "en", sample_context("review_request")).html
    group = html.split("data-primary-action", 1)[1].split("</div>", 1)[0]
    assert "Review Espresso Machine Pro" in group and "Review House Blend Beans 1kg" in group


@pytest.mark.parametrize(("step", "label", "url"), [
    ("winback_1", "Shop now", SHOP),
    ("winback_2", "Shop with code COMEBACK15", f"{SHOP}/discount/COMEBACK15"),
    ("points_expiry_7", "Use my points", SHOP),
])
def test_marketing_emails_lead_to_the_shop(renderer: Renderer, step: str, label: str, url: str) -> None:
    email = renderer.render_email(step, "en", sample_context(step))
    button = email.html.split("data-primary-action", 1)[1].split("</table>", 1)[0]
    assert f'href="{url}"' in button and label in button
    assert f"{label}: {url}" in email.text


def test_without_a_shop_url_no_shop_button_is_drawn() -> None:
    html = Renderer().render_email("winback_1", "en", sample_context("winback_1")).html
    assert "data-primary-action" not in html and "Shop now" not in html


def test_arabic_tables_run_right_to_left_and_korean_keeps_words_whole(renderer: Renderer) -> None:
    arabic = renderer.render_email("shipped", "ar", sample_context("shipped", "ar")).html
    korean = renderer.render_email("shipped", "ko", sample_context("shipped", "ko")).html

    assert "direction:ltr" not in arabic and "direction: ltr" not in arabic and "direction:rtl" in arabic
    assert "text-align:left" not in arabic and "text-align:right" in arabic
    assert '<p style="margin: 0 0 16px;word-break: keep-all;">' in korean
    assert '<p style="margin: 0 0 16px;">' in arabic


def test_the_mjml_layout_is_compiled_once_not_per_message() -> None:
    renderer = Renderer()
    renderer.render_email("shipped", "en", sample_context("shipped"))
    before = email_html.compile_mjml.cache_info()
    for locale in LOCALES:
        for step in ("shipped", "csat", "confirmation"):
            renderer.render_email(step, locale, sample_context(step, locale))
    after = email_html.compile_mjml.cache_info()
    assert after.misses == before.misses


def test_content_css_is_inlined_by_the_library(renderer: Renderer) -> None:
    html = renderer.render_email("setup_guide", "en", replace(sample_context("setup_guide"))).html
    assert '<p style="margin: 0 0 16px;">' in html
    assert re.search(r'<h2 style="font-size: 18px;line-height: 1.3;margin: 24px 0 8px;?">', html)


def test_latin_runs_in_arabic_html_are_isolated_and_numbers_carry_no_number_sign(renderer: Renderer) -> None:
    """'#2769' showed as '2769#' and Latin addresses reordered inside right-to-left text (item 6)."""
    email = renderer.render_email("confirmation", "ar", sample_context("confirmation", "ar"))
    shipped = renderer.render_email("shipped", "ar", sample_context("shipped", "ar"))

    assert "<bdi>1042</bdi>" in email.html and "#1042" not in email.html
    assert "#1042" not in email.subject and "1042" in email.subject and "#1042" not in email.text
    assert "<bdi>12 Main St</bdi>" in email.html and "<bdi>Springfield، IL 62701</bdi>" in email.html
    assert "<bdi>WELCOME20</bdi>" in email.html and "<bdi>Visa المنتهية بـ 4242</bdi>" in email.html
    assert "<bdi>1Z001985YW99744790</bdi>" in shipped.html
    english = renderer.render_email("confirmation", "en", sample_context("confirmation"))
    assert "<bdi>#1042</bdi>" not in english.html and "#1042" in english.html


@pytest.mark.parametrize("step", [s.name for s in JOURNEY.steps if Channel.SMS in s.channels])
def test_arabic_sms_open_right_to_left(renderer: Renderer, step: str) -> None:
    """An SMS that starts with the Latin store name is laid out left to right by phones."""
    body = renderer.render_sms(step, "ar", sample_context(step, "ar")).body
    first_strong = next(ch for ch in body if unicodedata.bidirectional(ch) in ("L", "R", "AL"))
    assert body.startswith("\u200f") or unicodedata.bidirectional(first_strong) in ("R", "AL")
    assert "#1042" not in body
    english = renderer.render_sms(step, "en", sample_context(step)).body
    assert not english.startswith("\u200f")


@pytest.mark.parametrize(("locale", "value", "until"), [
    ("en", "15% off", "May 14, 2026"), ("ko", "15% 할인", "2026년 5월 15일"),
    ("pt_BR", "15% de desconto", "14 de maio de 2026"),
])
def test_a_winback_code_states_its_value_and_expiry(renderer: Renderer, locale: str, value: str, until: str) -> None:
    """The win-back codes never said what they were worth."""
    for step in ("winback_2", "winback_3"):
        email = renderer.render_email(step, locale, sample_context(step, locale))
        for part in (email.html, email.text):
            assert "COMEBACK15" in part and value in part and until in part


def test_the_winback_steps_hand_their_templates_the_codes_terms() -> None:
    from datetime import UTC, datetime, timedelta

    from aftercare.journeys.message import MessageView

    now = datetime(2026, 3, 1, tzinfo=UTC)
    for name, code, percent, days in (("winback_2", "WELCOMEBACK10", 10, 14), ("winback_3", "LASTCHANCE15", 15, 7)):
        spec = JOURNEY.step(name)
        assert spec.template_data is not None
        view = MessageView(step=name, customer_id=1, order_id=1, now=now, links=None,  # type: ignore[arg-type]
                           settings=None, order_placed_at=now, items=())  # type: ignore[arg-type]
        assert spec.template_data(view) == {"offer_code": code, "offer_percent": percent,
                                            "offer_expires_at": now + timedelta(days=days)}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", ["winback_1", "winback_2", "winback_3", "points_expiry_30", "points_expiry_7"])
def test_marketing_sms_carry_a_short_shop_link_within_their_budget(renderer: Renderer, step: str, locale: str) -> None:
    ctx = sample_context(step, locale, vip=True)
    if step not in ("winback_2", "winback_3"):  # only these carry a code
        ctx = replace(ctx, offer_code=None, offer_percent=None, offer_expires_at=None)
    sms = renderer.render_sms(step, locale, ctx)
    lines = sms.body.splitlines()
    assert lines[-2] in (SHOP, f"{SHOP}/discount/COMEBACK15") and "STOP" in lines[-1]  # the code when there is one
    assert sms.segments <= JOURNEY.step(step).sms_segments, (sms.segments, sms.encoding, sms.body)


def test_without_a_shop_url_marketing_sms_carry_no_link_line() -> None:
    body = Renderer().render_sms("winback_1", "en", sample_context("winback_1")).body
    assert len(body.splitlines()) == 2 and "http" not in body
