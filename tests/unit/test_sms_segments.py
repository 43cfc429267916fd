import pytest

from aftercare.providers.twilio import count_segments


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),  # an escaped character costs two septets
        ("€" * 81, (2, "GSM-7")),
        ("한" * 70, (1, "UCS-2")),
        ("한" * 71, (2, "UCS-2")),
        ("مرحبا" * 27, (3, "UCS-2")),  # 135 characters: 67 per segment
        ("👍" * 35, (1, "UCS-2")),  # an emoji is two UTF-16 units
        ("👍" * 36, (2, "UCS-2")),
    ],
)
def test_segments_follow_gsm7_160_153_and_ucs2_70_67(body: str, expected: tuple[int, str]) -> None:
    assert count_segments(body) == expected
