"""The pipeline's tidy tables, built from the per-cell tables the jobs wrote.

gradient_profiles, decay_rates, runs, curves and horizons; every column is documented in
results/README.md. Builders check the grid: each expected cell appears, and each run (or logged
step, or profiled distance) appears exactly once. A diverged run is a row with status "diverged".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import read_table

STATUSES = ("solved", "unsolved", "diverged")
ID = ["experiment", "cell_id", "variant"]
MODEL = ["task", "cell", "nonlinearity", "init", "rho", "forget_bias", "hidden_size", "seq_len"]
RUN_KEY = ["experiment", "cell_id", "seed", "clip", "clip_threshold"]

PROFILE_COLUMNS = [
    *ID,
    *MODEL,
    "seed",
    "clip",
    "clip_threshold",
    "step",
    "distance",
    "log10_grad_norm",
    "log10_grad_norm_median",
    "log10_bound",
]
RUN_COLUMNS = [
    *ID,
    *MODEL,
    "optimizer",
    "lr",
    "batch_size",
    "clip",
    "clip_threshold",
    "seed",
    "status",
    "diverged_step",
    "steps",
    "final_loss",
    "baseline_loss",
    "final_metric",
    "baseline_metric",
    "max_grad_norm",
    "wall_seconds",
]
CURVE_COLUMNS = [
    *ID,
    *MODEL,
    "clip",
    "clip_threshold",
    "seed",
    "step",
    "train_loss",
    "eval_loss",
    "eval_metric",
    "grad_norm",
    "clipped",
    "spectral_radius",
    "sigma_max",
]


class GridError(ValueError):
    """A table misses a grid cell, repeats a row, or holds an invalid value."""


def read_cells(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate per-cell tables (read with read_table: a damaged file names itself)."""
    frames = [read_table(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def gradient_profiles(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per model x profiled step x distance T-k (probes: step 0, no clip)."""
    df = _columns(cells, PROFILE_COLUMNS)
    _check_unique(df, [*RUN_KEY, "step", "distance"], "gradient_profiles")
    return _sorted(df, ["experiment", "cell_id", "seed", "clip", "clip_threshold", "step"])


def fit_slope(distance: np.ndarray, log10_norm: np.ndarray) -> float:
    """Least-squares slope of log10 norm against distance over the finite points (NaN if < 2)."""
    ok = np.isfinite(log10_norm)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(distance[ok].astype(float), log10_norm[ok], 1)[0])


def decay_rates(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per profiled setting (experiment x cell x clip x step): fitted decay slope across seeds."""
    setting = [*ID, *MODEL, "clip", "clip_threshold", "step"]
    per_seed = (
        profiles.groupby([*setting, "seed"], dropna=False, sort=True)
        .apply(_seed_slopes, include_groups=False)
        .reset_index()
    )
    out = (
        per_seed.groupby(setting, dropna=False, sort=True)
        .agg(
            n_seeds=("seed", "nunique"),
            slope_log10_per_step=("slope", "mean"),
            slope_sd=("slope", "std"),
            bound_slope_log10_per_step=("bound_slope", "mean"),
            max_distance=("max_distance", "max"),
        )
        .reset_index()
    )
    slope = out["slope_log10_per_step"]
    out["efold_steps"] = 1 / (slope.abs() * math.log(10))
    change = slope * out["max_distance"]  # decades gained (>0) or lost (<0) over the sequence
    out["regime"] = np.select(
        [change.isna(), change <= -1, change >= 1], ["undefined", "vanishing", "exploding"], "flat"
    )
    return out


def _seed_slopes(g: pd.DataFrame) -> pd.Series:
    d = g["distance"].to_numpy()
    return pd.Series(
        {
            "slope": fit_slope(d, g["log10_grad_norm"].to_numpy()),
            "bound_slope": fit_slope(d, g["log10_bound"].to_numpy()),
            "max_distance": d.max(),
        }
    )


def runs(cells: pd.DataFrame, expected_cells: Iterable[str]) -> pd.DataFrame:
    """One row per trained model; checks every expected cell is present, each run once."""
    df = _columns(cells, RUN_COLUMNS)
    _check_cells(df, expected_cells, "runs")
    _check_unique(df, RUN_KEY, "runs")
    bad = sorted(set(df["status"]) - set(STATUSES))
    if bad:
        raise GridError(f"runs: invalid status {bad[0]!r} (expected one of {STATUSES})")
    if (df["diverged_step"].notna() != (df["status"] == "diverged")).any():
        raise GridError("runs: diverged_step must be set exactly for diverged runs")
    return _sorted(df, RUN_KEY)


def curves(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per run per logged step."""
    df = _columns(cells, CURVE_COLUMNS)
    _check_unique(df, [*RUN_KEY, "step"], "curves")
    return _sorted(df, [*RUN_KEY, "step"])


def horizons(runs: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Success rate per experiment x task x variant x clip setting x T, and the horizon.

    horizon = the largest T whose success rate >= threshold (missing when no T reaches it).
    """
    group = ["experiment", "task", "variant", "hidden_size", "clip", "clip_threshold"]
    describe = ["cell", "nonlinearity", "init", "rho"]
    df = (
        runs.groupby([*group, "seq_len"], dropna=False, sort=True)
        .agg(
            **{c: (c, "first") for c in describe},
            n_runs=("status", "size"),
            n_solved=("status", lambda s: int((s == "solved").sum())),
            n_diverged=("status", lambda s: int((s == "diverged").sum())),
            median_final_metric=("final_metric", "median"),
        )
        .reset_index()
    )
    df["success_rate"] = df["n_solved"] / df["n_runs"]
    df["divergence_rate"] = df["n_diverged"] / df["n_runs"]
    reached = df["seq_len"].where(df["success_rate"] >= threshold)
    df["horizon"] = reached.groupby([df[c] for c in group], dropna=False).transform("max")
    df["horizon"] = df["horizon"].astype("Int64")
    return df


def _columns(cells: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The named columns in order; a column a cell type lacks (clip for probes) is missing."""
    out = cells.reindex(columns=columns)
    if "clip" in out:
        out["clip"] = out["clip"].astype("string")
    return out


def _check_cells(df: pd.DataFrame, expected: Iterable[str], table: str) -> None:
    found = set(df["experiment"] + "/" + df["cell_id"])
    expected = set(expected)
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing:
        raise GridError(f"{table}: grid cell {missing[0]} has no rows ({len(missing)} missing)")
    if extra:
        raise GridError(f"{table}: cell {extra[0]} is not in the config's grid")


def _check_unique(df: pd.DataFrame, keys: list[str], table: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        row = df.loc[dup, keys].iloc[0].to_dict()
        raise GridError(f"{table}: {int(dup.sum())} rows repeat a key, e.g. {row}")


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)
