import pytest

from aftercare.providers.phone import normalise_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 415-555-2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("(415) 555-2671", "us", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("+82 10-1234-5678", None, "+821012345678"),
    ],
)
def test_a_valid_number_comes_back_in_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "US"),
        ("   ", "US"),
        (None, "US"),
        ("not a number", "US"),
        ("(415) 555-2671", None),  # national format without a region cannot be read
        ("+1 415 555", None),  # too short
        ("+1 099 555 2671", None),  # no such area code
    ],
)
def test_an_invalid_or_unreadable_number_is_none(raw: str | None, region: str | None) -> None:
    assert normalise_phone(raw, region) is None
