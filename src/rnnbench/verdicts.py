"""The verdicts: how a measured 95% interval decides a claim or a replication target.

Two documented rules, one per kind of statement:

- a claim states a region its effect lies in (`Region`, an open interval such as "> 0"): it is
  *reproduced* when the interval lies strictly inside the region, *not reproduced* when strictly
  outside it, and *inconclusive* otherwise (an interval touching or straddling an edge, a tie,
  no measurement);
- a replication target states a published value with a tolerance band: ours *agrees* when our
  interval lies inside the band, *disagrees* when the two do not overlap, and is *inconclusive*
  otherwise (they overlap with our interval reaching outside; or no interval, e.g. one seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
CLAIM_VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
AGREES, DISAGREES, NOT_RUN = "agrees", "disagrees", "not run"
TARGET_VERDICTS = (AGREES, DISAGREES, INCONCLUSIVE, NOT_RUN)


@dataclass(frozen=True)
class Region:
    """The values a claimed effect may take: the open interval (low, high)."""

    low: float = -math.inf
    high: float = math.inf

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"> {self.low:g}"
        if math.isinf(self.low):
            return f"< {self.high:g}"
        return f"in ({self.low:g}, {self.high:g})"


def above(x: float) -> Region:
    return Region(low=x)


def below(x: float) -> Region:
    return Region(high=x)


def between(low: float, high: float) -> Region:
    return Region(low, high)


def claim_verdict(low: float, high: float, claimed: Region) -> str:
    """Reproduced iff [low, high] lies strictly inside the claimed region, not reproduced iff it
    lies strictly outside it, else (touching or straddling its edge, ties, NaN) inconclusive."""
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    above = claimed.low < low or low == claimed.low == -math.inf  # an open end inside an open
    below = high < claimed.high or high == claimed.high == math.inf  # region (censored values)
    if above and below:
        return REPRODUCED
    if high < claimed.low or low > claimed.high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def band_verdict(low: float, high: float, band: tuple[float, float]) -> str:
    """Agrees: [low, high] inside the band; disagrees: no overlap; else inconclusive (they
    overlap with the interval reaching outside the band, or a NaN interval)."""
    if not (math.isfinite(low) and high == high):
        return INCONCLUSIVE
    if high < band[0] or low > band[1]:
        return DISAGREES
    if band[0] <= low and high <= band[1]:
        return AGREES
    return INCONCLUSIVE
