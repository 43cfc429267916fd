"""The customer's time zone from the address, then the phone, then the country: a table of cases."""

from __future__ import annotations

import pytest

from aftercare.domain import zones
from aftercare.domain.decisions import Send, Skip, decide
from aftercare.domain.vocabulary import Channel, Purpose, Reason
from aftercare.domain.zones import ZoneGuess, is_zone, resolve_zone, westernmost
from aftercare.journeys import default as j
from tests.builders import NOON_NY, POLICY, a_state, due


@pytest.mark.parametrize(
    ("country", "region", "postal", "phone", "expected"),
    [
        # Brazil: every state has its zone; Sao Paulo's is not everyone's.
        ("BR", "SP", "01310-100", None, ZoneGuess("America/Sao_Paulo", "region")),
        ("BR", "AM", "69005-010", None, ZoneGuess("America/Manaus", "postal_code")),  # Manaus
        ("BR", "AM", None, None, ZoneGuess("America/Eirunepe", "region")),  # spans two: the western one
        ("BR", "MT", None, None, ZoneGuess("America/Cuiaba", "region")),
        ("BR", "MS", None, None, ZoneGuess("America/Campo_Grande", "region")),
        ("BR", "RO", None, None, ZoneGuess("America/Porto_Velho", "region")),
        ("BR", "RR", None, None, ZoneGuess("America/Boa_Vista", "region")),
        ("BR", "AC", None, None, ZoneGuess("America/Rio_Branco", "region")),
        ("BR", "PE", "53990-000", None, ZoneGuess("America/Noronha", "postal_code")),
        ("BR", "PE", "50010-000", None, ZoneGuess("America/Recife", "postal_code")),
        # US states that span zones: the postal code decides; without it, the western zone.
        ("US", "KY", "40202", None, ZoneGuess("America/New_York", "postal_code")),  # Louisville
        ("US", "KY", "42001", None, ZoneGuess("America/Chicago", "postal_code")),  # Paducah
        ("US", "KY", None, None, ZoneGuess("America/Chicago", "region")),
        ("US", "FL", "32501", None, ZoneGuess("America/Chicago", "postal_code")),  # Pensacola
        ("US", "FL", "33101", None, ZoneGuess("America/New_York", "postal_code")),  # Miami
        ("US", "TX", "79901", None, ZoneGuess("America/Denver", "postal_code")),  # El Paso
        ("US", "TX", "75201", None, ZoneGuess("America/Chicago", "postal_code")),  # Dallas
        ("US", "TN", "37902", None, ZoneGuess("America/New_York", "postal_code")),  # Knoxville
        ("US", "ID", "83814", None, ZoneGuess("America/Los_Angeles", "postal_code")),  # Coeur d'Alene
        ("US", "CA", "94105", None, ZoneGuess("America/Los_Angeles", "region")),
        ("US", "AZ", None, None, ZoneGuess("America/Phoenix", "region")),
        # Canada, Mexico, Australia, Russia.
        ("CA", "ON", "M5V 2T6", None, ZoneGuess("America/Toronto", "postal_code")),
        ("CA", "ON", "P9N 1A1", None, ZoneGuess("America/Winnipeg", "postal_code")),  # Kenora
        ("CA", "BC", "V6B 1A1", None, ZoneGuess("America/Vancouver", "postal_code")),
        ("CA", "SK", "S4P 3Y2", None, ZoneGuess("America/Regina", "postal_code")),  # Regina
        ("CA", "SK", None, None, ZoneGuess("America/Edmonton", "region")),  # Lloydminster keeps Alberta time
        ("MX", "ROO", None, None, ZoneGuess("America/Cancun", "region")),
        ("MX", "SON", None, None, ZoneGuess("America/Hermosillo", "region")),
        ("MX", "JAL", None, None, ZoneGuess("America/Mexico_City", "region")),
        ("MX", "CHH", "32000", None, ZoneGuess("America/Ciudad_Juarez", "postal_code")),
        ("AU", "WA", None, None, ZoneGuess("Australia/Perth", "region")),
        ("AU", "NSW", "2880", None, ZoneGuess("Australia/Broken_Hill", "postal_code")),
        ("AU", "NSW", "2000", None, ZoneGuess("Australia/Sydney", "postal_code")),
        ("RU", "NVS", None, None, ZoneGuess("Asia/Novosibirsk", "region")),
        ("RU", "KGD", None, None, ZoneGuess("Europe/Kaliningrad", "region")),
        # No usable address: the phone's area code.
        ("BR", None, None, "+55 68 99999-9999", ZoneGuess("America/Rio_Branco", "phone")),
        ("BR", None, None, "+55 11 98765-4321", ZoneGuess("America/Sao_Paulo", "phone")),
        ("US", "ZZ", None, "+1 415 555 0100", ZoneGuess("America/Los_Angeles", "phone")),
        (None, None, None, "+82 10 1234 5678", ZoneGuess("Asia/Seoul", "phone")),
        # A Russian mobile lists every zone of +7: kept inside Russia's own span, the westernmost.
        ("RU", None, None, "+7 916 123-45-67", ZoneGuess("Europe/Moscow", "phone")),
        # Neither: the country's zone, or the westernmost of its main zones.
        ("KR", None, None, None, ZoneGuess("Asia/Seoul", "country")),
        ("BR", None, None, None, ZoneGuess("America/Rio_Branco", "country")),
        ("US", None, None, "not a phone", ZoneGuess("America/Los_Angeles", "country")),
        ("XX", None, None, None, ZoneGuess("UTC", "default")),
    ],
)
def test_the_zone_comes_from_the_region_then_the_postal_code_then_the_phone_then_the_country(
    country, region, postal, phone, expected
):
    assert resolve_zone(country=country, region=region, postal_code=postal, phone=phone) == expected


def test_every_zone_in_the_tables_is_a_zone_this_machine_knows():
    for table in zones.REGIONS.values():
        for entry in table.values():
            assert all(is_zone(z) for z in entry.zones), entry
            assert all(is_zone(z) for _, z in entry.by_postal), entry
    assert all(is_zone(z) for group in zones.COUNTRIES.values() for z in group)


def test_the_tables_cover_every_state_of_the_multi_zone_countries():
    assert len(zones.US) == 51  # 50 states and DC
    assert len(zones.BR) == 27
    assert len(zones.CA) == 13
    assert len(zones.AU) == 8
    assert len({z for r in zones.BR.values() for z in r.zones}) > 10  # not one zone for all of Brazil


def test_westernmost_is_the_zone_whose_morning_comes_last():
    assert westernmost(["America/Sao_Paulo", "America/Manaus", "America/Rio_Branco"]) == "America/Rio_Branco"
    assert westernmost(["Asia/Seoul", "Mars/Olympus", "Europe/London"]) == "Europe/London"
    with pytest.raises(ValueError):
        westernmost(["Mars/Olympus"])


def test_a_customer_in_acre_is_not_texted_before_eight_their_time():
    # 11:00 UTC is 08:00 in Sao Paulo but 06:00 in Rio Branco.
    from datetime import UTC, datetime
    at = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    sp = decide(due(j.CSAT, at), a_state(timezone="America/Sao_Paulo"), at, POLICY)
    acre = decide(due(j.CSAT, at), a_state(timezone=resolve_zone(country="BR", region="AC").zone), at, POLICY)
    assert isinstance(sp, Send)
    assert not isinstance(acre, Send) and acre.reason is Reason.QUIET_HOURS
    assert acre.until == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc"])
def test_an_invalid_zone_is_a_recorded_skip_of_the_timed_sms_not_a_guess(zone):
    sms_only = frozenset({(Channel.SMS, Purpose.MARKETING)})
    assert decide(due(j.CSAT), a_state(timezone=zone, consents=sms_only), NOON_NY, POLICY) == Skip(
        Reason.INVALID_TIMEZONE, Channel.SMS)
    # With email consent too, the CSAT goes by email and the SMS's skip is on record.
    decision = decide(due(j.CSAT), a_state(timezone=zone), NOON_NY, POLICY)
    assert isinstance(decision, Send) and decision.channels == (Channel.EMAIL,)
    assert decision.skipped_channels == ((Channel.SMS, Reason.INVALID_TIMEZONE),)
