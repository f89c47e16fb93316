"""The one number formatter of tables, claims and the report: every rate, estimate and interval
printed the same way, a missing value as an en dash (never 'nan')."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import stats


def fmt(value, digits: int = 3, spec: str | None = None) -> str:
    """value as text: missing as '–', infinities as '∞'/'−∞', booleans as yes/no; with a format
    `spec` (e.g. '+.4f') formatted by it, else integers (and integral floats below 1e6) as
    integers and other floats to `digits` significant digits."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer) and spec is None:
        return str(int(value))
    if isinstance(value, float | np.floating | int | np.integer):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if spec is not None:
            return format(value, spec)
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def pct(value: float) -> str:
    """A fraction as a whole percentage: 0.6 -> '60%'."""
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def interval(effect: float, low: float, high: float, spec: str = ".3g") -> str:
    """'0.25 [0.1, 0.4]': an estimate and its 95% interval, each in format spec."""
    return f"{fmt(effect, spec=spec)} [{fmt(low, spec=spec)}, {fmt(high, spec=spec)}]"


def ci(estimate, low, high, n, show=fmt, unit: str = "") -> str:
    """'0.25 [0.1, 0.4], n = 5': an estimate with its 95% interval (and unit) and its n."""
    return f"{show(estimate)} [{show(low)}, {show(high)}]{unit}, n = {fmt(n)}"


def rate(k: int, n: int) -> str:
    """'60% [23%, 88%], n = 5': k of n as a rate with its Wilson interval."""
    if n == 0:
        return "–"
    low, high = stats.wilson_interval(k, n)
    return ci(k / n, low, high, n, pct)


def values(column: pd.Series) -> str:
    """The distinct values of a column as a set: '{0.5, 0.9, 1}'."""
    return "{" + ", ".join(f"{v:g}" for v in sorted(column.unique())) + "}"


def spread(items) -> str:
    """The distinct values, in order: 'float32' or 'float32, float64'."""
    return ", ".join(fmt(v) for v in sorted(set(items)))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 source', '2 sources': n and the noun, in the plural unless n is 1."""
    return f"{fmt(n)} {noun if n == 1 else plural or noun + 's'}"
