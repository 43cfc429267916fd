"""The CDNOW transactions shipped inside the `lifetimes` wheel.

The file is read with `importlib.resources` from the `lifetimes` package itself: importing
`lifetimes.datasets` would import `pkg_resources`, which setuptools >= 82 no longer ships.

CDNOW_master.txt is the full CDNOW data set (Fader & Hardie): 23,570 customers who first bought in the
first quarter of 1997, followed to the end of June 1998, one line per order:
``customer_id  yyyymmdd  number_of_cds  dollar_value``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from importlib.resources import files
from typing import NamedTuple

MASTER_FILE = "CDNOW_master.txt"


class Transaction(NamedTuple):
    customer_id: str
    day: date


def _parse_day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


@lru_cache(maxsize=1)
def load_transactions() -> tuple[Transaction, ...]:
    """Every CDNOW order as (customer_id, day), in file order. Several orders on one day stay separate."""
    resource = files("lifetimes") / "datasets" / MASTER_FILE
    out: list[Transaction] = []
    with resource.open("r", encoding="ascii") as handle:
        header = handle.readline().split()
        if header[:2] != ["customer_id", "date"]:
            raise ValueError(f"unexpected header in {MASTER_FILE}: {header}")
        for line in handle:
            fields = line.split()
            if not fields:
                continue
            out.append(Transaction(fields[0], _parse_day(fields[1])))
    return tuple(out)


def purchase_days(transactions: Iterable[Transaction]) -> dict[str, tuple[date, ...]]:
    """Each customer's distinct purchase days, sorted. Same-day orders count as one purchase day."""
    days: dict[str, set[date]] = defaultdict(set)
    for customer_id, day in transactions:
        days[customer_id].add(day)
    return {customer_id: tuple(sorted(d)) for customer_id, d in days.items()}
