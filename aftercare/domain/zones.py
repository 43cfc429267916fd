"""A customer's time zone from what a store knows: the address first, then the phone number.

Quiet hours are computed in the customer's own zone, so a wrong zone texts people at 06:00. Orders carry no
IANA zone, only an address and a phone, so the zone is derived once, at ingest, in this order:

1. the state or province, and within a state that spans zones the postal code (the tables below);
2. the phone number, by phonenumbers' own area-code time-zone data (`time_zones_for_number`);
3. the country: its one zone, or for a country that spans zones its main zones.

Where a region spans zones and nothing decides between them, the latest (westernmost) zone is used: its
08:00 comes last, so no one in the region is texted before 08:00 their own time. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones


@dataclass(frozen=True)
class Region:
    """The zones of one state or province. `by_postal`: (postal-code prefix, zone) for the parts that differ;
    `main`: the zone of any other postal code. Without a postal code a one-zone region has its zone and a
    region that spans zones the westernmost of `zones`."""

    zones: tuple[str, ...]
    by_postal: tuple[tuple[str, str], ...] = ()
    main: str | None = None


def _one(zone: str) -> Region:
    return Region((zone,))


def _split(main: str, *exceptions: tuple[str, str]) -> Region:
    zones = tuple(dict.fromkeys((main, *(z for _, z in exceptions))))
    return Region(zones, tuple(sorted(exceptions, key=lambda e: -len(e[0]))), main)


def _table(groups: dict[str, str]) -> dict[str, Region]:
    return {code: _one(zone) for zone, codes in groups.items() for code in codes.split()}


# United States (USPS codes). Sources: the US DOT time zone boundaries (49 CFR part 71) and tzdb's zone.tab.
US = _table({
    "America/New_York": "CT DE DC GA ME MD MA NH NJ NY NC OH PA RI SC VT VA WV",
    "America/Chicago": "AL AR IL IA LA MN MS MO OK WI",
    "America/Denver": "CO MT NM UT WY",
    "America/Phoenix": "AZ",
    "America/Los_Angeles": "CA NV WA",
    "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI",
}) | {
    # States that span zones: the postal prefixes of the parts that differ (ZIP3 areas).
    "FL": _split("America/New_York", ("324", "America/Chicago"), ("325", "America/Chicago")),  # the Panhandle
    "TN": _split("America/Chicago", ("373", "America/New_York"), ("374", "America/New_York"),
                 ("376", "America/New_York"), ("377", "America/New_York"), ("378", "America/New_York"),
                 ("379", "America/New_York")),  # East Tennessee
    "KY": _split("America/New_York", ("420", "America/Chicago"), ("421", "America/Chicago"),
                 ("422", "America/Chicago"), ("423", "America/Chicago"), ("424", "America/Chicago")),
    "IN": _split("America/Indiana/Indianapolis", ("463", "America/Chicago"), ("464", "America/Chicago"),
                 ("476", "America/Chicago"), ("477", "America/Chicago")),  # Gary and Evansville areas
    "MI": _split("America/Detroit", ("498", "America/Menominee"), ("499", "America/Menominee")),
    "TX": _split("America/Chicago", ("798", "America/Denver"), ("799", "America/Denver")),  # El Paso
    "KS": _split("America/Chicago", ("677", "America/Denver")),
    "NE": _split("America/Chicago", ("693", "America/Denver")),  # the Panhandle
    "ND": _split("America/Chicago", ("586", "America/Denver")),  # the south-west
    "SD": _split("America/Chicago", ("577", "America/Denver")),  # West River
    "ID": _split("America/Boise", ("835", "America/Los_Angeles"), ("838", "America/Los_Angeles")),  # the north
    "OR": _split("America/Los_Angeles", ("979", "America/Boise")),  # Malheur County
}

# Canada (Canada Post province codes; the first letters of postal codes).
CA = _table({
    "America/Halifax": "NS NB PE",
    "America/Winnipeg": "MB",
    "America/Whitehorse": "YT",
}) | {
    "ON": _split("America/Toronto", ("P9N", "America/Winnipeg"), ("P0V", "America/Winnipeg"),
                 ("P0X", "America/Winnipeg"), ("P9A", "America/Winnipeg")),  # Kenora and Rainy River
    "QC": _split("America/Toronto", ("G4T", "America/Halifax")),  # Magdalen Islands
    "NL": _split("America/St_Johns", ("A0P", "America/Goose_Bay"), ("A2V", "America/Goose_Bay"),
                 ("A0R", "America/Goose_Bay")),  # Labrador
    "SK": _split("America/Regina", ("S9V", "America/Edmonton")),  # Lloydminster
    "AB": _one("America/Edmonton"),
    "BC": _split("America/Vancouver", ("V1C", "America/Edmonton"), ("V0B", "America/Edmonton"),
                 ("V1G", "America/Dawson_Creek"), ("V1J", "America/Dawson_Creek")),  # the Kootenays, Peace
    "NT": _one("America/Edmonton"),
    "NU": _split("America/Iqaluit", ("X0B", "America/Cambridge_Bay"), ("X0C", "America/Rankin_Inlet")),
}

# Brazil (state codes). Source: Decree 11.212/2022 context and tzdb's zone.tab (one zone per state group).
BR = _table({
    "America/Sao_Paulo": "SP RJ MG ES PR SC RS GO DF",
    "America/Bahia": "BA",
    "America/Fortaleza": "CE PI MA RN PB",
    "America/Maceio": "AL SE",
    "America/Belem": "PA AP",
    "America/Araguaina": "TO",
    "America/Cuiaba": "MT",
    "America/Campo_Grande": "MS",
    "America/Porto_Velho": "RO",
    "America/Boa_Vista": "RR",
    "America/Rio_Branco": "AC",
}) | {
    "PE": _split("America/Recife", ("53990", "America/Noronha")),  # Fernando de Noronha
    # Amazonas: Manaus (UTC-4) and the west (UTC-5, tzdb America/Eirunepe). Manaus's CEPs are 690-692;
    # any other CEP of the state is not decided here and gets the western zone.
    "AM": Region(("America/Manaus", "America/Eirunepe"),
                 (("690", "America/Manaus"), ("691", "America/Manaus"), ("692", "America/Manaus"))),
}

# Mexico (Shopify's and ISO 3166-2 codes). Since 2022 most of the country keeps UTC-6 all year.
MX = _table({
    "America/Cancun": "ROO QROO",
    "America/Merida": "YUC CAM CAMP",
    "America/Monterrey": "NL NLE COA COAH DUR DGO",
    "America/Matamoros": "TAM TAMPS",
    "America/Mazatlan": "SIN BCS NAY",
    "America/Hermosillo": "SON",
    "America/Tijuana": "BC BCN",
    "America/Mexico_City": "AGS AGU CHIS CHP COL DF CMX CDMX GTO GUA GRO HGO HID JAL MEX MICH MIC MOR OAX PUE "
                           "QRO QUE SLP TAB TLAX TLA VER ZAC",
}) | {
    # Chihuahua: the border (Ciudad Juárez, CP 32) follows US daylight saving time.
    code: _split("America/Chihuahua", ("32", "America/Ciudad_Juarez")) for code in ("CHH", "CHIH")
}

# Australia (state codes).
AU = _table({
    "Australia/Melbourne": "VIC",
    "Australia/Brisbane": "QLD",
    "Australia/Adelaide": "SA",
    "Australia/Perth": "WA",
    "Australia/Hobart": "TAS",
    "Australia/Darwin": "NT",
    "Australia/Sydney": "ACT",
}) | {
    "NSW": _split("Australia/Sydney", ("2880", "Australia/Broken_Hill"), ("2898", "Australia/Lord_Howe")),
}

# Russia (ISO 3166-2:RU subdivision codes), by federal time zone.
RU = _table({
    "Europe/Kaliningrad": "KGD",
    "Europe/Moscow": "MOW SPE MOS LEN TA NIZ KDA ROS VOR YAR TUL KLU TVE VLA RYA IVA KOS KRS BEL LIP ORL TAM "
                     "BRY SMO PNZ MO CU KR KO ARK VLG NEN MUR NGR PSK KC KB SE IN CE DA AD KL STA",
    "Europe/Samara": "SAM UD",
    "Europe/Saratov": "SAR",
    "Europe/Ulyanovsk": "ULY",
    "Europe/Astrakhan": "AST",
    "Europe/Volgograd": "VGG",
    "Europe/Kirov": "KIR",
    "Asia/Yekaterinburg": "SVE CHE BA PER TYU KHM YAN ORE KGN",
    "Asia/Omsk": "OMS",
    "Asia/Novosibirsk": "NVS",
    "Asia/Tomsk": "TOM",
    "Asia/Novokuznetsk": "KEM",
    "Asia/Barnaul": "ALT AL",
    "Asia/Krasnoyarsk": "KYA TY KK",
    "Asia/Irkutsk": "IRK BU",
    "Asia/Chita": "ZAB",
    "Asia/Yakutsk": "AMU",
    "Asia/Vladivostok": "PRI KHA YEV",
    "Asia/Magadan": "MAG",
    "Asia/Sakhalin": "SAK",
    "Asia/Kamchatka": "KAM",
    "Asia/Anadyr": "CHU",
}) | {
    "SA": Region(("Asia/Yakutsk", "Asia/Vladivostok", "Asia/Srednekolymsk")),  # Sakha spans three
}

REGIONS: dict[str, dict[str, Region]] = {"US": US, "CA": CA, "BR": BR, "MX": MX, "AU": AU, "RU": RU}

# A country's zone when neither the address's region nor the phone decides: one zone, or for a country that
# spans zones its main (populated, mainland) zones, of which the westernmost is taken.
COUNTRIES: dict[str, tuple[str, ...]] = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "CA": ("America/Halifax", "America/Toronto", "America/Winnipeg", "America/Edmonton", "America/Vancouver"),
    "BR": ("America/Sao_Paulo", "America/Manaus", "America/Rio_Branco"),
    "MX": ("America/Mexico_City", "America/Hermosillo", "America/Tijuana"),
    "AU": ("Australia/Sydney", "Australia/Adelaide", "Australia/Perth"),
    "RU": ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok"),
    "KR": ("Asia/Seoul",),
    "SA": ("Asia/Riyadh",),
    "AE": ("Asia/Dubai",),
    "EG": ("Africa/Cairo",),
    "GB": ("Europe/London",),
    "IE": ("Europe/Dublin",),
    "FR": ("Europe/Paris",),
    "DE": ("Europe/Berlin",),
    "ES": ("Europe/Madrid",),
    "IT": ("Europe/Rome",),
    "NL": ("Europe/Amsterdam",),
    "PT": ("Europe/Lisbon",),
    "JP": ("Asia/Tokyo",),
    "NZ": ("Pacific/Auckland",),
    "IN": ("Asia/Kolkata",),
}


@dataclass(frozen=True)
class ZoneGuess:
    zone: str
    source: str  # "region", "postal_code", "phone", "country" or "default": how it was decided


@lru_cache(maxsize=1024)
def is_zone(name: str | None) -> bool:
    """An IANA zone this machine knows (`Mars/Olympus`, '' and '../etc' are not)."""
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


_WINTER, _SUMMER = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)


@lru_cache(maxsize=512)
def _west_key(zone: str) -> timedelta:
    tz = ZoneInfo(zone)
    return sum((moment.astimezone(tz).utcoffset() or timedelta(0) for moment in (_WINTER, _SUMMER)), timedelta(0))


def westernmost(zones: Iterable[str]) -> str:
    """The latest of several zones (smallest UTC offset over the year): its 08:00 comes last."""
    known = [z for z in zones if is_zone(z)]
    if not known:
        raise ValueError("no known zone given")
    return min(known, key=lambda z: (_west_key(z), z))


def zone_from_address(country: str | None, region: str | None, postal_code: str | None) -> ZoneGuess | None:
    """The zone of a state or province, decided by the postal code where the state spans zones."""
    table = REGIONS.get((country or "").strip().upper())
    entry = table.get((region or "").strip().upper()) if table else None
    if entry is None:
        return None
    postal = "".join((postal_code or "").split()).upper()
    if postal:
        for prefix, zone in entry.by_postal:
            if postal.startswith(prefix):
                return ZoneGuess(zone, "postal_code")
        if entry.main is not None:
            return ZoneGuess(entry.main, "postal_code")
    if len(entry.zones) == 1:
        return ZoneGuess(entry.zones[0], "region")
    return ZoneGuess(westernmost(entry.zones), "region")


def zone_from_phone(phone: str | None, country: str | None = None) -> ZoneGuess | None:
    """The zone of a phone number's area code (phonenumbers' data); the westernmost when it lists several."""
    if not phone or not phone.strip():
        return None
    try:
        number = phonenumbers.parse(phone.strip(), (country or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    zones = [z for z in phone_zones.time_zones_for_number(number) if is_zone(z)]
    main = COUNTRIES.get(phonenumbers.region_code_for_number(number) or "")
    if len(zones) > 1 and main:
        # A mobile number lists every zone of its country code (+7 lists Bucharest and Almaty): keep the
        # ones inside the country's own span, so an unplaced number is not given a neighbour's zone.
        low, high = min(map(_west_key, main)), max(map(_west_key, main))
        zones = [z for z in zones if low <= _west_key(z) <= high]
    return ZoneGuess(westernmost(zones), "phone") if zones else None


def zone_from_country(country: str | None) -> ZoneGuess | None:
    zones = COUNTRIES.get((country or "").strip().upper())
    return ZoneGuess(westernmost(zones), "country") if zones else None


def resolve_zone(*, country: str | None = None, region: str | None = None, postal_code: str | None = None,
                 phone: str | None = None, default: str = "UTC") -> ZoneGuess:
    """The customer's zone: the address's region (and postal code), then the phone, then the country."""
    return (zone_from_address(country, region, postal_code) or zone_from_phone(phone, country)
            or zone_from_country(country) or ZoneGuess(default, "default"))
