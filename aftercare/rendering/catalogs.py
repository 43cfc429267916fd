"""Translation catalogs: one `.po` per locale, the words of every shared template in that language.

Templates are written once per (step, channel), in English, with their sentences in `{% trans %}` blocks;
`make i18n` extracts them into `aftercare/locale/messages.pot` and updates each
`aftercare/locale/<locale>/LC_MESSAGES/messages.po`. Adding a language is adding one catalog there.

Catalogs are read from the `.po` files and compiled in memory, once per process and locale, so a fresh
clone needs no build step and a compiled `.mo` can never be older than its `.po`. A store changes our
wording, or translates its own steps, with catalogs of its own (`Settings.catalog_dirs`, or a `locale/`
folder next to its templates): their messages are merged over ours, so no markup is copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LOCALE = "en"  # the language templates are written in: it needs no catalog
DOMAIN = "messages"


def normalize(locale: str) -> str:
    """'pt-br', 'pt_BR' and 'PT-BR' are all 'pt_BR'; 'ko' stays 'ko'."""
    language, _, region = locale.replace("-", "_").partition("_")
    return f"{language.lower()}_{region.upper()}" if region else language.lower()


def catalog_path(directory: Path, locale: str) -> Path:
    return directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=8)
def shipped_locales(directory: Path = LOCALE_DIR) -> tuple[str, ...]:
    """English first, then every locale with a catalog, sorted."""
    found = sorted(p.name for p in directory.iterdir() if catalog_path(directory, p.name).is_file())
    return (SOURCE_LOCALE, *(name for name in found if name != SOURCE_LOCALE))


def resolve(locale: str | None, available: Iterable[str] | None = None) -> str:
    """The catalog that serves `locale`: the exact one, else the first of the same language, else English.
    'ko-KR' is served by 'ko'; 'pt' and 'pt-PT' by 'pt_BR' until a 'pt_PT' catalog is added."""
    choices = tuple(available if available is not None else shipped_locales())
    wanted = normalize(locale or SOURCE_LOCALE)
    if wanted in choices:
        return wanted
    language = wanted.split("_", 1)[0]
    return next((c for c in choices if c.split("_", 1)[0] == language), SOURCE_LOCALE)


def _compiled(path: Path, locale: str) -> Translations:
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: the English is shown instead
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@lru_cache(maxsize=64)
def translations(locale: str, overrides: tuple[Path, ...] = (), directory: Path = LOCALE_DIR) -> Translations:
    """Our catalog for `locale` with each override directory's catalog merged over it, in order (the
    last one wins). A locale without a catalog of ours (English) starts empty: its msgids are the text."""
    result = Translations()
    result.domain = DOMAIN
    for base in (directory, *overrides):
        path = catalog_path(base, locale)
        if path.is_file():
            result.merge(_compiled(path, locale))
    return result
