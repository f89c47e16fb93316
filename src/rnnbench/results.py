"""Per-group statistics that a figure and a report table of one experiment both show, computed here
once from the pipeline's tables and read by both: the divergence rate per clip setting and T (F2
and E2's table and text), the mean test accuracy per model and task (F6 and E5's table and text).
A group's statistic is the one the claims read (`rnnbench.measures`), group by group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import aggregate, stats
from .measures import divergence

DIVERGENCE = ["n_runs", "n_diverged", "divergence_rate", "low", "high", "median_step"]
ACCURACY = ["variant", "task", "n", "mean", "low", "high"]


def divergence_rates(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by` (sorted by it), its runs' divergence (`measures.divergence`): n_runs,
    n_diverged, divergence_rate with its 95% Wilson interval (low, high), and the median step of
    divergence (NaN where none diverged)."""
    rows = []
    for key, group in runs.groupby(by):
        d = divergence(group)
        rows.append([*key, d.n, d.k, d.rate, d.low, d.high, d.median_step])
    return pd.DataFrame(rows, columns=[*by, *DIVERGENCE])


def accuracies(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant x task (in order of appearance): n seeds and their mean test accuracy (a
    diverged run at chance: `aggregate.accuracy_or_chance`) with its 95% bootstrap interval over
    seeds (low, high)."""
    runs = runs.assign(accuracy=aggregate.accuracy_or_chance(runs))
    rows = []
    for (variant, task), group in runs.groupby(["variant", "task"], sort=False):
        acc = group["accuracy"].to_numpy(dtype=float)
        low, high = stats.bootstrap_interval(acc, np.mean)
        rows.append([variant, task, len(acc), acc.mean(), low, high])
    return pd.DataFrame(rows, columns=ACCURACY)
