"""What every measure shares: the sample it reads (`Sample`), the result it returns (`Measured`),
the entry of the registry (`Measure`), and the primitives: Wilson rates, bootstraps, the envelope
over settings, MOVER slope differences, a run's final loss and accuracy (a diverged run's the
worst)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import stats
from ..numbers import interval
from ..selection import Missing


@dataclass(frozen=True)
class Measured:
    n: int  # seeds (bootstraps) or runs (rates) behind the interval
    effect: float  # the point estimate
    low: float  # its 95% interval
    high: float
    text: str  # the result in words, with its interval and n


@dataclass(frozen=True)
class Sample:
    """What a measure reads: populations a (and b) of one table, and how they combine."""

    a: pd.DataFrame
    b: pd.DataFrame | None = None
    pair_on: tuple[str, ...] = ()
    reduce: str = "min"  # several settings' effects: the "min" or "max" decides (envelope)
    threshold: float = math.nan  # a replication target's threshold
    labels: tuple[str, str] = ("a", "b")  # the populations' names in the text
    by: tuple[str, ...] = ()  # measured group by group (e.g. per nonlinearity), then reduced


@dataclass(frozen=True)
class Measure:
    name: str
    text: str  # what it measures, in words
    interval: str  # how its 95% interval is computed
    compute: Callable[[Sample], Measured]
    accuracy: bool = False  # reads final_metric as a fraction correct (Task.metric_is_accuracy)
    tags: tuple[str, ...] = field(default=())  # "target": a replication target may name it


def envelope(effect, low, high, reduce: str) -> tuple[float, float, float]:
    """The smallest (or largest) of several settings' effects, with the envelope of their
    intervals (NaN if any interval is NaN)."""
    pick = np.min if reduce == "min" else np.max
    return tuple(float(pick(np.asarray(v, dtype=float))) for v in (effect, low, high))


def slope_columns(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = ["slope_log10_per_step", "slope_low", "slope_high"]
    return tuple(rows[c].to_numpy(dtype=float) for c in cols)


def mover_difference(a: pd.DataFrame, b: pd.DataFrame):
    """Row-wise slope(a) - slope(b) with its MOVER interval."""
    (x, xl, xh), (y, yl, yh) = slope_columns(a), slope_columns(b)
    pairs = [
        stats.mover_interval(*p)
        for p in zip(x, zip(xl, xh, strict=True), y, zip(yl, yh, strict=True), strict=True)
    ]
    low, high = np.array(pairs).reshape(-1, 2).T
    return x - y, low, high


def paired_rows(s: Sample) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of a and b that share the pair_on columns, aligned."""
    both = s.a.merge(s.b, on=list(s.pair_on), suffixes=("", "_b"))
    if both.empty:
        raise Missing("no pair of settings to compare in this grid")
    cols = ["slope_log10_per_step", "slope_low", "slope_high", "n_seeds"]
    on = list(s.pair_on)
    return both[on + cols], both[on + [f"{c}_b" for c in cols]].set_axis(on + cols, axis=1)


def min_seeds(*frames: pd.DataFrame) -> int:
    return int(min(f["n_seeds"].min() for f in frames))


def wilson_rate(hits: np.ndarray) -> tuple[int, int, float, float, float]:
    k, n = int(hits.sum()), len(hits)
    low, high = stats.wilson_interval(k, n)
    return k, n, (k / n if n else math.nan), float(low), float(high)


def bootstrap(v: np.ndarray, statistic) -> tuple[float, float, float]:
    low, high = stats.bootstrap_interval(v, statistic)
    return float(statistic(v)), low, high


def final_losses(runs: pd.DataFrame) -> np.ndarray:
    """Final test losses, a diverged (or never trained) run's as +inf: worse than any."""
    loss = runs["final_loss"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(loss) | (runs["status"] == "diverged").to_numpy(), np.inf, loss)


def final_accuracies(runs: pd.DataFrame) -> np.ndarray:
    """Final test accuracies, a diverged seed's as 0: worse than any."""
    acc = runs["final_metric"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(acc) | (runs["status"] == "diverged").to_numpy(), 0.0, acc)


def has_status(rows: pd.DataFrame, status: str) -> np.ndarray:
    return (rows["status"] == status).to_numpy()


def scalar(name: str, estimate: tuple[float, float, float], n: int, unit: str = "") -> Measured:
    effect, low, high = estimate
    return Measured(n, effect, low, high, f"{name} = {interval(effect, low, high)}{unit}, n = {n}")
