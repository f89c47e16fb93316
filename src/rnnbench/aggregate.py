"""The pipeline's tidy tables, built from the per-cell tables the jobs wrote.

gradient_profiles, decay_rates, runs, curves and horizons; every column is documented in
results/README.md. Builders check the grid: each expected cell appears, each run (or logged
step, or profiled distance) appears exactly once, and each cell x clip setting has one selected
lr. A diverged run is a row with status "diverged", a cell the horizon ladder skipped rows with
status "skipped". Rates carry Wilson intervals, horizons and slopes seed-bootstrap intervals
(rnnbench.stats). Every spec field (tables.spec_columns) and the clip_setting label the jobs wrote
flows through to each table built from them: none is dropped by a fixed column list.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .spec import ProbeSpec, TrialSpec
from .tables import read_table, spec_columns

# in build order; replications: rnnbench.replications
TABLES = ("gradient_profiles", "decay_rates", "runs", "curves", "horizons", "replications")
SPEC_FIELDS = frozenset(spec_columns(TrialSpec())) | frozenset(spec_columns(ProbeSpec()))
SPEC_FIELDS |= {"cell_label"}  # the cell's label: a function of model.cell, kept with it
PARAM = "param_"  # a cell's hyperparameter column: param_<name> (rnnbench.train.model_columns)
STATUSES = ("solved", "unsolved", "diverged", "skipped")
ID = ["experiment", "cell_id", "variant"]
MODEL = [
    "task",
    "cell",
    "cell_label",
    "nonlinearity",
    "init",
    "rho",
    "forget_bias",
    "hidden_size",
    "seq_len",
]
CLIP = ["clip", "clip_threshold", "clip_setting"]  # clip_setting: the label, e.g. 'norm 1'
RUN_KEY = ["experiment", "cell_id", "lr", "seed", "clip", "clip_threshold"]
SETTING = ["experiment", "cell_id", "clip", "clip_threshold"]  # one lr is selected per setting
HORIZON_GROUP = ["experiment", "task", "variant", "hidden_size", *CLIP]
INT_COLUMNS = ["diverged_step", "skipped_after", "solved_step", "sequences_to_solve"]

# Each table's leading columns, in this order; every other column of the per-cell tables (every
# spec field) follows in the order the jobs wrote it.
PROFILE_COLUMNS = [
    *ID,
    *MODEL,
    "lr",
    "seed",
    *CLIP,
    "step",
    "distance",
    "log10_grad_norm",
    "log10_grad_norm_median",
    "log10_bound",
]
RUN_COLUMNS = [
    *ID,
    *MODEL,
    "lr",
    *CLIP,
    "seed",
    "selected",
    "status",
    "diverged_step",
    "skipped_after",
    "solved_step",
    "sequences_to_solve",
    "steps_trained",
    "val_loss",
    "val_metric",
    "final_loss",
    "baseline_loss",
    "final_metric",
    "baseline_metric",
    "baseline_solved",
    "max_grad_norm",
    "wall_seconds",
]
LADDER_COLUMNS = ["skipped_after"]  # written only by cells the horizon ladder skipped
CURVE_COLUMNS = [
    *ID,
    *MODEL,
    "lr",
    *CLIP,
    "seed",
    "step",
    "train_loss",
    "val_loss",
    "val_metric",
    "grad_norm",
    "clipped",
    "spectral_radius",
    "sigma_max",
]


class GridError(ValueError):
    """A table misses a grid cell, repeats a row, or holds an invalid value."""


def spec_fields(table: pd.DataFrame) -> list[str]:
    """The columns of table that are spec fields (a cell's hyperparameters, param_<name>,
    included), in table order: constant within a grid cell, so aggregates keep them all (new spec
    fields flow through without an edit here)."""
    return [c for c in table.columns if c in SPEC_FIELDS or c.startswith(PARAM)]


def read_cells(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate per-cell tables (read with read_table: a damaged file names itself)."""
    frames = [read_table(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def gradient_profiles(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per model x profiled step x distance T-k (probes: step 0, no clip, no lr)."""
    df = _columns(cells, PROFILE_COLUMNS)
    _check_unique(df, [*RUN_KEY, "step", "distance"], "gradient_profiles")
    return _sorted(df, [*RUN_KEY, "step"])


def fit_slope(distance: np.ndarray, log10_norm: np.ndarray) -> float:
    """Least-squares slope of log10 norm against distance over the finite points (NaN if < 2)."""
    ok = np.isfinite(log10_norm)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(distance[ok].astype(float), log10_norm[ok], 1)[0])


def decay_rates(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per profiled setting (experiment x cell x lr x clip x step): the seed-mean decay slope,
    with a bootstrap interval over seeds; every spec field of the profiles is kept."""
    setting = [*ID, *spec_fields(profiles), "lr", *CLIP, "step"]
    if profiles.empty:  # no profiling experiment in the grid
        return pd.DataFrame(columns=[*setting, *SLOPE_COLUMNS])
    per_seed = (
        profiles.groupby([*setting, "seed"], dropna=False, sort=True)
        .apply(_seed_slopes, include_groups=False)
        .reset_index()
    )
    out = (
        per_seed.groupby(setting, dropna=False, sort=True)
        .apply(_slope_summary, include_groups=False)
        .reset_index()
        .astype({"n_seeds": int})
    )
    slope = out["slope_log10_per_step"]
    out["efold_steps"] = 1 / (slope.abs() * math.log(10))
    change = slope * out["max_distance"]  # decades gained (>0) or lost (<0) over the sequence
    out["regime"] = np.select(
        [change.isna(), change <= -1, change >= 1], ["undefined", "vanishing", "exploding"], "flat"
    )
    return out


SLOPE_COLUMNS = [
    "n_seeds",
    "slope_log10_per_step",
    "slope_low",
    "slope_high",
    "slope_sd",
    "bound_slope_log10_per_step",
    "max_distance",
    "efold_steps",
    "regime",
]


def _seed_slopes(g: pd.DataFrame) -> pd.Series:
    d = g["distance"].to_numpy()
    return pd.Series(
        {
            "slope": fit_slope(d, g["log10_grad_norm"].to_numpy()),
            "bound_slope": fit_slope(d, g["log10_bound"].to_numpy()),
            "max_distance": d.max(),
        }
    )


def _slope_summary(per_seed: pd.DataFrame) -> pd.Series:
    slopes = per_seed["slope"].to_numpy()
    slopes = slopes[np.isfinite(slopes)]
    low, high = stats.bootstrap_interval(slopes, np.mean)
    return pd.Series(
        {
            "n_seeds": len(slopes),
            "slope_log10_per_step": slopes.mean() if len(slopes) else math.nan,
            "slope_low": low,
            "slope_high": high,
            "slope_sd": slopes.std(ddof=1) if len(slopes) > 1 else math.nan,
            "bound_slope_log10_per_step": per_seed["bound_slope"].mean(),
            "max_distance": per_seed["max_distance"].max(),
        }
    )


def runs(cells: pd.DataFrame, expected_cells: Iterable[str]) -> pd.DataFrame:
    """One row per trained model; checks every expected cell is present, each run once, and
    that each setting (cell x clip setting) has exactly one selected lr."""
    _require(cells, [c for c in RUN_COLUMNS if c not in LADDER_COLUMNS], "runs")
    df = _columns(cells, RUN_COLUMNS)
    _check_cells(df, expected_cells, "runs")
    _check_unique(df, RUN_KEY, "runs")
    bad = sorted(set(df["status"].astype("object")) - set(STATUSES))
    if bad:
        raise GridError(f"runs: invalid status {bad[0]!r} (expected one of {STATUSES})")
    for column, status in (("diverged_step", "diverged"), ("skipped_after", "skipped")):
        if (df[column].notna() != (df["status"] == status)).any():
            raise GridError(f"runs: {column} must be set exactly for {status} runs")
    _check_selected(df)
    return _sorted(df, RUN_KEY)


def _check_selected(df: pd.DataFrame) -> None:
    if df.empty:
        return
    if not pd.api.types.is_bool_dtype(df["selected"]):
        raise GridError("runs: selected must be True or False in every row")
    chosen = df[df["selected"]].groupby(SETTING, dropna=False)["lr"].nunique()
    settings = df.groupby(SETTING, dropna=False).ngroups
    if len(chosen) < settings or (chosen > 1).any():
        raise GridError("runs: each cell x clip setting needs exactly one selected lr")


def selected_only(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a curves, profiles or decay_rates table at their setting's selected lr."""
    if table.empty or runs.empty:  # an experiment this run left out: its tables are empty
        return table.iloc[:0]
    keys = [*SETTING, "lr"]
    chosen = runs.loc[runs["selected"], keys].drop_duplicates()
    return table.merge(chosen, on=keys, how="inner")


def accuracy_or_chance(runs: pd.DataFrame) -> pd.Series:
    """Each run's test metric, with a diverged run at the input-blind baseline (chance)."""
    return runs["final_metric"].where(runs["status"] != "diverged", runs["baseline_metric"])


def curves(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per run per logged step."""
    _require(cells, CURVE_COLUMNS, "curves")
    df = _columns(cells, CURVE_COLUMNS)
    _check_unique(df, [*RUN_KEY, "step"], "curves")
    return _sorted(df, [*RUN_KEY, "step"])


def horizons(runs: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Success per experiment x task x variant x H x clip setting x T over the selected runs
    (skipped runs count as unsolved), with each group's horizon and its seed-bootstrap interval.

    horizon = the largest T whose success rate >= threshold (missing when no T reaches it).
    Every spec field of the runs is kept (one T of a group is one grid cell).
    """
    chosen = runs[runs["selected"]]
    keys = [*HORIZON_GROUP, "seq_len"]
    if chosen.empty:  # no training experiment in the grid
        return pd.DataFrame(columns=keys)
    spec = [c for c in spec_fields(chosen) if c not in keys]
    sweep = runs.groupby(SETTING, dropna=False)["lr"].agg(["min", "max", "nunique"])
    edge = chosen.join(sweep, on=SETTING)
    at_edge = (edge["lr"] == edge["min"]) | (edge["lr"] == edge["max"])
    # the selected lr is the sweep's smallest or largest: the best may lie outside the sweep
    chosen = chosen.assign(lr_at_edge=(edge["nunique"] > 1) & at_edge)
    per_t = chosen.groupby(keys, dropna=False, sort=True).apply(
        lambda g: _success(g, spec), include_groups=False
    )
    per_variant = chosen.groupby(HORIZON_GROUP, dropna=False, sort=True).apply(
        lambda g: _horizon(g, threshold), include_groups=False
    )
    out = per_t.reset_index().infer_objects()
    out = out.merge(per_variant.reset_index().infer_objects(), on=HORIZON_GROUP, how="left")
    return out.astype({"horizon": "Int64", "n_seeds": int})


def _success(g: pd.DataFrame, spec: list[str]) -> pd.Series:
    """One T of one group: its spec fields, counts, Wilson intervals, selected lr, medians."""
    counts = {s: int((g["status"] == s).sum()) for s in ("solved", "diverged", "skipped")}
    n = len(g)
    success = stats.wilson_interval(counts["solved"], n)
    divergence = stats.wilson_interval(counts["diverged"], n)
    seqs = g["sequences_to_solve"].dropna().to_numpy(dtype=float)
    seq_low, seq_high = stats.bootstrap_interval(seqs, np.median)
    return pd.Series(
        {
            **{c: g[c].iloc[0] for c in spec},
            "lr": g["lr"].iloc[0],
            "n_runs": n,
            "n_solved": counts["solved"],
            "n_diverged": counts["diverged"],
            "n_skipped": counts["skipped"],
            "success_rate": counts["solved"] / n,
            "success_low": success[0],
            "success_high": success[1],
            "divergence_rate": counts["diverged"] / n,
            "divergence_low": divergence[0],
            "divergence_high": divergence[1],
            "median_final_metric": g["final_metric"].median(),
            "n_sequences_to_solve": len(seqs),
            "median_sequences_to_solve": np.median(seqs) if len(seqs) else math.nan,
            "sequences_to_solve_low": seq_low,
            "sequences_to_solve_high": seq_high,
            **_km_sequences(g),
            "lr_at_edge": bool(g["lr_at_edge"].iloc[0]),
            "baseline_solved": bool(g["baseline_solved"].any()),
        }
    )


def censored_sequences(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each run's sequences to solve, and whether it solved (1) or is right-censored (0) at its
    budget, steps x batch (unsolved, skipped or diverged runs: none of them solved in it)."""
    budget = (runs["steps"] * runs["batch_size"]).to_numpy(dtype=float)
    seqs = runs["sequences_to_solve"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    event = ~np.isnan(seqs)
    return np.where(event, np.maximum(seqs, 1.0), budget), event.astype(int)


def _km_sequences(g: pd.DataFrame) -> dict:
    """Kaplan-Meier median of the sequences to solve, unsolved seeds right-censored at their
    budget (lifelines), with its 95% interval; inf where the median (or an end) is not reached
    within the budget."""
    from lifelines import KaplanMeierFitter  # slow to import: only where a table needs it
    from lifelines.utils import median_survival_times

    seqs, event = censored_sequences(g)
    if not event.any():
        return dict(km_sequences_to_solve=math.inf, km_sequences_low=math.inf,
                    km_sequences_high=math.inf)  # fmt: skip
    with warnings.catch_warnings():  # lifelines' interval of a few seeds warns on empty slices
        warnings.simplefilter("ignore", RuntimeWarning)
        km = KaplanMeierFitter().fit(seqs, event)
        low, high = median_survival_times(km.confidence_interval_).iloc[0]
        median = float(km.median_survival_time_)
    return dict(km_sequences_to_solve=median, km_sequences_low=float(low),
                km_sequences_high=float(high))  # fmt: skip


def controls(horizons: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and task: the positive control, whether some variant solves the task's
    shortest T of the grid (success >= 0.5 of its seeds: the variant, its counts), and the
    negative control, whether the input-blind baseline fails the solved criterion. A task whose
    controls fail cannot measure horizons: the claims on it are inconclusive for that reason."""
    rows = []
    for (experiment, task), h in horizons.groupby(["experiment", "task"], sort=False):
        shortest = h[h["seq_len"] == h["seq_len"].min()]
        best = shortest.loc[shortest["success_rate"].idxmax()]
        rows.append(
            dict(
                experiment=experiment, task=task, seq_len=int(best["seq_len"]),
                best_variant=best["variant"], n_solved=int(best["n_solved"]),
                n_runs=int(best["n_runs"]), positive=bool(best["success_rate"] >= 0.5),
                negative=not bool(h["baseline_solved"].any()),
            )
        )  # fmt: skip
    return pd.DataFrame(rows)


def solved_matrix(group: pd.DataFrame, seeds=None) -> tuple[np.ndarray, np.ndarray]:
    """(T values (n_T,), solved (n_seeds, n_T)) of one group's runs: 1 solved, 0 not (skipped
    included), NaN where a seed has no run at that T; rows follow `seeds` (default: the group's)."""
    solved = (group["status"] == "solved").astype(float)
    wide = group.assign(solved=solved).pivot(index="seed", columns="seq_len", values="solved")
    wide = wide.sort_index(axis=1)
    if seeds is not None:
        wide = wide.reindex(index=seeds)
    return wide.columns.to_numpy(), wide.to_numpy(dtype=float)


def horizon_samples(seq_lens: np.ndarray, solved: np.ndarray, idx: np.ndarray, threshold=0.5):
    """The horizon (0 when no T reaches threshold) of each resample of the seeds: idx is
    (n_resamples, n_seeds), solved (n_seeds, n_T) -> (n_resamples,)."""
    picked = solved[idx]  # (B, n, n_T)
    counted = (~np.isnan(picked)).sum(1)
    rate = np.nansum(picked, 1) / np.maximum(counted, 1)  # (B, n_T); no run at a T: rate 0
    return np.where(rate >= threshold, seq_lens, 0).max(-1)


def _horizon(g: pd.DataFrame, threshold: float) -> pd.Series:
    """A group's horizon with its interval; censored when it is the grid's largest T (the
    variant might reach further: a lower bound, '>= T')."""
    seq_lens, solved = solved_matrix(g)
    n = len(solved)
    point = horizon_samples(seq_lens, solved, np.arange(n)[None], threshold)[0]
    low, high = stats.percentile_interval(
        horizon_samples(seq_lens, solved, stats.resample_indices(n), threshold)
    )
    return pd.Series(
        {
            "n_seeds": n,
            "horizon": point if point > 0 else pd.NA,
            "horizon_low": low,
            "horizon_high": high,
            "horizon_censored": bool(point == seq_lens.max()),
            "grid_max_seq_len": int(seq_lens.max()),
        }
    )


def _require(cells: pd.DataFrame, columns: list[str], table: str) -> None:
    missing = [c for c in columns if c not in cells]
    if len(cells) and missing:
        raise GridError(f"{table}: the per-cell tables lack column {missing[0]!r}")


def _columns(cells: pd.DataFrame, leading: list[str]) -> pd.DataFrame:
    """The leading columns in order (one a cell type lacks, clip for probes, is missing), then
    every other column of the per-cell tables."""
    rest = [c for c in cells.columns if c not in leading]
    out = cells.reindex(columns=[*leading, *rest])
    if "clip" in out:
        out["clip"] = out["clip"].astype("string")
    for column in INT_COLUMNS:
        if column in out:
            out[column] = out[column].astype("Int64")
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
