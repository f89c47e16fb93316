"""95% intervals for the benchmark's rates, differences, horizons and slopes (pure numpy).

Rates get Wilson score intervals, differences of two rates Newcombe's hybrid score interval, and
everything else (horizons, decay slopes, medians) a percentile bootstrap over seeds with a fixed
numpy seed, so the same tables always give the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
N_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def wilson_interval(successes, n, z: float = Z95):
    """Wilson score interval for successes / n (Wilson 1927); NaN where n = 0. Broadcasts."""
    k, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0, 1))  # exact ends at 0/n and n/n
    high = np.where(k == n, 1.0, np.clip(centre + half, 0, 1))
    low, high = np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
    return (float(low), float(high)) if low.ndim == 0 else (low, high)


def mover_interval(
    est1: float, ci1: tuple[float, float], est2: float, ci2: tuple[float, float]
) -> tuple[float, float]:
    """Interval for est1 - est2 from the two estimates' independent intervals (Zou & Donner
    2008's MOVER; with Wilson intervals it is Newcombe's hybrid score interval)."""
    (l1, u1), (l2, u2) = ci1, ci2
    d = est1 - est2
    return d - math.hypot(est1 - l1, u2 - est2), d + math.hypot(u1 - est1, est2 - l2)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Hybrid score interval for k1/n1 - k2/n2 (Newcombe 1998, method 10); NaN if n1 or n2 = 0."""
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    return mover_interval(k1 / n1, wilson_interval(k1, n1, z), k2 / n2, wilson_interval(k2, n2, z))


def resample_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED):
    """(n_resamples, n) indices drawing n units (seeds) with replacement, from a fixed seed."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def percentile_interval(samples, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of bootstrap samples; its ends are values the samples took."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(samples), [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def bootstrap_interval(
    values,
    statistic: Callable = np.mean,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(values), resampling the values (one per seed)
    with replacement; `statistic` takes an array and `axis=-1`. NaN for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    samples = statistic(values[resample_indices(len(values), n_resamples, seed)], axis=-1)
    return percentile_interval(samples, level)
