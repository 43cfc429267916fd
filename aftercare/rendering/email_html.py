"""Email HTML that mail clients render: an MJML layout compiled once, CSS inlined by css-inline per message.

The page around every email is `templates/layout/email.mjml`: MJML (through the `mjml` package, a Python
port of the MJML framework) turns it into the table-based, Outlook-conditional, responsive HTML that Gmail,
Outlook desktop and Apple Mail all lay out the same way. It is compiled when a Jinja environment first
loads it (once per process and file, cached by its text), never per message; Jinja expressions in its text
and attributes pass through MJML untouched and are filled per message.

MJML writes `direction:ltr` and `text-align:left` into its tables; those become the message's own direction
and start edge, so Arabic reads right to left inside Outlook's tables too.

What a step's template writes (paragraphs, headings, links, tables) gets the layout's rules inlined by
css-inline (`inline_css`, the `inline_css` filter), because Outlook and several webmail clients ignore or
strip `<style>`; the layout's `<style>` stays for what cannot be inlined (dark mode, the mobile breakpoint).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from mjml import mjml_to_html

_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
# Tells Apple Mail and others that the message has its own dark styles, so they do not invert it blindly.
_COLOR_SCHEME = ('\n<meta name="color-scheme" content="light dark">'
                 '\n<meta name="supported-color-schemes" content="light dark">')


class MjmlError(ValueError):
    """MJML reported errors in a layout: the layout is wrong, not the message."""


@lru_cache(maxsize=16)
def compile_mjml(source: str) -> str:
    """The HTML for an MJML document (with Jinja left in place), compiled once per distinct text."""
    result = mjml_to_html(source, keep_comments=False)
    if result.errors:
        raise MjmlError("; ".join(map(str, result.errors)))
    return (result.html
            .replace("direction:ltr", "direction:{{ text_direction }}")
            .replace("text-align:left", "text-align:{{ start_edge }}")
            .replace('align="left"', 'align="{{ start_edge }}"')
            .replace(_VIEWPORT, _VIEWPORT + _COLOR_SCHEME, 1))


class MjmlLoader(FileSystemLoader):
    """A `FileSystemLoader` that serves `*.mjml` files as the HTML MJML compiles them to."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".mjml"):
            source = compile_mjml(source)
        return source, filename, uptodate


# What a step's template writes, styled: the layout's own elements already carry MJML's inline styles, so only
# these fragments are inlined per message (a fifth of the cost of inlining the whole document).
CONTENT_CSS = """
p { margin: 0 0 16px; }
h2 { font-size: 18px; line-height: 1.3; margin: 24px 0 8px; }
a { color: %(brand_color)s; }
ul { margin: 0 0 16px; padding: 0 20px; }
td { vertical-align: top; }
"""
# Korean breaks lines between words (eojeol), never inside one: browsers default to breaking anywhere.
KEEP_ALL_CSS = """
p, li, td, h2, a { word-break: keep-all; }
"""
FOOTER_CSS = """
p { margin: 0 0 8px; }
a { color: #57534e; }
"""
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@lru_cache(maxsize=16)
def _stylesheet(part: str, brand_color: str, keep_all: bool) -> str:
    css = (CONTENT_CSS if part == "content" else FOOTER_CSS) % {"brand_color": brand_color}
    return css + KEEP_ALL_CSS if keep_all else css


def inline_css(fragment: str, part: str = "content", keep_all: bool = False, brand_color: str = "#0f766e") -> Markup:
    """`fragment` (HTML a template wrote) with the layout's rules for `part` written into `style` attributes;
    `keep_all` for Korean. The footer is the same for every transactional email of a store and language, so
    its result is kept (`_inline_footer`); a message's content is its own and is inlined each time."""
    if part == "footer":
        return _inline_footer(str(fragment), keep_all, brand_color)
    return Markup(_INLINER.inline_fragment(str(fragment), _stylesheet(part, brand_color, keep_all)))


@lru_cache(maxsize=256)
def _inline_footer(fragment: str, keep_all: bool, brand_color: str) -> Markup:
    return Markup(_INLINER.inline_fragment(fragment, _stylesheet("footer", brand_color, keep_all)))
