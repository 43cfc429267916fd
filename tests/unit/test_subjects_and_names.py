"""Subjects carry no customer free text, and a customer's name is shown short and plain (issue 11, item 14).

A subject is what a phishing message needs most: it is read before anything else, in every inbox list. Anyone
can order with someone else's address and type anything as their first name, so no subject in any locale may
interpolate it, and the body shows it only through `display_name`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from aftercare.rendering.context import AddressView, sample_context
from aftercare.rendering.renderer import TEMPLATES_DIR, Renderer
from aftercare.rendering.safety import MAX_NAME_CHARS, display_name, plain_text, safe_url

HOSTILE = "Bob. URGENT: your card was declined, reply with card number at https://evil.example/pay \u202e\u0007"
EMAIL_TEMPLATES = sorted(
    (locale, path.name.removesuffix(".email.html"))
    for path in TEMPLATES_DIR.glob("*.email.html")  # one shared template per step, rendered in each catalog
    for locale in ("en", "ko", "ar", "pt_BR")
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_there_are_templates_in_every_locale_to_check() -> None:
    assert {locale for locale, _ in EMAIL_TEMPLATES} == {"en", "ko", "ar", "pt_BR"}
    assert len(EMAIL_TEMPLATES) >= 42


@pytest.mark.parametrize(("locale", "step"), EMAIL_TEMPLATES, ids=[f"{loc}/{s}" for loc, s in EMAIL_TEMPLATES])
def test_no_subject_in_any_locale_shows_the_customers_name_or_address(
    renderer: Renderer, locale: str, step: str
) -> None:
    plain = sample_context(step, locale)
    hostile = replace(plain, first_name=HOSTILE,
                      shipping_address=AddressView(HOSTILE, (HOSTILE,), HOSTILE, None, None, "US"))
    subject = renderer.render_email(step, locale, hostile).subject
    for fragment in ("Bob", "URGENT", "card", "evil", "\u202e", "\u0007"):
        assert fragment not in subject
    # The subject does not depend on the name at all: the sample's own name gives the same one.
    assert subject == renderer.render_email(step, locale, plain).subject
    assert plain.first_name not in subject


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Alex", "Alex"),
        ("  Anne-Marie  ", "Anne-Marie"),
        ("지민", "지민"),
        ("ليلى", "ليلى"),
        ("Bob\u202e\u2066evil\u2069", "Bobevil"),  # bidi overrides and isolates
        ("Bob\r\nBcc: x", "Bob Bcc: x"),  # control characters become spaces, never new lines
        ("Bob visit https://evil.example/x now", "Bob visit now"),
        ("Bob www.evil.example", "Bob"),
        ("Bob evil.example/login", "Bob"),
        ("Bob javascript:alert(1)", "Bob"),
        ("Bob mail me: scam@evil.example", "Bob mail me"),
        ("A" * 200, "A" * MAX_NAME_CHARS),
        (None, ""),
    ],
)
def test_a_name_is_shown_plain_short_and_without_links(raw: object, shown: str) -> None:
    assert display_name(raw) == shown


def test_plain_text_keeps_joiners_that_scripts_and_emoji_need() -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with its zero-width non-joiner
    assert plain_text(persian) == persian
    assert plain_text("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://www.ups.com/track?tracknum=1Z&x=1", True),
        ("http://tracking.example/1", True),
        ("HTTPS://UPS.COM/a", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        (" javascript:alert(1)", False),
        ("jav\nascript:alert(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("ftp://files.example/x", False),
        ("//evil.example/x", False),
        ("/relative/path", False),
        ("https://", False),
        ("https://bank.example@evil.example/", False),
        ("https://ups.com:99999/", False),
        ("https://ups.com/\u202etxt.exe", False),
        ("", False),
    ],
)
def test_only_http_urls_with_a_host_are_safe(url: str, safe: bool) -> None:
    assert (safe_url(url) == url.strip()) is safe
    assert (safe_url(url) is None) is not safe


@pytest.mark.parametrize("value", [None, 42, ["https://ups.example/1"], {"url": "https://ups.example/1"}])
def test_a_link_or_name_that_is_not_text_is_dropped_not_an_error(value: object) -> None:
    assert safe_url(value) is None and display_name(value) == ""
