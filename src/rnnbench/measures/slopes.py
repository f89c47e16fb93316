"""Measures on decay slopes (the decay_rates table): a slope, its deviation from log10(rho), the
decades gained over T, and differences of slopes with MOVER intervals."""

from __future__ import annotations

import numpy as np

from ..numbers import fmt, interval, values
from ..selection import Missing
from .base import (
    Measured,
    Sample,
    envelope,
    min_seeds,
    mover_difference,
    paired_rows,
    slope_columns,
)


def log_rho_deviation(s: Sample) -> Measured:
    """Largest |slope - log10(rho)| over the rows, with the envelope of the intervals."""
    log_rho = np.log10(s.a["rho"].to_numpy(dtype=float))
    slope, lo, hi = slope_columns(s.a)
    lo, hi = lo - log_rho, hi - log_rho
    nearest = np.where(lo > 0, lo, np.where(hi < 0, -hi, 0.0))  # smallest |dev| in the interval
    nearest[np.isnan(lo) | np.isnan(hi)] = np.nan
    dev = np.abs(slope - log_rho)
    effect, low, high = envelope(dev, nearest, np.maximum(np.abs(lo), np.abs(hi)), "max")
    n = min_seeds(s.a)
    text = (
        f"largest |slope - log10(rho)| = {interval(effect, low, high, '.1e')} decades/step, "
        f"n = {n} seeds per rho (rho in {values(s.a['rho'])})"
    )
    return Measured(n, effect, low, high, text)


def decades(s: Sample) -> Measured:
    """Decades the gradient gains (> 0) or loses over the sequence, slope x T; the smallest or
    largest over the settings."""
    d = s.a["max_distance"].to_numpy(dtype=float)
    effect, low, high = envelope(*(v * d for v in slope_columns(s.a)), s.reduce)
    n = min_seeds(s.a)
    word = "smallest" if s.reduce == "min" else "largest"
    text = (
        f"{word} change {interval(effect, low, high, '+.1f')} decades over {int(d.max())} "
        f"steps, n = {n} seeds per setting"
    )
    return Measured(n, effect, low, high, text)


def slope(s: Sample) -> Measured:
    """The decay slope (decades per step): the smallest or largest over the settings."""
    effect, low, high = envelope(*slope_columns(s.a), s.reduce)
    n = min_seeds(s.a)
    over = effect * s.a["max_distance"].max()
    text = (
        f"slope {interval(effect, low, high, '+.4f')} decades/step, n = {n} seeds "
        f"({fmt(over, spec='+.1f')} decades over the sequence)"
    )
    return Measured(n, effect, low, high, text)


def slope_difference(s: Sample) -> Measured:
    """slope(a) - slope(b) for each pair of settings (MOVER); the smallest or largest."""
    a, b = paired_rows(s)
    diff, lows, highs = mover_difference(a, b)
    effect, low, high = envelope(diff, lows, highs, s.reduce)
    n = min_seeds(a, b)
    first, second = s.labels
    text = (
        f"{first} minus {second} ({len(diff)} pair{'s' * (len(diff) > 1)}; steeper for "
        f"{first} in {int((diff < 0).sum())}): {interval(effect, low, high, '+.4f')} "
        f"decades/step, n = {n} seeds each"
    )
    return Measured(n, effect, low, high, text)


def best_slope_difference(s: Sample) -> Measured:
    """The largest slope of a minus the largest slope of b (MOVER)."""
    a, b = s.a.nlargest(1, "slope_log10_per_step"), s.b.nlargest(1, "slope_log10_per_step")
    if a.empty or b.empty:
        raise Missing("no finite slope to compare")
    (effect,), (low,), (high,) = mover_difference(a, b)
    n = min_seeds(a, b)
    first, second = s.labels
    text = (
        f"{first} {fmt(a['slope_log10_per_step'].iloc[0], spec='+.4f')} vs {second} "
        f"{fmt(b['slope_log10_per_step'].iloc[0], spec='+.4f')} decades/step; difference "
        f"{interval(effect, low, high, '+.4f')}, n = {n} seeds each"
    )
    return Measured(n, effect, low, high, text)
