"""Measures on training runs (the runs table): divergence and success rates, horizons and their
differences (censored at the grid's largest T), the growth exponent of sequences to solve, and
one population's losses, accuracies and sequences to solve."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import aggregate, stats
from ..numbers import fmt, interval
from ..selection import Missing
from .base import Measured, Sample, bootstrap, envelope, has_status, scalar, wilson_rate


@dataclass(frozen=True)
class Divergence:
    """How many of some runs diverged: the divergence rate every claim, table, figure and
    report sentence reads (`divergence`)."""

    k: int  # runs that diverged
    n: int  # runs
    rate: float  # k / n (NaN without runs)
    low: float  # its 95% Wilson interval
    high: float
    median_step: float  # the median optimizer step at which they diverged (NaN: none did)


def divergence(runs: pd.DataFrame) -> Divergence:
    """The divergence rate of runs, with its Wilson interval and the median step of divergence."""
    steps = runs["diverged_step"].dropna()
    median = float(steps.median()) if len(steps) else math.nan
    return Divergence(*wilson_rate(has_status(runs, "diverged")), median)


def divergence_rate(s: Sample) -> Measured:
    """The divergence rate (Wilson); with `by`, per group, the smallest or largest deciding."""
    if s.by:
        groups = [(key, divergence(g)) for key, g in s.a.groupby(list(s.by))]
        rates = [(d.rate, d.low, d.high) for _, d in groups]
        effect, low, high = envelope(*zip(*rates, strict=True), s.reduce)
        parts = [
            f"{', '.join(map(str, key))}: {d.k} of {d.n}, {interval(d.rate, d.low, d.high, '.0%')}"
            for key, d in groups
        ]
        n = min(d.n for _, d in groups)
        return Measured(n, effect, low, high, "diverged: " + "; ".join(parts))
    d = divergence(s.a)
    when = "" if math.isnan(d.median_step) else f"; median step of divergence {d.median_step:.0f}"
    text = f"{d.k} of {d.n} runs diverged: {interval(d.rate, d.low, d.high, '.0%')}{when}"
    return Measured(d.n, d.rate, d.low, d.high, text)


def divergence_difference(s: Sample) -> Measured:
    """Divergence rate of a minus b over the trials both hold (Newcombe)."""
    shared = set(s.a["cell_id"]) & set(s.b["cell_id"])
    if not shared:
        raise Missing("the two populations share no trial")
    a, b = (divergence(x[x["cell_id"].isin(shared)]) for x in (s.a, s.b))
    (k1, n1), (k2, n2) = (a.k, a.n), (b.k, b.n)
    low, high = stats.newcombe_interval(k1, n1, k2, n2)
    effect = k1 / n1 - k2 / n2
    first, second = s.labels
    text = (
        f"{first} {k1}/{n1} vs {second} {k2}/{n2} diverged; difference "
        f"{interval(effect, low, high, '+.3g')}"
    )
    return Measured(n1 + n2, effect, low, high, text)


def success_short_long(s: Sample) -> Measured:
    """Success rate at each task's shortest T minus at its longest (horizons rows; Newcombe)."""
    h = s.a
    ends = h.groupby("task")["seq_len"].agg(["min", "max"])
    ends = ends[ends["min"] < ends["max"]]
    if ends.empty:
        raise Missing("a single sequence length per task")
    short = h[h["seq_len"] == h["task"].map(ends["min"])]
    long = h[h["seq_len"] == h["task"].map(ends["max"])]
    k1, n1, k2, n2 = (int(d[c].sum()) for d in (short, long) for c in ("n_solved", "n_runs"))
    low, high = stats.newcombe_interval(k1, n1, k2, n2)
    effect = k1 / n1 - k2 / n2
    lengths = ", ".join(f"{task} T = {a}, {b}" for task, (a, b) in ends.iterrows())
    text = (
        f"{k1}/{n1} solved at the shortest T vs {k2}/{n2} at the longest ({lengths}); "
        f"difference {interval(effect, low, high, '+.3g')}"
    )
    return Measured(n1 + n2, effect, low, high, text)


def _horizon_compare(runs: pd.DataFrame, better, worse, combine) -> tuple[float, float, float, int]:
    """combine(best horizon where `better`, best where `worse`) (masks; combine increases in
    its first argument and decreases in its second), with the bootstrap interval resampling the
    seeds (the same seeds for both sides). A horizon at its grid's largest T is censored: the
    variant might go further, so it is known only to lie in [T, inf), and the interval takes
    each side's bound that widens it (both sides censored: (-inf, inf))."""
    seeds = sorted(runs["seed"].unique())
    idx = stats.resample_indices(len(seeds))
    everyone = np.arange(len(seeds))[None]

    def bounds(mask, rows):
        """The best horizon over the groups where mask, per resample: (lower, upper) bounds."""
        groups = runs[mask].groupby(aggregate.HORIZON_GROUP, dropna=False)
        top = runs.loc[mask, "seq_len"].max()
        h = np.max(
            [
                aggregate.horizon_samples(*aggregate.solved_matrix(g, seeds), rows)
                for _, g in groups
            ],
            axis=0,
        ).astype(float)
        return h, np.where(h == top, np.inf, h)

    (a, _), (b, _) = bounds(better, everyone), bounds(worse, everyone)
    (a_low, a_high), (b_low, b_high) = bounds(better, idx), bounds(worse, idx)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = stats.percentile_interval(combine(a_low, b_high))[0]
        high = stats.percentile_interval(combine(a_high, b_low))[1]
        effect = float(combine(a, b)[0])
    return effect, low, high, len(seeds)


def _log2_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log2(a / b) of two horizons (no horizon: 0), inf - inf and 0 / 0 as equal (0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log2(a) - np.log2(b)
    return np.where((a == b), 0.0, out)


def _per_task(s: Sample, combine, unit: str) -> Measured:
    """A horizon comparison of a and b on every task where both are trained; the smallest or
    largest over tasks decides."""
    both = pd.concat([s.a.assign(_side="a"), s.b.assign(_side="b")], ignore_index=True)
    rows = []
    for task, r in both.groupby("task"):
        a, b = (r["_side"] == "a").to_numpy(), (r["_side"] == "b").to_numpy()
        if a.any() and b.any():
            rows.append((task, *_horizon_compare(r.drop(columns="_side"), a, b, combine)))
    if not rows:
        raise Missing("no task on which both are trained")
    table = pd.DataFrame(rows, columns=["task", "effect", "low", "high", "n"])
    effect, low, high = envelope(table["effect"], table["low"], table["high"], s.reduce)
    first, second = s.labels
    text = "; ".join(
        f"{r.task}: {first} {unit} {second} {interval(r.effect, r.low, r.high, '+g')}, n = {r.n}"
        for r in table.itertuples()
    )
    above_zero = ", ".join(table.loc[table["low"] > 0, "task"]) or "no task"
    text += f"; interval above 0 on: {above_zero}"
    return Measured(int(table["n"].min()), effect, low, high, text)


def horizon_difference(s: Sample) -> Measured:
    """Best horizon of a minus best of b, per task (paired by seed). No horizon counts as 0."""
    return _per_task(s, np.subtract, "minus")


def horizon_log_ratio(s: Sample) -> Measured:
    """log2 of best horizon of a over best of b, per task (paired by seed): 1 = twice as long.
    No horizon counts as 0 (a ratio of -inf or inf; both none: 0)."""
    return _per_task(s, _log2_ratio, "over (log2)")


def growth_exponent_difference(s: Sample) -> Measured:
    """How fast the sequences to solve grow with T: the exponent b in sequences ~ T^b of
    population a minus b's, from one Weibull accelerated-failure-time fit (lifelines) of
    log sequences on log T, the population and their product, with every run that did not
    solve right-censored at its budget (Hochreiter & Schmidhuber 1997's measure, censored).
    The interval is the fit's 95% Wald interval; n = runs."""
    from lifelines import WeibullAFTFitter  # slow to import: only where a claim needs it

    rows = pd.concat([s.a.assign(_a=1.0), s.b.assign(_a=0.0)], ignore_index=True)
    if rows["seq_len"].nunique() < 2:
        raise Missing("a single T: no growth to fit")
    seqs, event = aggregate.censored_sequences(rows)
    if event[rows["_a"] == 1].sum() == 0 or event[rows["_a"] == 0].sum() == 0:
        raise Missing("a population solved no T: its growth cannot be fitted")
    log_t = np.log(rows["seq_len"].to_numpy(dtype=float))
    data = pd.DataFrame(
        {"seqs": seqs, "event": event, "logT": log_t, "a": rows["_a"], "a_logT": rows["_a"] * log_t}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = WeibullAFTFitter().fit(data, "seqs", "event", formula="logT + a + a_logT")
    except Exception as err:  # a fit that does not converge: no measurement, not a crash
        raise Missing(f"the censored fit did not converge ({type(err).__name__})") from None
    coef = fit.summary.loc["lambda_"]
    effect = float(coef.loc["a_logT", "coef"])
    low, high = (float(coef.loc["a_logT", f"coef {side} 95%"]) for side in ("lower", "upper"))
    b_exp = float(coef.loc["logT", "coef"])
    first, second = s.labels
    text = (
        f"growth exponent of sequences to solve in T: {first} {fmt(b_exp + effect, spec='+.2f')}"
        f", {second} {fmt(b_exp, spec='+.2f')}; difference {interval(effect, low, high, '+.2f')}"
        f", n = {len(rows)} runs ({int(event.sum())} solved, the rest censored at the budget)"
    )
    return Measured(len(rows), effect, low, high, text)


def median_loss_ratio(s: Sample) -> Measured:
    """Median over runs of test loss / the task's input-blind baseline (a run without a
    finite test loss: infinite)."""
    if has_status(s.a, "skipped").all():
        raise Missing(
            "never trained: the horizon ladder skipped it (every seed failed the solved "
            f"criterion at T = {int(s.a['skipped_after'].iloc[0])})"
        )
    ratio = (s.a["final_loss"] / s.a["baseline_loss"]).to_numpy(dtype=float, na_value=np.nan)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    return scalar("median loss / baseline", bootstrap(ratio, np.median), len(ratio))


def mean_sequences(s: Sample) -> tuple[float, float, float]:
    """Mean sequences to solve; a seed that never solved counts as its whole budget (steps x
    batch), so the mean is then a lower bound and the interval is open above."""
    budget = (s.a["steps"] * s.a["batch_size"]).to_numpy(dtype=float)
    solved = s.a["sequences_to_solve"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    censored = np.isnan(solved)
    estimate, low, high = bootstrap(np.where(censored, budget, solved), np.mean)
    return estimate, low, math.inf if censored.any() else high


def fraction(hits: np.ndarray) -> Measured:
    k, n, effect, low, high = wilson_rate(hits)
    return Measured(n, effect, low, high, f"{k} of {n}: {interval(effect, low, high, '.0%')}")
