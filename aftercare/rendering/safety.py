"""What outside text may look like by the time it reaches a message.

Anyone can place an order with someone else's address, so whatever the order carries (the first name the
buyer typed, a tracking link from an order or a carrier body) is written by a stranger and sent under the
store's name. Two rules keep that from becoming a phishing channel:

- a link reaches a message only if it is an http(s) URL with a host and no credentials (`safe_url`);
  anything else (`javascript:`, `data:`, a bare path) is dropped and recorded, and the message renders
  without it (`checked_link`);
- a customer's name is shown as a short plain name (`display_name`): no control or bidi characters, no
  URLs or addresses, at most `MAX_NAME_CHARS` characters. Subjects carry no customer free text at all (the
  templates' rule, checked by a test).

Small pure functions, so the context builder can call them wherever it lives.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 40
SAFE_SCHEMES = frozenset({"http", "https"})
# Joiners are part of how some scripts and emoji are written; every other format character (bidi
# overrides and isolates, zero-width spaces, the Arabic letter mark) can disguise what a reader sees.
_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})
_URLISH = re.compile(
    r"""(?ix)
    \S*@\S+                                   # an email address (or anything@anything)
    | \b[a-z][a-z0-9+.-]*:\S+                 # scheme:... (http://, javascript:, data:, mailto:, tel:)
    | \bwww\.\S*                              # www.anything
    | \b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,63}\b(?:/\S*)?   # a bare domain, with or without a path
    """
)


def plain_text(value: object) -> str:
    """One line of visible text: NFC, control and format characters removed, whitespace collapsed."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFC", value)
    kept = (
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in text
        if ch in _KEEP_FORMAT or unicodedata.category(ch) != "Cf"
    )
    return " ".join("".join(kept).split())


def display_name(value: object, limit: int = MAX_NAME_CHARS) -> str:
    """A first name as it may appear in a message body: plain text, no URLs or addresses, capped."""
    return _display_name(value, limit) if isinstance(value, str) else ""


@lru_cache(maxsize=8192)  # a sweep renders several messages per customer: each name is cleaned once
def _display_name(value: str, limit: int) -> str:
    name = " ".join(_URLISH.sub(" ", plain_text(value)).split())
    if len(name) > limit:
        name = name[:limit].rstrip()
    return name.strip(" .,:;-")


def safe_url(value: object) -> str | None:
    """`value` when it is an absolute http(s) URL with a host and no user info; else None."""
    return _safe_url(value) if isinstance(value, str) else None


@lru_cache(maxsize=8192)
def _safe_url(value: str) -> str | None:
    url = value.strip()
    if not url or any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:  # https://bank.example@evil.example/
        return None
    return url


def checked_link(value: str | None, *, field: str, order_id: int, step: str) -> str | None:
    """A link for a message: `safe_url`, and a dropped one logged with ids only (never the URL itself)."""
    if value is None or value == "":
        return None
    url = safe_url(value)
    if url is None:
        log.warning("dropped unsafe link field=%s order_id=%s step=%s", field, order_id, step)
    return url
