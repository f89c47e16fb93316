"""The measures: each statistic that claims and replication targets state something about,
computed once, here, from the pipeline's tables, with its n and its 95% interval.

A measure reads a `Sample`: the rows of one population (`a`), and for a comparison the rows of a
second one (`b`), optionally paired on columns (`pair_on`: the settings both populations share);
where a population spans several settings, `reduce` says which setting's effect decides (the
smallest or largest, with the envelope of the intervals). It returns a `Measured`.
`MEASURES` holds them by name: a claim (`rnnbench.claims.Claim`) and a replication target
(`config/replications.yaml`) name one. What a measure shares with the figures and report tables
is public here, e.g. `divergence` (the divergence rate, read per group by `rnnbench.results`).

Intervals: Wilson for rates, Newcombe's hybrid score for differences of rates, MOVER (Zou &
Donner 2008) for differences of two decay slopes from their seed-bootstrap intervals, and
percentile bootstraps over seeds for horizons, medians and means (rnnbench.stats).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import aggregate, stats
from .numbers import fmt, interval, values
from .registry import Registry
from .selection import Missing


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


# --- primitives -----------------------------------------------------------------------------


def _envelope(effect, low, high, reduce: str) -> tuple[float, float, float]:
    """The smallest (or largest) of several settings' effects, with the envelope of their
    intervals (NaN if any interval is NaN)."""
    pick = np.min if reduce == "min" else np.max
    return tuple(float(pick(np.asarray(v, dtype=float))) for v in (effect, low, high))


def _slopes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = ["slope_log10_per_step", "slope_low", "slope_high"]
    return tuple(rows[c].to_numpy(dtype=float) for c in cols)


def _mover(a: pd.DataFrame, b: pd.DataFrame):
    """Row-wise slope(a) - slope(b) with its MOVER interval."""
    (x, xl, xh), (y, yl, yh) = _slopes(a), _slopes(b)
    pairs = [
        stats.mover_interval(*p)
        for p in zip(x, zip(xl, xh, strict=True), y, zip(yl, yh, strict=True), strict=True)
    ]
    low, high = np.array(pairs).reshape(-1, 2).T
    return x - y, low, high


def _paired(s: Sample) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of a and b that share the pair_on columns, aligned."""
    both = s.a.merge(s.b, on=list(s.pair_on), suffixes=("", "_b"))
    if both.empty:
        raise Missing("no pair of settings to compare in this grid")
    cols = ["slope_log10_per_step", "slope_low", "slope_high", "n_seeds"]
    on = list(s.pair_on)
    return both[on + cols], both[on + [f"{c}_b" for c in cols]].set_axis(on + cols, axis=1)


def _seeds(*frames: pd.DataFrame) -> int:
    return int(min(f["n_seeds"].min() for f in frames))


def _rate(hits: np.ndarray) -> tuple[int, int, float, float, float]:
    k, n = int(hits.sum()), len(hits)
    low, high = stats.wilson_interval(k, n)
    return k, n, (k / n if n else math.nan), float(low), float(high)


def _bootstrap(v: np.ndarray, statistic) -> tuple[float, float, float]:
    low, high = stats.bootstrap_interval(v, statistic)
    return float(statistic(v)), low, high


def _losses(runs: pd.DataFrame) -> np.ndarray:
    """Final test losses, a diverged (or never trained) run's as +inf: worse than any."""
    loss = runs["final_loss"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(loss) | (runs["status"] == "diverged").to_numpy(), np.inf, loss)


def _accuracies(runs: pd.DataFrame) -> np.ndarray:
    """Final test accuracies, a diverged seed's as 0: worse than any."""
    acc = runs["final_metric"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(acc) | (runs["status"] == "diverged").to_numpy(), 0.0, acc)


# --- decay slopes (decay_rates) -------------------------------------------------------------


def log_rho_deviation(s: Sample) -> Measured:
    """Largest |slope - log10(rho)| over the rows, with the envelope of the intervals."""
    log_rho = np.log10(s.a["rho"].to_numpy(dtype=float))
    slope, lo, hi = _slopes(s.a)
    lo, hi = lo - log_rho, hi - log_rho
    nearest = np.where(lo > 0, lo, np.where(hi < 0, -hi, 0.0))  # smallest |dev| in the interval
    nearest[np.isnan(lo) | np.isnan(hi)] = np.nan
    dev = np.abs(slope - log_rho)
    effect, low, high = _envelope(dev, nearest, np.maximum(np.abs(lo), np.abs(hi)), "max")
    n = _seeds(s.a)
    text = (
        f"largest |slope - log10(rho)| = {interval(effect, low, high, '.1e')} decades/step, "
        f"n = {n} seeds per rho (rho in {values(s.a['rho'])})"
    )
    return Measured(n, effect, low, high, text)


def decades(s: Sample) -> Measured:
    """Decades the gradient gains (> 0) or loses over the sequence, slope x T; the smallest or
    largest over the settings."""
    d = s.a["max_distance"].to_numpy(dtype=float)
    effect, low, high = _envelope(*(v * d for v in _slopes(s.a)), s.reduce)
    n = _seeds(s.a)
    word = "smallest" if s.reduce == "min" else "largest"
    text = (
        f"{word} change {interval(effect, low, high, '+.1f')} decades over {int(d.max())} "
        f"steps, n = {n} seeds per setting"
    )
    return Measured(n, effect, low, high, text)


def slope(s: Sample) -> Measured:
    """The decay slope (decades per step): the smallest or largest over the settings."""
    effect, low, high = _envelope(*_slopes(s.a), s.reduce)
    n = _seeds(s.a)
    over = effect * s.a["max_distance"].max()
    text = (
        f"slope {interval(effect, low, high, '+.4f')} decades/step, n = {n} seeds "
        f"({fmt(over, spec='+.1f')} decades over the sequence)"
    )
    return Measured(n, effect, low, high, text)


def slope_difference(s: Sample) -> Measured:
    """slope(a) - slope(b) for each pair of settings (MOVER); the smallest or largest."""
    a, b = _paired(s)
    diff, lows, highs = _mover(a, b)
    effect, low, high = _envelope(diff, lows, highs, s.reduce)
    n = _seeds(a, b)
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
    (effect,), (low,), (high,) = _mover(a, b)
    n = _seeds(a, b)
    first, second = s.labels
    text = (
        f"{first} {fmt(a['slope_log10_per_step'].iloc[0], spec='+.4f')} vs {second} "
        f"{fmt(b['slope_log10_per_step'].iloc[0], spec='+.4f')} decades/step; difference "
        f"{interval(effect, low, high, '+.4f')}, n = {n} seeds each"
    )
    return Measured(n, effect, low, high, text)


# --- rates (runs, horizons) -----------------------------------------------------------------


def _status(rows: pd.DataFrame, status: str) -> np.ndarray:
    return (rows["status"] == status).to_numpy()


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
    return Divergence(*_rate(_status(runs, "diverged")), median)


def divergence_rate(s: Sample) -> Measured:
    """The divergence rate (Wilson); with `by`, per group, the smallest or largest deciding."""
    if s.by:
        groups = [(key, divergence(g)) for key, g in s.a.groupby(list(s.by))]
        rates = [(d.rate, d.low, d.high) for _, d in groups]
        effect, low, high = _envelope(*zip(*rates, strict=True), s.reduce)
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


# --- horizons (runs) ------------------------------------------------------------------------


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
    effect, low, high = _envelope(table["effect"], table["low"], table["high"], s.reduce)
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


# --- sequences to solve against T (runs) ----------------------------------------------------


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


# --- one population's runs (claims and replication targets) ---------------------------------


def _scalar(name: str, estimate: tuple[float, float, float], n: int, unit: str = "") -> Measured:
    effect, low, high = estimate
    return Measured(n, effect, low, high, f"{name} = {interval(effect, low, high)}{unit}, n = {n}")


def median_loss_ratio(s: Sample) -> Measured:
    """Median over runs of test loss / the task's input-blind baseline (a run without a
    finite test loss: infinite)."""
    if _status(s.a, "skipped").all():
        raise Missing(
            "never trained: the horizon ladder skipped it (every seed failed the solved "
            f"criterion at T = {int(s.a['skipped_after'].iloc[0])})"
        )
    ratio = (s.a["final_loss"] / s.a["baseline_loss"]).to_numpy(dtype=float, na_value=np.nan)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    return _scalar("median loss / baseline", _bootstrap(ratio, np.median), len(ratio))


def _sequences(s: Sample) -> tuple[float, float, float]:
    """Mean sequences to solve; a seed that never solved counts as its whole budget (steps x
    batch), so the mean is then a lower bound and the interval is open above."""
    budget = (s.a["steps"] * s.a["batch_size"]).to_numpy(dtype=float)
    solved = s.a["sequences_to_solve"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    censored = np.isnan(solved)
    estimate, low, high = _bootstrap(np.where(censored, budget, solved), np.mean)
    return estimate, low, math.inf if censored.any() else high


def _fraction(hits: np.ndarray) -> Measured:
    k, n, effect, low, high = _rate(hits)
    return Measured(n, effect, low, high, f"{k} of {n}: {interval(effect, low, high, '.0%')}")


MEASURES: Registry[Measure] = Registry(
    "measure",
    {
        m.name: m
        for m in (
            Measure(
                "log_rho_deviation",
                "largest |decay slope - log10(rho)| over rho (decades per step)",
                "bootstrap over seeds of each setting's mean decay slope; envelope over rho",
                log_rho_deviation,
            ),
            Measure(
                "decades",
                "decades gained by ||dE_T/dh_k|| from k = T to k = 0 (slope x T)",
                "bootstrap over seeds of each setting's mean decay slope (x T); envelope",
                decades,
            ),
            Measure(
                "slope",
                "decay slope of log10 ||dE_T/dh_k|| against T - k (decades per step)",
                "bootstrap over seeds of the mean decay slope; envelope over settings",
                slope,
            ),
            Measure(
                "slope_difference",
                "difference of two decay slopes, paired by setting (decades per step)",
                "MOVER interval (Zou & Donner 2008) from the two slopes' seed-bootstrap "
                "intervals; envelope over settings",
                slope_difference,
            ),
            Measure(
                "best_slope_difference",
                "the best (largest) decay slope of one population minus the other's",
                "MOVER interval (Zou & Donner 2008) from the two slopes' seed-bootstrap intervals",
                best_slope_difference,
            ),
            Measure(
                "divergence_rate",
                "fraction of runs whose loss or gradient became NaN/inf",
                "Wilson interval over runs",
                divergence_rate,
            ),
            Measure(
                "divergence_difference",
                "difference of two divergence rates over the same trials",
                "Newcombe's hybrid score interval on the difference of two rates",
                divergence_difference,
            ),
            Measure(
                "success_short_long",
                "success rate at each task's shortest T minus at its longest T",
                "Newcombe's hybrid score interval (skipped runs count as unsolved)",
                success_short_long,
            ),
            Measure(
                "horizon_difference",
                "horizon (largest T solved by >= 50% of seeds) of one population minus the "
                "other's best, per task",
                "bootstrap over seeds of the horizon difference (paired by seed); no horizon "
                "counts as 0; envelope over tasks",
                horizon_difference,
            ),
            Measure(
                "growth_exponent_difference",
                "exponent of the growth of the sequences to solve with T (sequences ~ T^b), one "
                "population's minus the other's",
                "95% Wald interval of a Weibull accelerated-failure-time fit (lifelines), runs "
                "that never solved right-censored at their budget",
                growth_exponent_difference,
            ),
            Measure(
                "horizon_log_ratio",
                "log2 of the ratio of two horizons, per task (1: twice as long)",
                "bootstrap over seeds of the horizons' log2 ratio (paired by seed); no horizon "
                "counts as 0; a horizon at the grid's largest T is censored (open above)",
                horizon_log_ratio,
            ),
            Measure(
                "median_loss_ratio",
                "median test loss over the input-blind baseline's",
                "bootstrap over runs of the median (diverged or skipped: infinite)",
                median_loss_ratio,
            ),
            Measure(
                "solved_fraction",
                "fraction of seeds solved (the task's solved rule on the test set)",
                "Wilson interval over seeds",
                lambda s: _fraction(_status(s.a, "solved")),
                tags=("target",),
            ),
            Measure(
                "fraction_below",
                "fraction of seeds whose final test loss is below the target's threshold",
                "Wilson interval over seeds",
                lambda s: _fraction(_losses(s.a) < s.threshold),
                tags=("target",),
            ),
            Measure(
                "fraction_below_baseline",
                "fraction of seeds whose final test loss is below threshold x the task's "
                "baseline loss (beating the input-blind baseline)",
                "Wilson interval over seeds",
                lambda s: _fraction(
                    _losses(s.a) < s.threshold * s.a["baseline_loss"].to_numpy(float)
                ),
                tags=("target",),
            ),
            Measure(
                "median_final_loss",
                "median over seeds of the final test loss",
                "bootstrap over seeds",
                lambda s: _scalar("median", _bootstrap(_losses(s.a), np.median), len(s.a)),
                tags=("target",),
            ),
            Measure(
                "median_final_metric",
                "median over seeds of the final test accuracy",
                "bootstrap over seeds",
                lambda s: _scalar("median", _bootstrap(_accuracies(s.a), np.median), len(s.a)),
                accuracy=True,
                tags=("target",),
            ),
            Measure(
                "mean_test_error",
                "mean over seeds of the fraction of test sequences not processed correctly",
                "bootstrap over seeds",
                lambda s: _scalar("mean", _bootstrap(1 - _accuracies(s.a), np.mean), len(s.a)),
                accuracy=True,
                tags=("target",),
            ),
            Measure(
                "mean_sequences_to_solve",
                "mean over seeds of the training sequences until solved on the validation set "
                "(a seed that never solved counts as its budget: then a lower bound)",
                "bootstrap over seeds (open above when a seed never solved)",
                lambda s: _scalar("mean", _sequences(s), len(s.a)),
                tags=("target",),
            ),
        )
    },
)

# The measures a replication target may name: those of one run's seeds.
TARGET_MEASURES = {name: m for name, m in MEASURES.items() if "target" in m.tags}
