"""Small, dependency-free interval estimates for comparing two groups.

Why Newcombe/Wilson and not Wald: holdout groups are small (5% by default) and some outcomes are rare
(refunds) or absent in one group (nobody held out of the CSAT survey can answer it). The Wald interval
collapses to zero width at p = 0 and under-covers for small n; Wilson's score interval per group, combined
with Newcombe's hybrid method (his method 10, 1998), keeps near-nominal coverage there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(events: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for one proportion; (0, 1) when there are no observations."""
    if n <= 0:
        return Interval(0.0, 1.0)
    p = events / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Interval:
    """95% interval for p1 - p2 (Newcombe's hybrid score interval from two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    w1, w2 = wilson(k1, n1, z), wilson(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    high = d + math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


def welch_mean_difference(a: list[float], b: list[float], z: float = Z95) -> Interval:
    """Normal-approximation interval for mean(a) - mean(b) with unequal variances (needs >= 2 each)."""
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    half = z * math.sqrt(va / len(a) + vb / len(b))
    return Interval(ma - mb - half, ma - mb + half)


def smallest_expected_count(k1: int, n1: int, k2: int, n2: int) -> float:
    """The smallest expected count of events or non-events in either group if both shared one rate.

    The textbook condition for a normal approximation of a two-proportion comparison is that every one of
    these four expected counts is at least 5.
    """
    pooled = (k1 + k2) / (n1 + n2)
    return min(n1 * pooled, n2 * pooled, n1 * (1 - pooled), n2 * (1 - pooled))
