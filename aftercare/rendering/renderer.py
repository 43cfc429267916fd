"""Render a step's email or SMS for one customer, in their language, from the files in `templates/`.

One file per (locale, step, channel): `<locale>/<step>.email.html` holds the `subject`, `html` and
`text` blocks, rendered separately so the subject and text are never HTML-escaped and the HTML always
is; `<locale>/<step>.sms.txt` is the SMS body. A locale without a file falls back to English.
Templates are strict (`StrictUndefined`): a misspelt or missing field fails the render instead of
sending a blank. Compiled templates and locale lookups are cached, because a sweep renders tens of
thousands of messages with one `Renderer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.runtime import Context as JinjaContext

from aftercare.rendering import filters, formats
from aftercare.rendering.context import MessageContext
from aftercare.rendering.segments import count_segments

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "ko", "ar")
DEFAULT_LOCALE = "en"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

Channel = Literal["email", "sms"]
_SUFFIX: dict[str, str] = {"email": "email.html", "sms": "sms.txt"}
_CONTEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MessageContext) if f.name != "extra")
# Babel's CLDR formats use no-break spaces; outside GSM-7, they would turn an English SMS into UCS-2.
_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


class TemplateMissingError(LookupError):
    """No template for this step and channel, in the customer's locale or in English."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    template: str  # e.g. "ko/csat.email"
    locale: str  # the locale actually used, after fallback


@dataclass(frozen=True)
class RenderedSms:
    body: str
    template: str  # e.g. "ar/shipped.sms"
    locale: str
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"


@lru_cache(maxsize=16)
def _text_direction(locale: str) -> str:
    return str(formats.locale(locale).text_direction)


def _with_prefix(text: str, prefix: str) -> str:
    """An advertising subject or SMS opens with the prefix its law requires ("(광고)"), whatever the template
    (a store's own, another locale's) wrote: the law's requirement is the engine's, not each template's."""
    if not prefix or text.startswith(prefix):
        return text
    return f"{prefix} {text}"


def _tidy(text: str) -> str:
    """Plain text built from conditionals leaves stray blank lines: keep at most one between paragraphs."""
    return _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip() + "\n"


def _language(locale: str) -> str:
    """'ko-KR' and 'ko_KR' are both served by the 'ko' templates."""
    return locale.replace("-", "_").split("_", 1)[0].lower()


class Renderer:
    """Templates are looked up in layers: the store's folders (`store_dirs`, in order) first, then the
    package's own, so a store adds a step's templates or overrides a built-in one by file name."""

    def __init__(self, templates_dir: Path | None = None, *, store_dirs: tuple[Path, ...] = ()) -> None:
        self._env = Environment(
            loader=FileSystemLoader([*map(str, store_dirs), str(templates_dir or TEMPLATES_DIR)]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            auto_reload=False,  # templates do not change under a running sweep: never stat them again
            cache_size=-1,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        filters.install(self._env)
        self._resolved: dict[tuple[str, str, str], tuple[Template, str] | None] = {}

    def render_email(self, step: str, locale: str, ctx: MessageContext) -> RenderedEmail:
        template, used = self._template(step, "email", locale)
        # One render context for the three blocks: blocks only read it, and building it is a third of
        # Jinja's own cost per message.
        context = template.new_context(self._variables(ctx, used))
        subject, html, text = (self._block(template, name, context) for name in ("subject", "html", "text"))
        return RenderedEmail(
            subject=_with_prefix(" ".join(subject.split()), ctx.ad_prefix),
            html=html.strip() + "\n",
            text=_tidy(text),
            template=f"{used}/{step}.email",
            locale=used,
        )

    def render_sms(self, step: str, locale: str, ctx: MessageContext) -> RenderedSms:
        template, used = self._template(step, "sms", locale)
        body = _with_prefix(template.render(self._variables(ctx, used)).strip().translate(_SMS_SPACES), ctx.ad_prefix)
        segments, encoding = count_segments(body)
        return RenderedSms(body, f"{used}/{step}.sms", used, segments, encoding)

    def has_template(self, step: str, channel: Channel, locale: str) -> bool:
        """Whether `render_*` would find a template (in this locale or the English fallback)."""
        return self._lookup(step, channel, locale) is not None

    def _template(self, step: str, channel: str, locale: str) -> tuple[Template, str]:
        found = self._lookup(step, channel, locale)
        if found is None:
            raise TemplateMissingError(
                f"no {channel} template for step {step!r} in locale {locale!r} or {DEFAULT_LOCALE!r}"
            )
        return found

    def _lookup(self, step: str, channel: str, locale: str) -> tuple[Template, str] | None:
        key = (step, channel, locale)
        if key not in self._resolved:
            self._resolved[key] = self._load(step, channel, locale)
        return self._resolved[key]

    def _load(self, step: str, channel: str, locale: str) -> tuple[Template, str] | None:
        if channel not in _SUFFIX:
            raise ValueError(f"unknown channel {channel!r}; expected one of {sorted(_SUFFIX)}")
        language = _language(locale)
        candidates = [language] if language in SUPPORTED_LOCALES else []
        for candidate in dict.fromkeys([*candidates, DEFAULT_LOCALE]):
            try:
                return self._env.get_template(f"{candidate}/{step}.{_SUFFIX[channel]}"), candidate
            except TemplateNotFound:
                continue
        return None

    @staticmethod
    def _variables(ctx: MessageContext, locale: str) -> dict[str, Any]:
        variables = {name: getattr(ctx, name) for name in _CONTEXT_FIELDS}
        variables.update(ctx.extra)  # a step's own template data, by the names it chose
        variables["lang"] = locale
        variables["text_direction"] = _text_direction(locale)
        # Formats follow the customer's country within the template's language (en + GB -> en_GB), and what
        # the store's data says in English is said in the message's language: a card ending, a country.
        fmt = formats.regional_locale(locale, ctx.region)
        variables["format_locale"] = fmt
        variables["payment_summary"] = formats.payment_summary(ctx.payment_summary, locale)
        if ctx.shipping_address is not None and ctx.shipping_address.country:
            variables["shipping_address"] = replace(
                ctx.shipping_address, country=formats.country_name(ctx.shipping_address.country, fmt))
        return variables

    @staticmethod
    def _block(template: Template, name: str, context: JinjaContext) -> str:
        try:
            block = template.blocks[name]
        except KeyError:
            raise TemplateMissingError(f"template {template.name!r} has no {name!r} block") from None
        return "".join(block(context))
