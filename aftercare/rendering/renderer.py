"""Render a step's email or SMS for one customer, in their language, from the files in `templates/`.

One template per (step, channel), written in English with its sentences in `{% trans %}` blocks and
translated through the locale's catalog (`catalogs.py`): `<step>.email.html` holds the `subject`, `html`
and `text` blocks, rendered separately so the subject and text are never HTML-escaped and the HTML always
is; `<step>.sms.txt` is the SMS body. A per-locale file, `<locale>/<step>.<channel>.<ext>`, still wins over
the shared one (in a store's folder or ours), so a store can replace one language's copy outright; a step
with neither in the customer's language falls back to English.
Templates are strict (`StrictUndefined`): a misspelt or missing field fails the render instead of
sending a blank. Compiled templates and locale lookups are cached, because a sweep renders tens of
thousands of messages with one `Renderer`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any, Literal

from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateNotFound,
    nodes,
    pass_eval_context,
    select_autoescape,
)
from jinja2.ext import InternationalizationExtension
from jinja2.nodes import EvalContext
from jinja2.runtime import Context as JinjaContext
from jinja2.runtime import Macro
from jinja2.utils import _PassArg
from markupsafe import Markup, escape

from aftercare.rendering import catalogs, filters, formats
from aftercare.rendering.context import MessageContext
from aftercare.rendering.email_html import MjmlLoader, inline_css
from aftercare.rendering.segments import count_segments

SUPPORTED_LOCALES: tuple[str, ...] = catalogs.shipped_locales()
DEFAULT_BRAND_COLOR = "#0f766e"  # a mid-tone: white text reads on it, and it stays visible on a dark page
DEFAULT_LOCALE = catalogs.SOURCE_LOCALE
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

Channel = Literal["email", "sms"]
_SUFFIX: dict[str, str] = {"email": "email.html", "sms": "sms.txt"}
# Babel's CLDR formats use no-break spaces; outside GSM-7, they would turn an English SMS into UCS-2.
_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})


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
    """Plain text built from conditionals leaves stray blank lines: keep at most one between paragraphs.
    (Line by line and with `str.replace`: a third of what the two regular expressions it replaces cost.)"""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


RLM = "\u200f"
_NO_NUMBER_SIGN = frozenset({"ar"})
# Values that are usually Latin (or digits) inside right-to-left text: shown in <bdi> so the bidi algorithm
# does not carry their neighbours' direction into them ("#2769" read as "2769#", reordered addresses).
_ISOLATE = ("order_number", "tracking_number", "offer_code", "store_name", "carrier", "first_name",
            "payment_summary", "support_email")


def _bdi(value: object) -> Markup:
    return Markup("<bdi>{}</bdi>").format(value)


def _isolated(variables: dict[str, Any]) -> dict[str, Any]:
    """The Latin-prone values wrapped in <bdi> (for the HTML of right-to-left messages only)."""
    out: dict[str, Any] = {name: _bdi(variables[name]) for name in _ISOLATE if variables.get(name)}
    if variables.get("discount_codes"):
        out["discount_codes"] = tuple(_bdi(code) for code in variables["discount_codes"])
    return out


# A translation whose only placeholders are `%(name)s` and `%%` (every sentence of ours): formatting it with the
# escaped values is what `Markup.__mod__` does, which otherwise wraps each value in a helper object.
_ONLY_NAMED_STRINGS = re.compile(r"(?:[^%]|%%|%\([A-Za-z_][A-Za-z0-9_]*\)s)*", re.DOTALL)


def _direct_gettext(lookup: Callable[[str], str]) -> Callable[..., str]:
    """Jinja's newstyle `gettext` (escape the variables, not the translation; always %-format), calling the
    catalog directly: Jinja's own wrapper goes through `Context.call` twice per sentence, a quarter of an
    email's rendering time."""

    # msgid -> translation, as Markup (HTML) and as plain text; a sentence without variables -> its final text.
    # The catalog does not change under a running renderer, and a sweep says the same few hundred sentences
    # tens of thousands of times.
    marked: dict[str, Markup] = {}
    plain: dict[str, str] = {}
    whole: dict[tuple[str, bool], str] = {}
    only_names: dict[str, bool] = {}  # msgid -> whether its only placeholders are `%(name)s` (and `%%`)

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, __string: str, **variables: Any) -> str:
        if not variables:
            key = (__string, eval_ctx.autoescape)
            done = whole.get(key)
            if done is None:
                text = Markup(lookup(__string)) if eval_ctx.autoescape else lookup(__string)
                done = whole[key] = text % variables
            return done
        if eval_ctx.autoescape:
            text = marked.get(__string)
            if text is None:
                text = marked[__string] = Markup(lookup(__string))
                only_names[__string] = _ONLY_NAMED_STRINGS.fullmatch(text) is not None
            if only_names[__string]:  # what `Markup.__mod__` does for `%(name)s`, without a helper per value
                return Markup(str.__mod__(text, {name: escape(value) for name, value in variables.items()}))
        else:
            text = plain.get(__string)
            if text is None:
                text = plain[__string] = lookup(__string)
        return text % variables

    return gettext


# Callables whose `__call__` never asks Jinja for a context: whether to pass one is their own `jinja_pass_arg`,
# so `_Context.call` can skip Jinja's general checks (macros always take the eval context).
_PLAIN_FUNCTIONS = frozenset({FunctionType, BuiltinFunctionType, MethodType})


class _Context(JinjaContext):
    """Jinja's `Context` with a shorter path for calls in templates (macros, `_()`, `dict.get`).

    Every call a template makes goes through `Context.call`, which asks each callable, and its `__call__`,
    whether it wants the context, with several `hasattr`s each time: about 35 calls per email, a tenth of
    the rendering. For functions, methods and macros the answer is the function's own `jinja_pass_arg`;
    anything else (a callable object) takes Jinja's own path unchanged."""

    def call(__self, __obj: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's)
        kind = type(__obj)
        if kind is Macro:  # `Macro.__call__` takes the eval context: a macro escapes as its caller does
            pass_arg = _PassArg.eval_context
        elif kind in _PLAIN_FUNCTIONS:
            pass_arg = getattr(__obj, "jinja_pass_arg", None)
        else:
            return super().call(__obj, *args, **kwargs)
        if pass_arg is _PassArg.eval_context:
            args = (__self.eval_ctx, *args)
        elif pass_arg is not None:  # the context or the environment: Jinja's own path
            return super().call(__obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined("value was undefined because a callable raised a StopIteration"
                                                " exception")


class _Trans(InternationalizationExtension):
    """Jinja's i18n extension, with a `{% trans %}` sentence (no plural, no context) compiled to a filter call
    (`"..." | _trans(name=value)`) instead of a call of `gettext`: filters are bound when the template is
    compiled, calls go through `Context.call` each time. Same function, same text; emails say 25-30 of them."""

    def _make_node(self, singular: str, plural: str | None, context: str | None, variables: dict[str, nodes.Expr],
                   plural_expr: nodes.Expr | None, vars_referenced: bool, num_called_num: bool) -> nodes.Output:
        if plural_expr is not None or context is not None or not self.environment.newstyle_gettext:  # type: ignore[attr-defined]
            return super()._make_node(singular, plural, context, variables, plural_expr, vars_referenced,
                                      num_called_num)
        kwargs = [nodes.Keyword(key, value) for key, value in variables.items()]
        return nodes.Output([nodes.Filter(nodes.Const(singular), "_trans", [], kwargs, None, None)])


def _opens_left_to_right(text: str) -> bool:
    """Whether the first strongly directional character of `text` is left to right."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return False
        if kind == "L":
            return True
    return False


class Renderer:
    """Templates are looked up in layers: the store's folders (`store_dirs`, in order) first, then the
    package's own, so a store adds a step's templates or overrides a built-in one by file name; in each,
    a per-locale file before the shared template. Words come from our catalogs with the store's merged
    over them (`catalog_dirs`, then any `locale/` folder inside a store folder). One Jinja environment per
    locale, each with its catalog installed, so a compiled template is shared by all its customers."""

    def __init__(self, templates_dir: Path | None = None, *, store_dirs: tuple[Path, ...] = (),
                 catalog_dirs: tuple[Path, ...] = (), brand_color: str = DEFAULT_BRAND_COLOR,
                 logo_url: str | None = None, shop_url: str | None = None) -> None:
        self._loader = MjmlLoader([*map(str, store_dirs), str(templates_dir or TEMPLATES_DIR)])
        # The store's look and its shop, the same in every message: Jinja globals of every environment.
        self._brand = {"brand_color": brand_color, "logo_url": logo_url,
                       "shop_url": (shop_url or "").rstrip("/") or None}
        self._catalog_dirs = (*catalog_dirs, *(d / "locale" for d in store_dirs if (d / "locale").is_dir()))
        self._locales = tuple(dict.fromkeys([
            *catalogs.shipped_locales(),
            *(p.name for d in self._catalog_dirs if d.is_dir() for p in sorted(d.iterdir())
              if catalogs.catalog_path(d, p.name).is_file()),
        ]))
        self._envs: dict[str, Environment] = {}
        self._resolved: dict[tuple[str, str, str], tuple[Template, str] | None] = {}
        self._globals: dict[Template, dict[str, Any]] = {}  # a template's globals, flattened once

    @property
    def locales(self) -> tuple[str, ...]:
        """Every locale with a catalog (ours or the store's), English first."""
        return self._locales

    def environment(self, locale: str) -> Environment:
        """The Jinja environment whose `_()` and `{% trans %}` speak `locale` (a catalog name)."""
        env = self._envs.get(locale)
        if env is None:
            env = Environment(
                loader=self._loader,
                undefined=StrictUndefined,
                autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
                auto_reload=False,  # templates do not change under a running sweep: never stat them again
                cache_size=-1,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
                extensions=[_Trans],
            )
            env.context_class = _Context
            translations = catalogs.translations(locale, self._catalog_dirs)
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals["gettext"] = env.globals["_"] = env.filters["_trans"] = _direct_gettext(translations.gettext)
            filters.install(env)
            env.globals.update(self._brand)
            env.filters["inline_css"] = partial(inline_css, brand_color=self._brand["brand_color"])
            self._envs[locale] = env
        return env

    def render_email(self, step: str, locale: str, ctx: MessageContext) -> RenderedEmail:
        template, used = self._template(step, "email", locale)
        # One render context for the three blocks: blocks only read it, and building it is a third of
        # Jinja's own cost per message.
        variables = self._variables(template, ctx, used)
        context = template.new_context(variables, shared=True)
        subject, text = (self._block(template, name, context) for name in ("subject", "text"))
        if variables["text_direction"] == "rtl":  # Latin runs inside Arabic HTML: isolated so they keep order
            context = template.new_context({**variables, **_isolated(variables)}, shared=True)
        html = self._block(template, "html", context)
        return RenderedEmail(
            subject=_with_prefix(" ".join(subject.split()), ctx.ad_prefix),
            html=html.strip() + "\n",
            text=_tidy(text),
            template=f"{used}/{step}.email",
            locale=used,
        )

    def render_sms(self, step: str, locale: str, ctx: MessageContext) -> RenderedSms:
        template, used = self._template(step, "sms", locale)
        variables = self._variables(template, ctx, used)
        text = "".join(template.root_render_func(template.new_context(variables, shared=True)))
        body = _with_prefix(text.strip().translate(_SMS_SPACES), ctx.ad_prefix)
        if variables["text_direction"] == "rtl" and _opens_left_to_right(body):
            body = RLM + body  # else phones lay the whole SMS out left to right from its Latin store name
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
        """The first of: the customer's per-locale file, the shared template in the customer's catalog,
        the English per-locale file (a store step written only in English), each across all layers."""
        if channel not in _SUFFIX:
            raise ValueError(f"unknown channel {channel!r}; expected one of {sorted(_SUFFIX)}")
        name = f"{step}.{_SUFFIX[channel]}"
        catalog = catalogs.resolve(locale, self._locales)
        candidates = [(f"{catalog}/{name}", catalog), (name, catalog), (f"{DEFAULT_LOCALE}/{name}", DEFAULT_LOCALE)]
        for path, used in candidates:
            try:
                return self.environment(used).get_template(path), used
            except TemplateNotFound:
                continue
        return None

    def _variables(self, template: Template, ctx: MessageContext, locale: str) -> dict[str, Any]:
        """Everything a message's template reads, in one dict that the render context uses as it is
        (`shared=True`): the globals (brand, `_()`), then the context's fields, then the step's own data.
        Jinja would otherwise copy it twice more per message, merging a chain of globals each time."""
        flat = self._globals.get(template)
        if flat is None:
            flat = self._globals[template] = dict(template.globals)
        variables = {**flat, **ctx.__dict__}
        del variables["extra"]
        variables.update(ctx.extra)  # a step's own template data, by the names it chose
        if locale.split("_", 1)[0] in _NO_NUMBER_SIGN:  # Arabic writes "طلبكم 1042", never "#1042"
            variables["order_number"] = ctx.order_number.lstrip("#").strip()
        variables["lang"] = locale
        variables["catalog"] = locale
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
