"""SMS segment counting against known carrier cases."""

from __future__ import annotations

import pytest

from aftercare.domain.vocabulary import Channel
from aftercare.journeys import default_journey
from aftercare.rendering.segments import GSM7, UCS2, count_segments


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", (1, GSM7)),
        ("a" * 160, (1, GSM7)),
        ("a" * 161, (2, GSM7)),
        ("a" * 306, (2, GSM7)),
        ("a" * 307, (3, GSM7)),
        ("가" * 70, (1, UCS2)),
        ("가" * 71, (2, UCS2)),
        ("가" * 134, (2, UCS2)),
        ("가" * 135, (3, UCS2)),
        ("م" * 70, (1, UCS2)),
        ("م" * 71, (2, UCS2)),
    ],
)
def test_known_lengths_cost_the_carriers_segment_count(body: str, expected: tuple[int, str]) -> None:
    assert count_segments(body) == expected


def test_euro_and_braces_cost_two_septets_in_gsm() -> None:
    assert count_segments("€" * 80) == (1, GSM7)
    assert count_segments("€" * 81) == (2, GSM7)
    assert count_segments("a" * 159 + "{") == (2, GSM7)
    assert count_segments("a" * 158 + "}") == (1, GSM7)


def test_gsm_accented_letters_stay_in_gsm() -> None:
    assert count_segments("Café à Øresund, ¿qué tal?") == (1, GSM7)


def test_an_emoji_forces_ucs2() -> None:
    assert count_segments("Your order shipped 🎉") == (1, UCS2)


def test_characters_outside_the_bmp_count_two_code_units() -> None:
    assert count_segments("🎉" * 35) == (1, UCS2)
    assert count_segments("🎉" * 36) == (2, UCS2)


def test_a_no_break_space_forces_ucs2() -> None:
    assert count_segments("Pay $1\u00a0now") == (1, UCS2)


def test_every_sms_step_declares_a_positive_number_of_segments() -> None:
    sms_steps = [s for s in default_journey().steps if Channel.SMS in s.channels]
    assert sms_steps
    assert all(s.sms_segments is not None and s.sms_segments >= 1 for s in sms_steps)
