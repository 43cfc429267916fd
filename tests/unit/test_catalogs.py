"""Translations are catalogs: complete, in step with the templates, overridable by a store, and a new
language is one more catalog (issue 15, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from aftercare.rendering import catalogs
from aftercare.rendering.context import sample_context
from aftercare.rendering.renderer import Renderer

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [locale for locale in catalogs.shipped_locales() if locale != catalogs.SOURCE_LOCALE]


def read(locale: str) -> Catalog:
    with catalogs.catalog_path(catalogs.LOCALE_DIR, locale).open("rb") as po:
        return read_po(po, locale=locale)


def extracted() -> set[tuple[str, str | None]]:
    """What `make i18n` would extract from the templates now: (msgid, context) pairs."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[tuple[str, str | None]] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2),
                                                      "pgettext": ((1, "c"), 2)}):
        found.add((message if isinstance(message, str) else message[0], context))
    return found


def test_the_shipped_languages_are_english_korean_arabic_and_portuguese() -> None:
    assert set(TRANSLATED) == {"ko", "ar", "pt_BR"}
    assert catalogs.shipped_locales()[0] == "en"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_catalog_is_complete_and_its_placeholders_match(locale: str) -> None:
    catalog = read(locale)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check()]
    assert not untranslated, untranslated
    assert not fuzzy, fuzzy
    assert not errors, errors
    assert not catalog.obsolete


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_catalog_holds_exactly_the_messages_the_templates_use(locale: str) -> None:
    """A template edited without `make i18n` fails here, not as English text in a Korean email."""
    in_catalog = {(m.id, m.context) for m in read(locale) if m.id}
    assert in_catalog == extracted()


@pytest.mark.parametrize(("requested", "served"), [
    ("ko", "ko"), ("ko-KR", "ko"), ("ar_SA", "ar"), ("ar-AE", "ar"), ("en-GB", "en"), ("fr", "en"), (None, "en"),
    ("pt-BR", "pt_BR"), ("pt_br", "pt_BR"), ("pt", "pt_BR"),
])
def test_a_regional_locale_is_served_by_its_languages_catalog(requested: str | None, served: str) -> None:
    assert catalogs.resolve(requested) == served


def write_catalog(root: Path, locale: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=locale)
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    path = catalogs.catalog_path(root, locale)
    path.parent.mkdir(parents=True)
    with path.open("wb") as po:
        write_po(po, catalog)


def test_a_store_rewords_one_message_in_one_language_without_copying_markup(tmp_path: Path) -> None:
    write_catalog(tmp_path, "ko", {"Hi %(first_name)s,": "%(first_name)s 고객님, 반가워요!"})
    ours, theirs = Renderer(), Renderer(catalog_dirs=(tmp_path,))

    mine = theirs.render_email("shipped", "ko", sample_context("shipped", "ko"))
    base = ours.render_email("shipped", "ko", sample_context("shipped", "ko"))

    assert ">지민 고객님, 반가워요!</p>" in mine.html and "지민 고객님, 반가워요!" in mine.text
    assert mine.html.replace("지민 고객님, 반가워요!", "지민님, 안녕하세요.") == base.html
    assert mine.subject == base.subject  # every other message is still ours
    english = theirs.render_email("shipped", "en", sample_context("shipped", "en"))
    assert "Hi Alex," in english.html


def test_a_store_folder_may_carry_its_own_catalogs_next_to_its_templates(tmp_path: Path) -> None:
    (tmp_path / "hello.sms.txt").write_text("{% trans %}Hello {{ first_name }}{% endtrans %}", encoding="utf-8")
    write_catalog(tmp_path / "locale", "ko", {"Hello %(first_name)s": "%(first_name)s님 안녕하세요"})
    renderer = Renderer(store_dirs=(tmp_path,))

    assert renderer.render_sms("hello", "ko", sample_context("hello", "ko")).body == "지민님 안녕하세요"
    assert renderer.render_sms("hello", "en", sample_context("hello")).body == "Hello Alex"


def test_adding_a_language_is_adding_one_catalog(tmp_path: Path) -> None:
    write_catalog(tmp_path, "fr", {"Hi %(first_name)s,": "Bonjour %(first_name)s,"})
    renderer = Renderer(catalog_dirs=(tmp_path,))

    email = renderer.render_email("shipped", "fr-FR", sample_context("shipped", "en"))

    assert "fr" in renderer.locales and email.locale == "fr"
    assert '<html lang="fr" dir="ltr"' in email.html and ">Bonjour Alex,</p>" in email.html
    assert "March" not in email.text and "mars 2026" in email.text  # French formats, too


def test_a_per_locale_file_still_overrides_the_shared_template(tmp_path: Path) -> None:
    """New steps may ship `<locale>/<step>.<channel>.<ext>` files; they and a store's copies win."""
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "shipped.sms.txt").write_text("[{{ store_name }}] 발송 완료", encoding="utf-8")
    renderer = Renderer(store_dirs=(tmp_path,))

    korean = renderer.render_sms("shipped", "ko", sample_context("shipped", "ko"))
    assert korean.body == "[Aftercare Demo Store] 발송 완료"
    assert renderer.render_sms("shipped", "ar", sample_context("shipped", "ar")).template == "ar/shipped.sms"
    assert "UPS" in renderer.render_sms("shipped", "en", sample_context("shipped")).body


def test_a_per_locale_template_may_still_import_the_old_layout_names(tmp_path: Path) -> None:
    (tmp_path / "ar").mkdir()
    (tmp_path / "ar" / "hello.email.html").write_text(
        '{% block subject %}مرحبا{% endblock %}{% block html %}{% import "ar/_email.html" as ui with context %}'
        "{% call ui.page(store_name) %}{{ ui.greeting() }}{% endcall %}{% endblock %}"
        '{% block text %}{% import "ar/_email.txt" as tx with context %}{{ tx.greeting() }}{% endblock %}',
        encoding="utf-8")
    email = Renderer(store_dirs=(tmp_path,)).render_email("hello", "ar", sample_context("hello", "ar"))
    assert 'dir="rtl"' in email.html and "مرحباً <bdi>ليلى</bdi>،" in email.html and "مرحباً ليلى،" in email.text


def test_a_brazilian_customer_reads_portuguese_with_brazilian_money_and_dates() -> None:
    from aftercare.services.message_context import choose_locale

    locale = choose_locale("pt-BR")
    email = Renderer().render_email("confirmation", locale, sample_context("confirmation", locale))

    assert locale == "pt_BR" and email.locale == "pt_BR"
    assert email.subject == "Pedido #1042 confirmado — obrigado"
    assert '<html lang="pt-BR" dir="ltr"' in email.html and "Olá, João," in email.text
    assert "R$\xa0409,84" in email.text  # Babel's pt_BR currency format, not US dollars


def test_a_per_locale_template_keeps_the_vip_thanks_it_had(tmp_path: Path) -> None:
    """Steps written per locale before the shared layout greet VIPs as they did; converted ones choose."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "hello.email.html").write_text(
        '{% block subject %}Hi{% endblock %}{% block html %}{% import "en/_email.html" as ui with context %}'
        "{% call ui.page(store_name, marketing=true) %}{{ ui.greeting() }}{% endcall %}{% endblock %}"
        '{% block text %}{% import "en/_email.txt" as tx with context %}{{ tx.greeting() }}{% endblock %}',
        encoding="utf-8")
    email = Renderer(store_dirs=(tmp_path,)).render_email("hello", "en", sample_context("hello", vip=True))
    assert "Thank you for being one of our VIP members." in email.html
    assert "Thank you for being one of our VIP members." in email.text
