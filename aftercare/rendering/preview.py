"""`aftercare preview`: every step x locale x channel rendered from sample data into an HTML gallery.

A person opens `index.html` in a browser and sees each message as the customer would: the email page itself
(what a mail client lays out), its plain-text part, and each SMS with its segment count and encoding. The
index lists every page with its subject, preheader and size, and marks an email that would pass Gmail's
clipping limit. Nothing is sent and no database is needed: the data is `sample_context`'s, the look (brand
colour, logo, shop link) the store's own settings.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from aftercare.domain.vocabulary import Channel
from aftercare.journeys.journey import Journey
from aftercare.rendering.context import sample_context
from aftercare.rendering.renderer import Renderer

GMAIL_CLIP_BYTES = 102 * 1024
_PREHEADER = re.compile(r'<div style="display:none;[^"]*">\s*(.*?)\s*</div>', re.S)
_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:16px;line-height:1.5;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d6d3d1;padding:4px 6px;"
    "text-align:start;vertical-align:top;font-size:14px}.big{color:#b91c1c;font-weight:bold}"
    ".bubble{max-width:32rem;background:#e7e5e4;color:#1c1917;border-radius:16px;padding:12px 16px;"
    "white-space:pre-wrap}pre{white-space:pre-wrap}"
    "@media (prefers-color-scheme:dark){body{background:#1c1917;color:#f5f5f4}.bubble{background:#44403c;"
    "color:#f5f5f4}a{color:#99f6e4}}"
)


@dataclass(frozen=True)
class Page:
    """One rendered message in the gallery."""

    step: str
    locale: str
    channel: str
    path: str  # relative to the gallery
    bytes: int
    subject: str = ""
    preheader: str = ""
    segments: int = 0
    encoding: str = ""


def _document(title: str, body: str, lang: str = "en", direction: str = "ltr") -> str:
    return (f'<!doctype html>\n<html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head><body>{body}</body></html>\n")


def _steps(journey: Journey, steps: Iterable[str] | None) -> list[str]:
    wanted = set(steps or ())
    return [s.name for s in journey.steps if not wanted or s.name in wanted]


def build_gallery(out: Path, renderer: Renderer, journey: Journey, *, locales: Iterable[str] | None = None,
                  steps: Iterable[str] | None = None) -> list[Page]:
    """Write every page and `index.html` into `out`; the pages, in index order."""
    out.mkdir(parents=True, exist_ok=True)
    pages: list[Page] = []
    chosen = list(locales or renderer.locales)
    for name in _steps(journey, steps):
        spec = journey.step(name)
        for locale in chosen:
            ctx = sample_context(name, locale, vip=spec.is_marketing, marketing=spec.is_marketing,
                                 extra=dict(spec.sample) if spec.sample else None)
            direction = "rtl" if locale.split("_")[0] in ("ar", "he", "fa", "ur") else "ltr"
            if Channel.EMAIL in spec.channels:
                email = renderer.render_email(name, locale, ctx)
                path = f"{name}.{locale}.email.html"
                (out / path).write_text(email.html, encoding="utf-8")
                text_path = f"{name}.{locale}.text.html"
                (out / text_path).write_text(_document(
                    email.subject, f"<h1>{html.escape(email.subject)}</h1><pre>{html.escape(email.text)}</pre>",
                    locale.replace("_", "-"), direction), encoding="utf-8")
                found = _PREHEADER.search(email.html)
                pages.append(Page(name, locale, "email", path, len(email.html.encode("utf-8")), email.subject,
                                  html.unescape(found.group(1)) if found else ""))
                pages.append(Page(name, locale, "text", text_path, len(email.text.encode("utf-8")), email.subject))
            if Channel.SMS in spec.channels:
                sms = renderer.render_sms(name, locale, ctx)
                path = f"{name}.{locale}.sms.html"
                plural = "s" if sms.segments != 1 else ""
                meta = f"{sms.segments} segment{plural}, {sms.encoding}, {len(sms.body)} chars"
                (out / path).write_text(_document(
                    f"{name} SMS ({locale})",
                    f'<p class="bubble" dir="auto">{html.escape(sms.body)}</p><p>{meta}</p>',
                    locale.replace("_", "-"), direction), encoding="utf-8")
                pages.append(Page(name, locale, "sms", path, len(sms.body.encode("utf-8")),
                                  segments=sms.segments, encoding=sms.encoding))
    pages.extend(_web_pages(out, chosen))
    (out / "index.html").write_text(_index(pages), encoding="utf-8")
    return pages


def _web_pages(out: Path, locales: list[str]) -> list[Page]:
    """The pages behind the links (CSAT, unsubscribe, preferences, an error), as each customer sees them."""
    from aftercare.webhooks.pages import N_, render

    views = {
        "score": ("csat.html", {"token": "sample", "chosen": 4}),
        "unsubscribe": ("unsubscribe.html", {"token": "sample"}),
        "preferences": ("preferences.html", {"token": "sample", "saved": True, "email_marketing": True,
                                             "sms_marketing": False, "sms_stopped": True}),
        "error": ("message.html", {"title": N_("This link does not work"),
                                   "text": N_("The link has expired or is not valid.")}),
    }
    pages = []
    for locale in locales:
        for name, (template, values) in views.items():
            body = render(template, locale, store_name="Aftercare Demo Store", **values).body
            path = f"web-{name}.{locale}.page.html"
            (out / path).write_bytes(body)
            pages.append(Page(name, locale, "web", path, len(body)))
    return pages


def _index(pages: list[Page]) -> str:
    rows = []
    for page in pages:
        size = f"{page.bytes / 1024:.1f} KB"
        if page.channel == "email" and page.bytes >= GMAIL_CLIP_BYTES:
            size = f'<span class="big">{size} (Gmail clips)</span>'
        detail = (f"{page.segments} × {page.encoding}" if page.channel == "sms"
                  else html.escape(page.preheader))
        rows.append(
            f"<tr><td>{page.step}</td><td>{page.locale}</td><td><a href=\"{page.path}\">{page.channel}</a></td>"
            f'<td dir="auto">{html.escape(page.subject)}</td><td dir="auto">{detail}</td><td>{size}</td></tr>')
    emails = [p for p in pages if p.channel == "email"]
    largest = max(emails, key=lambda p: p.bytes, default=None)
    summary = (f"<p>{len(pages)} pages: {len(emails)} emails (largest {largest.bytes / 1024:.1f} KB, "
               f"{largest.step} in {largest.locale}), {sum(p.channel == 'sms' for p in pages)} SMS.</p>"
               if largest else f"<p>{len(pages)} pages.</p>")
    table = ("<table><thead><tr><th>Step</th><th>Locale</th><th>Page</th><th>Subject</th>"
             "<th>Preheader / SMS segments</th><th>Size</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return _document("Message preview", f"<h1>Message preview</h1>{summary}{table}")


def preview_command(
    out: Annotated[Path, typer.Option(help="Where the gallery goes (index.html and a page per message).")] = Path(
        ".aftercare/preview"),
    locale: Annotated[list[str] | None, typer.Option(help="Only these locales (repeat); default: all.")] = None,
    step: Annotated[list[str] | None, typer.Option(help="Only these steps (repeat); default: all.")] = None,
) -> None:
    """Render every step x locale x channel from sample data into an HTML gallery to open in a browser."""
    from rich.console import Console

    from aftercare.bootstrap import configured_journey
    from aftercare.settings import get_settings

    settings = get_settings()
    journey = configured_journey(settings)
    renderer = Renderer(store_dirs=journey.template_dirs, catalog_dirs=settings.catalog_dirs,
                        brand_color=settings.brand_color, logo_url=settings.logo_url, shop_url=settings.shop_url)
    pages = build_gallery(out, renderer, journey, locales=locale, steps=step)
    emails = [p for p in pages if p.channel == "email"]
    largest = max(emails, key=lambda p: p.bytes, default=None)
    console = Console()
    console.print(f"{len(pages)} pages in {out / 'index.html'}")
    if largest is not None:
        console.print(f"largest email: {largest.step} ({largest.locale}) {largest.bytes / 1024:.1f} KB "
                      f"of Gmail's {GMAIL_CLIP_BYTES // 1024} KB")
