"""How many SMS segments a body costs, and how many each step may cost.

Carriers bill per segment, and a single non-GSM character (an emoji, a curly quote, Babel's no-break
space) silently switches the whole message to UCS-2 and more than halves its capacity. Counting here,
with the same rules as the carriers (GSM 03.38; as in GOV.UK Notify's notifications-utils), lets tests
hold every template to its step's budget (`step(..., sms_segments=N)`).
"""

from __future__ import annotations

from typing import Final

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

# GSM 03.38 basic character set (the escape character 0x1B is not usable on its own).
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (escape + character).
_GSM_EXTENDED: Final = frozenset("^{}\\[~]|€\f")

_GSM_SINGLE, _GSM_MULTI = 160, 153  # septets; a multipart message loses 7 to the UDH
_UCS2_SINGLE, _UCS2_MULTI = 70, 67  # UTF-16 code units

def _gsm_septets(body: str) -> int | None:
    """Septets needed in GSM-7, or None if any character is outside GSM-7."""
    septets = 0
    for char in body:
        if char in _GSM_BASIC:
            septets += 1
        elif char in _GSM_EXTENDED:
            septets += 2
        else:
            return None
    return septets


def _segments(units: int, single: int, multi: int) -> int:
    if units <= single:
        return 1
    return -(-units // multi)


def count_segments(body: str) -> tuple[int, str]:
    """Return (segments, encoding) for an SMS body; an empty body still costs one segment."""
    septets = _gsm_septets(body)
    if septets is not None:
        return _segments(septets, _GSM_SINGLE, _GSM_MULTI), GSM7
    utf16_units = len(body.encode("utf-16-le")) // 2  # characters outside the BMP take two
    return _segments(utf16_units, _UCS2_SINGLE, _UCS2_MULTI), UCS2
