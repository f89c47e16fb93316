"""The claims scorecard: each claim of the seed text and its anchor papers, tested on the tables.

Every claim is one function of the pipeline's tables returning a `Claim`: what is claimed, where,
the measurement that tests it, the expected outcome, the measured value and a verdict
(reproduced / not reproduced / inconclusive). A claim whose experiment is not in the config's
grid is inconclusive, with the reason as its measured value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .tasks import TASKS

SEED = "seed text"
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    measurement: str
    expected: str
    measured: str
    verdict: str
    value: float  # the headline number (NaN when not measured)


CLAIMS: dict[str, tuple[str, str, str, Callable]] = {}  # id -> (claim, source, expected, test)


def claim(cid: str, text: str, source: str, expected: str):
    """Register a test: a function of the tables -> (measurement, measured, verdict, value)."""

    def register(fn: Callable) -> Callable:
        CLAIMS[cid] = (text, source, expected, fn)
        return fn

    return register


class Missing(Exception):
    """The tables lack the runs a claim needs (the experiment is not in this grid)."""


def _verdict(ok: bool) -> str:
    return REPRODUCED if ok else NOT_REPRODUCED


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


def _e1(t, **where) -> pd.DataFrame:
    """E1 decay rates at initialisation, filtered."""
    return _select(t["decay_rates"], "e1_init", step=0, **where)


@claim(
    "linear_rho_power",
    "BPTT multiplies the gradient by W f' once per step; without a nonlinearity its norm "
    "follows |W|^(t-k)",
    SEED + " (backpropagation for RNN); closed form",
    "slope = log10(rho) for every rho",
)
def linear_rho_power(t) -> tuple:
    rates = _e1(t, cell="rnn", nonlinearity="linear", init="orthogonal")
    err = (rates["slope_log10_per_step"] - np.log10(rates["rho"])).abs().max()
    return (
        f"E1: fitted slope of log10 ||dE_T/dh_k|| against T-k, linear RNN, orthogonal W x rho, "
        f"rho in {_values(rates['rho'])}",
        f"largest |slope - log10(rho)| = {err:.1e} decades/step",
        _verdict(err < 1e-3),
        err,
    )


@claim(
    "exploding",
    "Exploding gradient: with |W| > 1 the gradient grows without bound over distance",
    SEED + " (exploding gradient)",
    "> 0 decades (growth) for every rho > 1",
)
def exploding(t) -> tuple:
    rates = _e1(t, cell="rnn", nonlinearity="linear", init="orthogonal")
    rates = rates[rates["rho"] > 1]
    if rates.empty:
        raise Missing("no E1 linear RNN with rho > 1 in this grid")
    gain = (rates["slope_log10_per_step"] * rates["max_distance"]).min()
    return (
        "E1: decades gained by ||dE_T/dh_k|| from k = T to k = 0, linear RNN, rho > 1",
        f"smallest gain: {gain:+.1f} decades over {int(rates['max_distance'].max())} steps",
        _verdict(gain > 0),
        gain,
    )


@claim(
    "vanishing",
    "Vanishing gradient: with |W| < 1 the gradient of distant steps shrinks towards 0",
    SEED + " (vanishing gradient)",
    "< 0 decades (decay) for every rho < 1",
)
def vanishing(t) -> tuple:
    rates = _e1(t, cell="rnn", nonlinearity=["linear", "tanh"], init="orthogonal")
    rates = rates[rates["rho"] < 1]
    if rates.empty:
        raise Missing("no E1 linear/tanh RNN with rho < 1 in this grid")
    loss = (rates["slope_log10_per_step"] * rates["max_distance"]).max()
    efold = rates["efold_steps"].max()
    return (
        "E1: decades lost by ||dE_T/dh_k|| over the sequence, linear and tanh RNN, rho < 1",
        f"smallest loss: {loss:+.1f} decades; longest e-folding length {efold:.1f} steps",
        _verdict(loss < 0),
        loss,
    )


@claim(
    "sigmoid_faster",
    "Gradients vanish faster with the sigmoid nonlinearity (sup f' = 1/4) than with tanh",
    SEED + " (vanishing gradient); Pascanu et al. 2013",
    "sigmoid steeper at every rho",
)
def sigmoid_faster(t) -> tuple:
    rates = _e1(t, cell="rnn", nonlinearity=["sigmoid", "tanh"], init="orthogonal")
    wide = rates.pivot_table(index="rho", columns="nonlinearity", values="slope_log10_per_step")
    if not {"sigmoid", "tanh"} <= set(wide.columns):
        raise Missing("E1 lacks sigmoid or tanh RNNs")
    faster = (wide["sigmoid"] < wide["tanh"]).sum()
    ratio = (wide["sigmoid"] / wide["tanh"]).median()
    return (
        "E1: decay slope of RNN-sigmoid against RNN-tanh at each rho (orthogonal init)",
        f"sigmoid steeper at {faster} of {len(wide)} rho values; median slope ratio {ratio:.1f}x",
        _verdict(faster == len(wide)),
        float(ratio),
    )


@claim(
    "relu_still_vanishes",
    "Even with ReLU the vanishing gradient problem still exists",
    SEED + " (vanishing gradient)",
    "slope < 0 (decay)",
)
def relu_still_vanishes(t) -> tuple:
    rates = _e1(t, cell="rnn", nonlinearity="relu", init="orthogonal")
    at_one = rates[np.isclose(rates["rho"], 1.0)]
    rates = at_one if not at_one.empty else rates
    slope = rates["slope_log10_per_step"].max()
    return (
        f"E1: decay slope of RNN-ReLU, orthogonal init, rho = {rates['rho'].min():g}",
        f"slope {slope:+.4f} decades/step ({slope * rates['max_distance'].max():+.1f} decades "
        "over the sequence)",
        _verdict(slope < 0),
        slope,
    )


@claim(
    "lstm_gradient_survives",
    "LSTM addresses the vanishing gradient: its gradient through time decays more slowly",
    SEED + " (LSTM); Hochreiter & Schmidhuber 1997",
    "LSTM slope > RNN-tanh slope",
)
def lstm_gradient_survives(t) -> tuple:
    lstm = _e1(t, cell="lstm")
    rnn = _e1(t, cell="rnn", nonlinearity="tanh", init="default")
    best_lstm, rnn_slope = lstm["slope_log10_per_step"].max(), rnn["slope_log10_per_step"].max()
    return (
        "E1: decay slope of LSTM (best forget bias) against RNN-tanh, both PyTorch's default init",
        f"LSTM {best_lstm:+.4f} vs RNN-tanh {rnn_slope:+.4f} decades/step",
        _verdict(best_lstm > rnn_slope),
        best_lstm - rnn_slope,
    )


@claim(
    "forget_bias",
    "A forget-gate bias of 1 keeps LSTM gradients alive over longer distances",
    "Jozefowicz et al. 2015",
    "slope(bias 1) > slope(bias 0)",
)
def forget_bias(t) -> tuple:
    lstm = _e1(t, cell="lstm").set_index("forget_bias")["slope_log10_per_step"]
    if not {0.0, 1.0} <= set(lstm.index):
        raise Missing("E1 lacks LSTMs with forget bias 0 and 1")
    return (
        "E1: decay slope of LSTM with forget bias 1 against forget bias 0",
        f"bias 1: {lstm[1.0]:+.4f}, bias 0: {lstm[0.0]:+.4f} decades/step",
        _verdict(lstm[1.0] > lstm[0.0]),
        float(lstm[1.0] - lstm[0.0]),
    )


def _e2(t) -> pd.DataFrame:
    return _select(t["runs"], "e2_clipping")


@claim(
    "unclipped_diverge",
    "Exploding gradients quickly turn the derivatives into NaN and crash training",
    SEED + " (exploding gradient)",
    "divergence rate > 0",
)
def unclipped_diverge(t) -> tuple:
    runs = _e2(t)
    none = runs[(runs["clip"] == "none") & (runs["rho"] > 1)]
    none = none if not none.empty else runs[runs["clip"] == "none"]
    if none.empty:
        raise Missing("E2 has no unclipped runs")
    rate = (none["status"] == "diverged").mean()
    steps = none["diverged_step"].dropna()
    when = f"; median step of divergence {steps.median():.0f}" if len(steps) else ""
    return (
        f"E2: divergence rate of unclipped RNNs, rho = {_values(none['rho'])}, "
        f"T = {_values(none['seq_len'])} ({len(none)} runs)",
        f"{rate:.0%} of unclipped runs diverged{when}",
        _verdict(rate > 0),
        rate,
    )


@claim(
    "clipping_prevents",
    "Gradient clipping prevents exploding gradients and works well",
    SEED + " (exploding gradient); Pascanu et al. 2013",
    "clipped rate < unclipped rate",
)
def clipping_prevents(t) -> tuple:
    runs = _e2(t)
    none = runs[runs["clip"] == "none"]
    norm = runs[(runs["clip"] == "norm") & (runs["clip_threshold"] <= 10)]
    if none.empty or norm.empty:
        raise Missing("E2 lacks unclipped or norm-clipped runs")
    r_none, r_norm = (none["status"] == "diverged").mean(), (norm["status"] == "diverged").mean()
    return (
        "E2: divergence rate with norm clipping (threshold <= 10) against no clipping, same cells",
        f"norm-clipped {r_norm:.0%} vs unclipped {r_none:.0%} diverged",
        _verdict(r_norm < r_none) if r_none > 0 else INCONCLUSIVE,
        r_none - r_norm,
    )


def _horizons(t, task=None) -> pd.DataFrame:
    where = {} if task is None else {"task": task}
    return _select(t["horizons"], "e3_long_range", **where)


def _horizon_by_variant(h: pd.DataFrame) -> pd.Series:
    """Largest T solved by >= half the seeds per variant (0 when none), over tasks: (task, var)."""
    best = h.groupby(["task", "variant"])["horizon"].max()
    return best.astype("float").fillna(0)


@claim(
    "long_range_hard",
    "Vanishing gradients make it hard for RNNs to learn long-range dependencies",
    SEED + " (vanishing gradient)",
    "success falls as T grows",
)
def long_range_hard(t) -> tuple:
    h = _horizons(t)
    vanilla = h[(h["cell"] == "rnn") & (h["nonlinearity"].isin(["tanh", "sigmoid"]))]
    if vanilla.empty:
        raise Missing("E3 has no tanh/sigmoid RNN")
    by_t = vanilla.groupby("seq_len")["success_rate"].mean()
    short, long = by_t.iloc[0], by_t.iloc[-1]
    return (
        "E3: mean success rate of RNN-tanh and RNN-sigmoid at the shortest and longest T",
        f"{short:.0%} at T = {by_t.index[0]} vs {long:.0%} at T = {by_t.index[-1]}",
        _verdict(long < short) if short > 0 else INCONCLUSIVE,
        long - short,
    )


@claim(
    "lstm_longest_horizon",
    "LSTM learns longer dependencies: its horizon exceeds every vanilla RNN's",
    SEED + " (LSTM); Hochreiter & Schmidhuber 1997",
    "LSTM horizon > every vanilla RNN horizon on every task",
)
def lstm_longest_horizon(t) -> tuple:
    best = _horizon_by_variant(_horizons(t))
    tasks = best.index.get_level_values("task").unique()
    lines, wins, ties = [], 0, 0
    for task in tasks:
        b = best[task]
        lstm = b.get("lstm", math.nan)
        vanilla = b[[v for v in b.index if v.startswith(("rnn", "irnn"))]]
        if math.isnan(lstm) or vanilla.empty:
            continue
        wins += lstm > vanilla.max()
        ties += lstm == vanilla.max()
        lines.append(f"{task}: LSTM {lstm:.0f} vs best RNN {vanilla.max():.0f}")
    if not lines:
        raise Missing("E3 lacks an LSTM or a vanilla RNN")
    verdict = (
        REPRODUCED
        if wins == len(lines)
        else INCONCLUSIVE
        if wins + ties == len(lines)
        else NOT_REPRODUCED
    )
    return (
        "E3: horizon (largest T solved by >= 50% of seeds) per task, LSTM against RNN variants",
        "; ".join(lines),
        verdict,
        float(wins),
    )


@claim(
    "irnn_adding",
    "An identity-initialised ReLU RNN (IRNN) learns longer adding problems than a tanh RNN",
    "Le et al. 2015",
    "IRNN horizon >= RNN-tanh horizon",
)
def irnn_adding(t) -> tuple:
    best = _horizon_by_variant(_horizons(t, "adding"))["adding"]
    if not {"irnn", "rnn-tanh"} <= set(best.index):
        raise Missing("E3 lacks irnn or rnn-tanh on adding")
    return (
        "E3: adding-task horizon of IRNN against RNN-tanh",
        f"IRNN {best['irnn']:.0f} vs RNN-tanh {best['rnn-tanh']:.0f}",
        _verdict(best["irnn"] >= best["rnn-tanh"]),
        float(best["irnn"] - best["rnn-tanh"]),
    )


@claim(
    "copy_lstm_beats_baseline",
    "LSTM beats the memoryless baseline on the copy task at T = 100",
    "Arjovsky et al. 2016",
    "ratio < 1",
)
def copy_lstm_beats_baseline(t) -> tuple:
    runs = _select(t["runs"], "e3_long_range", task="copy", cell="lstm", seq_len=100)
    ratio = (runs["final_loss"] / runs["baseline_loss"]).median()
    return (
        "E3: median held-out cross-entropy of LSTM over the baseline 10 ln 8 / (T + 20)",
        f"median loss / baseline = {ratio:.2f}",
        _verdict(ratio < 1),
        ratio,
    )


@claim(
    "adding_baseline",
    "The adding problem's trivial baseline (always predict 1) has MSE 1/6",
    "Arjovsky et al. 2016",
    "0.1667",
)
def adding_baseline(t) -> tuple:
    task = TASKS["adding"]
    _, y = task.sample(100_000, 100, np.random.default_rng(0))
    mse = float(np.mean((y - 1.0) ** 2))
    return (
        "MSE of predicting 1 on 100,000 generated adding sequences (T = 100)",
        f"{mse:.4f}",
        _verdict(abs(mse - 1 / 6) < 0.005),
        mse,
    )


@claim(
    "training_flow",
    "After training, the LSTM still carries gradient further back in time than the RNN",
    SEED + " (LSTM)",
    "LSTM slope > RNN slope",
)
def training_flow(t) -> tuple:
    rates = _select(t["decay_rates"], "e4_gradient_flow")
    last = rates[rates["step"] == rates["step"].max()]
    rnn = last[last["cell"] == "rnn"]["slope_log10_per_step"].mean()
    lstm = last[last["cell"] == "lstm"]["slope_log10_per_step"].mean()
    if math.isnan(rnn) or math.isnan(lstm):
        raise Missing("E4 lacks an RNN or an LSTM")
    return (
        f"E4: decay slope of the gradient profile at step {int(last['step'].max())}, "
        "RNN-tanh against LSTM",
        f"LSTM {lstm:+.4f} vs RNN-tanh {rnn:+.4f} decades/step",
        _verdict(lstm > rnn),
        lstm - rnn,
    )


def scorecard(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim, in the order they are defined above."""
    rows = []
    for cid, (text, source, expected, fn) in CLAIMS.items():
        try:
            measurement, measured, verdict, value = fn(tables)
        except Missing as why:
            measurement, measured, verdict, value = "not measured", str(why), INCONCLUSIVE, math.nan
        rows.append(
            asdict(Claim(cid, text, source, measurement, expected, measured, verdict, float(value)))
        )
    return pd.DataFrame(rows)
