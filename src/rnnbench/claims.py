"""The claims scorecard: each claim of the papers the benchmark rests on, tested on the tables.

A claim is registered with its source, its statistical test, the effect it is about and the
region that effect is claimed to lie in (`Region`); its function measures the effect on the
pipeline's tables (selected runs only) and returns a `Measured`: n, the point estimate and its
95% interval. One rule, `verdict`, turns interval and region into the verdict: reproduced iff the
interval lies strictly inside the claimed region, not reproduced iff strictly outside it, and
inconclusive otherwise (an interval touching or straddling the region's edge, a tie, a claim
whose experiment is not in the config's grid; the reason is then the measured value).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import aggregate, stats
from .registry import Registry

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"

BENGIO_1994 = "Bengio, Simard & Frasconi 1994"
HOCHREITER_1991 = "Hochreiter 1991"
PASCANU_2013 = "Pascanu, Mikolov & Bengio 2013"
LSTM_1997 = "Hochreiter & Schmidhuber 1997"
LE_2015 = "Le, Jaitly & Hinton 2015"
ARJOVSKY_2016 = "Arjovsky, Shah & Bengio 2016"
JOZEFOWICZ_2015 = "Jozefowicz, Zaremba & Sutskever 2015"

SLOPE_TOLERANCE = 1e-3  # decades per step: how close "slope = log10(rho)" must be
SLOPE_TEST = "bootstrap over seeds of each setting's mean decay slope"
MOVER_TEST = (
    "MOVER interval (Zou & Donner 2008) on the difference of two mean decay slopes, from "
    "their seed-bootstrap intervals"
)
HORIZON_TEST = "bootstrap over seeds of the horizon difference (paired by seed)"


@dataclass(frozen=True)
class Region:
    """The values the claimed effect may take: the open interval (low, high)."""

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


def verdict(low: float, high: float, claimed: Region) -> str:
    """Reproduced iff [low, high] lies strictly inside the claimed region, not reproduced iff it
    lies strictly outside it, else (touching or straddling its edge, ties, NaN) inconclusive."""
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if claimed.low < low and high < claimed.high:
        return REPRODUCED
    if high < claimed.low or low > claimed.high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


@dataclass(frozen=True)
class Measured:
    measurement: str  # what was measured, on which runs
    n: int  # seeds (bootstrap) or runs (rates) behind the interval
    effect: float  # the point estimate
    low: float  # its 95% interval
    high: float
    measured: str  # the result as text


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    measurement: str
    test: str
    n: int
    effect: float
    low: float
    high: float
    expected: str
    measured: str
    verdict: str


@dataclass(frozen=True)
class Spec:
    text: str
    source: str
    test: str
    effect: str  # what `effect` is, in words
    claimed: Region
    fn: Callable


CLAIMS: Registry[Spec] = Registry("claim")


def claim(cid: str, text: str, source: str, test: str, effect: str, claimed: Region):
    """Register a claim; its function maps the tables to a Measured."""

    def register(fn: Callable) -> Callable:
        CLAIMS.add(cid, Spec(text, source, test, effect, claimed, fn))
        return fn

    return register


class Missing(Exception):
    """The tables lack the runs a claim needs (the experiment is not in this grid)."""


def num(x: float, spec: str = ".3g") -> str:
    """x for claim texts: NaN as an en dash, infinities as signs."""
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return format(x, spec)


def interval(effect: float, low: float, high: float, spec: str = ".3g") -> str:
    return f"{num(effect, spec)} [{num(low, spec)}, {num(high, spec)}]"


def _select(df: pd.DataFrame, experiment: str, **where) -> pd.DataFrame:
    out = df[df["experiment"] == experiment] if "experiment" in df else df.iloc[:0]
    for col, value in where.items():
        if out.empty:
            break
        out = out[out[col].isin(value if isinstance(value, list | tuple) else [value])]
    if out.empty:
        setting = ", ".join(f"{k} = {v}" for k, v in where.items()) or "any setting"
        raise Missing(f"no {experiment} runs with {setting} in this grid")
    return out


def _values(col: pd.Series) -> str:
    return "{" + ", ".join(f"{v:g}" for v in sorted(col.unique())) + "}"


def _smallest(effect, low, high) -> tuple[float, float, float]:
    """The smallest of several settings' effects, with the envelope of their intervals (NaN if
    any interval is NaN): claims that an effect is positive in every setting use it."""
    return tuple(float(np.min(np.asarray(v, dtype=float))) for v in (effect, low, high))


def _largest(effect, low, high) -> tuple[float, float, float]:
    return tuple(float(np.max(np.asarray(v, dtype=float))) for v in (effect, low, high))


def _mover(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise slope(a) - slope(b) with its MOVER interval."""
    cols = ["slope_log10_per_step", "slope_low", "slope_high"]
    pairs = [
        stats.mover_interval(x, (xl, xh), y, (yl, yh))
        for (x, xl, xh), (y, yl, yh) in zip(a[cols].to_numpy(), b[cols].to_numpy(), strict=True)
    ]
    low, high = np.array(pairs).reshape(-1, 2).T
    return (a["slope_log10_per_step"].to_numpy() - b["slope_log10_per_step"].to_numpy(), low, high)


def _paired(a: pd.DataFrame, b: pd.DataFrame, on: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a and b that share the `on` columns, aligned."""
    both = a.merge(b, on=on, suffixes=("", "_b"))
    if both.empty:
        raise Missing("no pair of settings to compare in this grid")
    cols = ["slope_log10_per_step", "slope_low", "slope_high", "n_seeds"]
    return both[on + cols], both[on + [f"{c}_b" for c in cols]].set_axis(on + cols, axis=1)


def _e1(t, **where) -> pd.DataFrame:
    """E1 decay rates at initialisation, filtered."""
    return _select(t["decay_rates"], "e1_init", step=0, **where)


@claim(
    "linear_rho_power",
    "BPTT multiplies the gradient by W f' once per step; without a nonlinearity its norm "
    "follows |W|^(t-k)",
    f"{BENGIO_1994}; {PASCANU_2013}; closed form",
    f"{SLOPE_TEST}; a claimed equality, tested against a tolerance of {SLOPE_TOLERANCE:g} "
    "decades/step on the largest |slope - log10(rho)| over rho (envelope of the intervals)",
    "largest |slope - log10(rho)| (decades/step)",
    below(SLOPE_TOLERANCE),
)
def linear_rho_power(t) -> Measured:
    rates = _e1(t, cell="rnn", nonlinearity="linear", init="orthogonal")
    log_rho = np.log10(rates["rho"].to_numpy())
    dev = rates["slope_log10_per_step"].to_numpy() - log_rho
    lo, hi = rates["slope_low"].to_numpy() - log_rho, rates["slope_high"].to_numpy() - log_rho
    nearest = np.where(lo > 0, lo, np.where(hi < 0, -hi, 0.0))  # smallest |dev| in the interval
    nearest[np.isnan(lo) | np.isnan(hi)] = np.nan
    effect, low, high = _largest(np.abs(dev), nearest, np.maximum(np.abs(lo), np.abs(hi)))
    n = int(rates["n_seeds"].min())
    return Measured(
        f"E1: fitted slope of log10 ||dE_T/dh_k|| against T-k, linear RNN, orthogonal W x rho, "
        f"rho in {_values(rates['rho'])}",
        n,
        effect,
        low,
        high,
        f"largest |slope - log10(rho)| = {interval(effect, low, high, '.1e')} decades/step, "
        f"n = {n} seeds per rho",
    )


@claim(
    "exploding",
    "Exploding gradient: with |W| > 1 the gradient grows without bound over distance",
    f"{BENGIO_1994}; {PASCANU_2013}",
    f"{SLOPE_TEST} (x the sequence length); the smallest over rho > 1 (envelope)",
    "smallest gain over the sequence, rho > 1 (decades)",
    above(0),
)
def exploding(t) -> Measured:
    rates = _e1(t, cell="rnn", nonlinearity="linear", init="orthogonal")
    rates = rates[rates["rho"] > 1]
    if rates.empty:
        raise Missing("no E1 linear RNN with rho > 1 in this grid")
    d = rates["max_distance"]
    effect, low, high = _smallest(
        *(rates[c] * d for c in ("slope_log10_per_step", "slope_low", "slope_high"))
    )
    n = int(rates["n_seeds"].min())
    return Measured(
        "E1: decades gained by ||dE_T/dh_k|| from k = T to k = 0, linear RNN, rho > 1",
        n,
        effect,
        low,
        high,
        f"smallest gain: {interval(effect, low, high, '+.1f')} decades over "
        f"{int(d.max())} steps, n = {n} seeds per rho",
    )


@claim(
    "vanishing",
    "Vanishing gradient: with |W| < 1 the gradient of distant steps shrinks towards 0",
    f"{HOCHREITER_1991}; {BENGIO_1994}",
    f"{SLOPE_TEST} (x the sequence length); the largest over rho < 1 (envelope)",
    "smallest loss over the sequence, rho < 1 (decades; negative = decay)",
    below(0),
)
def vanishing(t) -> Measured:
    rates = _e1(t, cell="rnn", nonlinearity=["linear", "tanh"], init="orthogonal")
    rates = rates[rates["rho"] < 1]
    if rates.empty:
        raise Missing("no E1 linear/tanh RNN with rho < 1 in this grid")
    d = rates["max_distance"]
    effect, low, high = _largest(
        *(rates[c] * d for c in ("slope_log10_per_step", "slope_low", "slope_high"))
    )
    n = int(rates["n_seeds"].min())
    return Measured(
        "E1: decades lost by ||dE_T/dh_k|| over the sequence, linear and tanh RNN, rho < 1",
        n,
        effect,
        low,
        high,
        f"smallest loss: {interval(effect, low, high, '+.1f')} decades, n = {n} seeds per "
        f"setting; longest e-folding length {num(rates['efold_steps'].max(), '.1f')} steps",
    )


@claim(
    "sigmoid_faster",
    "Gradients vanish faster with the sigmoid nonlinearity (sup f' = 1/4) than with tanh",
    f"{HOCHREITER_1991}; {LSTM_1997}",
    f"{MOVER_TEST}; the largest over rho (envelope)",
    "sigmoid slope - tanh slope, least negative over rho (decades/step)",
    below(0),
)
def sigmoid_faster(t) -> Measured:
    on = ["task", "seq_len", "hidden_size", "rho"]
    sig, tanh = _paired(
        _e1(t, cell="rnn", nonlinearity="sigmoid", init="orthogonal"),
        _e1(t, cell="rnn", nonlinearity="tanh", init="orthogonal"),
        on,
    )
    diff, lows, highs = _mover(sig, tanh)
    effect, low, high = _largest(diff, lows, highs)
    n = int(min(sig["n_seeds"].min(), tanh["n_seeds"].min()))
    return Measured(
        "E1: decay slope of RNN-sigmoid minus RNN-tanh at each rho (orthogonal init)",
        n,
        effect,
        low,
        high,
        f"sigmoid steeper at {int((diff < 0).sum())} of {len(diff)} rho values; least "
        f"difference {interval(effect, low, high, '+.3g')} decades/step, n = {n} seeds each",
    )


@claim(
    "relu_still_vanishes",
    "Even with ReLU the vanishing gradient problem still exists",
    f"{PASCANU_2013}; {LE_2015}",
    SLOPE_TEST,
    "RNN-ReLU decay slope at rho = 1 (decades/step)",
    below(0),
)
def relu_still_vanishes(t) -> Measured:
    rates = _e1(t, cell="rnn", nonlinearity="relu", init="orthogonal")
    at_one = rates[np.isclose(rates["rho"], 1.0)]
    rates = at_one if not at_one.empty else rates
    effect, low, high = _largest(
        *(rates[c] for c in ("slope_log10_per_step", "slope_low", "slope_high"))
    )
    n = int(rates["n_seeds"].min())
    return Measured(
        f"E1: decay slope of RNN-ReLU, orthogonal init, rho = {rates['rho'].min():g}",
        n,
        effect,
        low,
        high,
        f"slope {interval(effect, low, high, '+.4f')} decades/step, n = {n} seeds "
        f"({num(effect * rates['max_distance'].max(), '+.1f')} decades over the sequence)",
    )


@claim(
    "lstm_gradient_survives",
    "LSTM addresses the vanishing gradient: its gradient through time decays more slowly",
    LSTM_1997,
    MOVER_TEST,
    "LSTM slope (best forget bias) - RNN-tanh slope (decades/step)",
    above(0),
)
def lstm_gradient_survives(t) -> Measured:
    lstm = _e1(t, cell="lstm").nlargest(1, "slope_log10_per_step")
    rnn = _e1(t, cell="rnn", nonlinearity="tanh", init="default").nlargest(
        1, "slope_log10_per_step"
    )
    if lstm.empty or rnn.empty:
        raise Missing("E1 has no finite LSTM or RNN-tanh slope")
    (effect,), (low,), (high,) = _mover(lstm, rnn)
    n = int(min(lstm["n_seeds"].min(), rnn["n_seeds"].min()))
    return Measured(
        "E1: decay slope of LSTM (best forget bias) against RNN-tanh, both PyTorch's default init",
        n,
        effect,
        low,
        high,
        f"LSTM {num(lstm['slope_log10_per_step'].iloc[0], '+.4f')} vs RNN-tanh "
        f"{num(rnn['slope_log10_per_step'].iloc[0], '+.4f')} decades/step; difference "
        f"{interval(effect, low, high, '+.4f')}, n = {n} seeds each",
    )


@claim(
    "forget_bias",
    "A forget-gate bias of 1 keeps LSTM gradients alive over longer distances",
    JOZEFOWICZ_2015,
    f"{MOVER_TEST}; the smallest over settings (envelope)",
    "LSTM slope with forget bias 1 - with forget bias 0 (decades/step)",
    above(0),
)
def forget_bias(t) -> Measured:
    lstm = _e1(t, cell="lstm")
    if not {0.0, 1.0} <= set(lstm["forget_bias"]):
        raise Missing("E1 lacks LSTMs with forget bias 0 and 1")
    one, zero = _paired(
        lstm[lstm["forget_bias"] == 1.0],
        lstm[lstm["forget_bias"] == 0.0],
        ["task", "seq_len", "hidden_size", "init"],
    )
    effect, low, high = _smallest(*_mover(one, zero))
    n = int(min(one["n_seeds"].min(), zero["n_seeds"].min()))
    return Measured(
        "E1: decay slope of LSTM with forget bias 1 against forget bias 0",
        n,
        effect,
        low,
        high,
        f"bias 1 minus bias 0: {interval(effect, low, high, '+.4f')} decades/step, "
        f"n = {n} seeds each",
    )


def _e2(t) -> pd.DataFrame:
    runs = _select(t["runs"], "e2_clipping")
    return runs[runs["selected"]]


@claim(
    "unclipped_diverge",
    "Exploding gradients quickly turn the derivatives into NaN and crash most unclipped runs",
    PASCANU_2013,
    "Wilson interval on the divergence rate",
    "divergence rate of unclipped runs, rho > 1",
    above(0.5),
)
def unclipped_diverge(t) -> Measured:
    runs = _e2(t)
    none = runs[(runs["clip"] == "none") & (runs["rho"] > 1)]
    none = none if not none.empty else runs[runs["clip"] == "none"]
    if none.empty:
        raise Missing("E2 has no unclipped runs")
    k, n = int((none["status"] == "diverged").sum()), len(none)
    low, high = stats.wilson_interval(k, n)
    steps = none["diverged_step"].dropna()
    when = f"; median step of divergence {steps.median():.0f}" if len(steps) else ""
    return Measured(
        f"E2: divergence rate of unclipped RNNs, rho = {_values(none['rho'])}, "
        f"T = {_values(none['seq_len'])}",
        n,
        k / n,
        low,
        high,
        f"{k} of {n} unclipped runs diverged: {interval(k / n, low, high, '.0%')}{when}",
    )


@claim(
    "clipping_prevents",
    "Gradient clipping prevents exploding gradients and works well",
    PASCANU_2013,
    "Newcombe interval on the difference of divergence rates",
    "unclipped minus norm-clipped (threshold <= 10) divergence rate, same cells",
    above(0),
)
def clipping_prevents(t) -> Measured:
    runs = _e2(t)
    none = runs[runs["clip"] == "none"]
    norm = runs[(runs["clip"] == "norm") & (runs["clip_threshold"] <= 10)]
    cells = set(none["cell_id"]) & set(norm["cell_id"])
    none, norm = none[none["cell_id"].isin(cells)], norm[norm["cell_id"].isin(cells)]
    if not cells:
        raise Missing("E2 lacks unclipped and norm-clipped runs of the same cells")
    k1, n1 = int((none["status"] == "diverged").sum()), len(none)
    k2, n2 = int((norm["status"] == "diverged").sum()), len(norm)
    low, high = stats.newcombe_interval(k1, n1, k2, n2)
    effect = k1 / n1 - k2 / n2
    return Measured(
        "E2: divergence rate with norm clipping (threshold <= 10) against no clipping, same cells",
        n1 + n2,
        effect,
        low,
        high,
        f"unclipped {k1}/{n1} vs norm-clipped {k2}/{n2} diverged; difference "
        f"{interval(effect, low, high, '+.3g')}",
    )


def _e3_runs(t, **where) -> pd.DataFrame:
    runs = _select(t["runs"], "e3_long_range", **where)
    return runs[runs["selected"]]


@claim(
    "long_range_hard",
    "Vanishing gradients make it hard for RNNs to learn long-range dependencies",
    f"{BENGIO_1994}; {LSTM_1997}",
    "Newcombe interval on the difference of success rates (skipped runs count as unsolved)",
    "success rate of RNN-tanh/sigmoid at each task's shortest T minus at its longest T",
    above(0),
)
def long_range_hard(t) -> Measured:
    h = _select(t["horizons"], "e3_long_range", cell="rnn", nonlinearity=["tanh", "sigmoid"])
    h = h[h["init"] != "identity"]
    ends = h.groupby("task")["seq_len"].agg(["min", "max"])
    ends = ends[ends["min"] < ends["max"]]
    if ends.empty:
        raise Missing("E3 has a single sequence length per task")
    short = h[h["seq_len"] == h["task"].map(ends["min"])]
    long = h[h["seq_len"] == h["task"].map(ends["max"])]
    k1, n1, k2, n2 = (int(d[c].sum()) for d in (short, long) for c in ("n_solved", "n_runs"))
    low, high = stats.newcombe_interval(k1, n1, k2, n2)
    effect = k1 / n1 - k2 / n2
    return Measured(
        "E3: success rate of RNN-tanh and RNN-sigmoid at each task's shortest and longest T "
        f"({', '.join(f'{task} T = {a}, {b}' for task, (a, b) in ends.iterrows())})",
        n1 + n2,
        effect,
        low,
        high,
        f"{k1}/{n1} solved at the shortest T vs {k2}/{n2} at the longest; difference "
        f"{interval(effect, low, high, '+.3g')}",
    )


def _horizon_difference(runs: pd.DataFrame, better, worse) -> tuple[float, float, float, int]:
    """Best horizon of the runs where `better` minus best where `worse` (masks), with the
    bootstrap interval resampling the seeds (the same seeds for both sides)."""
    seeds = sorted(runs["seed"].unique())
    idx = stats.resample_indices(len(seeds))
    everyone = np.arange(len(seeds))[None]

    def best(mask, rows):
        groups = runs[mask].groupby(aggregate.HORIZON_GROUP, dropna=False)
        return np.max(
            [
                aggregate.horizon_samples(*aggregate.solved_matrix(g, seeds), rows)
                for _, g in groups
            ],
            axis=0,
        )

    effect = float(best(better, everyone)[0] - best(worse, everyone)[0])
    low, high = stats.percentile_interval(best(better, idx) - best(worse, idx))
    return effect, low, high, len(seeds)


@claim(
    "lstm_longest_horizon",
    "LSTM learns longer dependencies: its horizon exceeds every vanilla RNN's on every task",
    LSTM_1997,
    f"{HORIZON_TEST}, per task; the smallest over tasks (envelope); no horizon counts as 0",
    "LSTM horizon - best vanilla-RNN horizon, smallest over tasks (steps)",
    above(0),
)
def lstm_longest_horizon(t) -> Measured:
    runs = _e3_runs(t)
    rows = []
    for task, r in runs.groupby("task"):
        lstm, vanilla = r["cell"] == "lstm", r["cell"] == "rnn"
        if lstm.any() and vanilla.any():
            rows.append((task, *_horizon_difference(r, lstm, vanilla)))
    if not rows:
        raise Missing("E3 lacks an LSTM or a vanilla RNN")
    table = pd.DataFrame(rows, columns=["task", "effect", "low", "high", "n"])
    effect, low, high = _smallest(table["effect"], table["low"], table["high"])
    above_zero = table.loc[table["low"] > 0, "task"].tolist()
    return Measured(
        "E3: horizon (largest T solved by >= 50% of seeds) per task, LSTM against RNN variants",
        int(table["n"].min()),
        effect,
        low,
        high,
        "; ".join(
            f"{r.task}: LSTM minus best RNN {interval(r.effect, r.low, r.high, '+g')}, n = {r.n}"
            for r in table.itertuples()
        )
        + f"; interval above 0 on: {', '.join(above_zero) or 'no task'}",
    )


@claim(
    "irnn_adding",
    "An identity-initialised ReLU RNN (IRNN) learns longer adding problems than a tanh RNN",
    LE_2015,
    f"{HORIZON_TEST}; no horizon counts as 0",
    "IRNN horizon - RNN-tanh horizon on adding (steps)",
    above(0),
)
def irnn_adding(t) -> Measured:
    runs = _e3_runs(t, task="adding", cell="rnn")
    irnn = (runs["nonlinearity"] == "relu") & (runs["init"] == "identity")
    tanh = (runs["nonlinearity"] == "tanh") & (runs["init"] != "identity")
    if not (irnn.any() and tanh.any()):
        raise Missing("E3 lacks an IRNN or an RNN-tanh on adding")
    effect, low, high, n = _horizon_difference(runs, irnn, tanh)
    return Measured(
        "E3: adding-task horizon of IRNN against RNN-tanh",
        n,
        effect,
        low,
        high,
        f"IRNN minus RNN-tanh horizon {interval(effect, low, high, '+g')} steps, n = {n} seeds",
    )


@claim(
    "copy_lstm_beats_baseline",
    "LSTM beats the memoryless baseline on the copy task at T = 100",
    ARJOVSKY_2016,
    "bootstrap over runs of the median test loss / baseline (diverged or skipped: infinite)",
    "median test cross-entropy / memoryless baseline",
    below(1),
)
def copy_lstm_beats_baseline(t) -> Measured:
    runs = _e3_runs(t, task="copy", cell="lstm", seq_len=100)
    if (runs["status"] == "skipped").all():  # never trained: the ladder measured nothing here
        raise Missing(
            "the copy T = 100 LSTM cell was not trained: the horizon ladder skipped it (every "
            f"seed failed the solved criterion at T = {int(runs['skipped_after'].iloc[0])})"
        )
    ratio = (runs["final_loss"] / runs["baseline_loss"]).to_numpy(dtype=float)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    effect = float(np.median(ratio))
    low, high = stats.bootstrap_interval(ratio, np.median)
    return Measured(
        "E3: median test cross-entropy of LSTM over the baseline 10 ln 8 / (T + 20), T = 100",
        len(ratio),
        effect,
        low,
        high,
        f"median loss / baseline = {interval(effect, low, high, '.2f')}, n = {len(ratio)} runs",
    )


@claim(
    "training_flow",
    "After training, the LSTM still carries gradient further back in time than the RNN",
    LSTM_1997,
    f"{MOVER_TEST}; the smallest over settings (envelope)",
    "LSTM slope - RNN slope at the last profiled step (decades/step)",
    above(0),
)
def training_flow(t) -> Measured:
    rates = _select(t["decay_rates"], "e4_gradient_flow")
    rates = aggregate.selected_only(rates, t["runs"])
    last = rates[rates["step"] == rates["step"].max()]
    lstm, rnn = _paired(
        last[last["cell"] == "lstm"],
        last[last["cell"] == "rnn"],
        ["task", "seq_len", "hidden_size", "clip", "clip_threshold"],
    )
    effect, low, high = _smallest(*_mover(lstm, rnn))
    n = int(min(lstm["n_seeds"].min(), rnn["n_seeds"].min()))
    return Measured(
        f"E4: decay slope of the gradient profile at step {int(last['step'].max())}, "
        "RNN-tanh against LSTM (selected lr)",
        n,
        effect,
        low,
        high,
        f"LSTM {num(lstm['slope_log10_per_step'].iloc[0], '+.4f')} vs RNN "
        f"{num(rnn['slope_log10_per_step'].iloc[0], '+.4f')} decades/step; difference "
        f"{interval(effect, low, high, '+.4f')}, n = {n} seeds each",
    )


def scorecard(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim, in the order they are defined above."""
    rows = []
    for cid, spec in CLAIMS.items():
        try:
            m = spec.fn(tables)
        except Missing as why:
            m = Measured("not measured", 0, math.nan, math.nan, math.nan, str(why))
        rows.append(
            asdict(
                Claim(
                    cid,
                    spec.text,
                    spec.source,
                    m.measurement,
                    spec.test,
                    int(m.n),
                    float(m.effect),
                    float(m.low),
                    float(m.high),
                    f"{spec.effect} {spec.claimed}",
                    m.measured,
                    verdict(m.low, m.high, spec.claimed),
                )
            )
        )
    return pd.DataFrame(rows)
