"""The pages a customer sees after clicking a link (CSAT, unsubscribe, preferences, errors), in their language.

The words come from the same catalogs as the messages (`aftercare/rendering/catalogs.py`), so a language
added for email is added here too, and a store's own catalogs reword these pages as they reword emails.
Which language: the customer's own when the link names a customer or order we hold (what their emails were
written in), else the browser's `Accept-Language`, else English. Arabic pages are right to left.

Strings chosen in Python (a page's title and text) are marked with `N_` so `make i18n` extracts them, and
are translated when the page is rendered.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from aftercare.db.models import Customer, Order
from aftercare.rendering import catalogs

TEMPLATES = Path(__file__).parent / "templates"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks a string for extraction; it is translated where the page is rendered."""
    return message


@lru_cache(maxsize=32)
def _environment(locale: str, overrides: tuple[Path, ...]) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(catalogs.translations(locale, overrides), newstyle=True)  # type: ignore[attr-defined]
    return env


@lru_cache(maxsize=32)
def _direction(locale: str) -> str:
    try:
        return str(Locale.parse(locale).text_direction)
    except (ValueError, UnknownLocaleError):
        return "ltr"


def browser_locale(request: Request | None) -> str:
    """The best of our catalogs for the browser's Accept-Language (q-values honoured), else English."""
    header = request.headers.get("accept-language", "") if request is not None else ""
    wanted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*":
            wanted.append((quality, tag.replace("-", "_")))
    preferred = [tag for _, tag in sorted(wanted, key=lambda pair: -pair[0])]
    available = catalogs.shipped_locales()
    exact = negotiate_locale(preferred, available, sep="_")
    if exact:
        return exact
    return next((catalogs.resolve(tag) for tag in preferred if catalogs.resolve(tag) != "en"
                 or tag.lower().startswith("en")), catalogs.SOURCE_LOCALE)


def customer_locale(session_factory: Any, *, customer_id: int | None = None, order_id: int | None = None) -> str | None:
    """The language the customer's emails use, when the link names someone we hold (else None)."""
    with session_factory() as session:
        if order_id is not None:
            order = session.get(Order, order_id)
            customer_id = order.customer_id if order is not None else None
        customer = session.get(Customer, customer_id) if customer_id is not None else None
        return catalogs.resolve(customer.locale) if customer is not None and customer.locale else None


def render(name: str, locale: str, status: int = 200, *, catalog_dirs: tuple[Path, ...] = (),
           **values: Any) -> HTMLResponse:
    """The page in `locale` (a catalog name); `title` and `text` values are msgids, translated here."""
    catalog = catalogs.resolve(locale)
    env = _environment(catalog, tuple(catalog_dirs))
    words = catalogs.translations(catalog, tuple(catalog_dirs))
    for key in ("title", "text"):
        if isinstance(values.get(key), str):
            values[key] = words.gettext(values[key])
    html = env.get_template(name).render(lang=catalog.replace("_", "-"), catalog=catalog,
                                          text_direction=_direction(catalog), **values)
    return HTMLResponse(html, status_code=status, headers={"Content-Language": catalog.replace("_", "-")})
