"""E2: exploding gradients and clipping. Vanilla RNNs at rho >= 1 trained without clipping and
with norm and value clipping at several thresholds (all clip settings of a trial in one job).
The experiment's claims, its figures F2 (divergence rates) and F3 (gradient norm traces) and its
report section."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import aggregate
from ..claims import Claim, conclusion
from ..numbers import ci, fmt, pct
from ..plotting import (
    NONLINEARITY_ORDER,
    PAGE_WIDTH_IN,
    Figure,
    clip_order,
    clip_styles,
    errorbars,
    hide_empty,
    legend_below,
    panel_name,
    seed_range,
    style,
    subplots,
    xlabel,
)
from ..report import CLIPPING, Section, Table, absent
from ..results import divergence_rates
from ..sections import TrainSection
from ..selection import selected
from ..verdicts import above
from .base import PASCANU_2013, Experiment

UNCLIPPED_DIVERGE = Claim(
    "unclipped_diverge",
    "Without clipping, exploding gradients make most runs of an RNN whose state can grow "
    "without bound (linear, ReLU) at rho > 1 diverge: their loss or gradient becomes NaN/inf",
    f"{PASCANU_2013} (Section 2, exploding gradients; Section 3.2, why they are clipped)",
    "runs",
    {"clip": "none", "rho": (">", 1), "nonlinearity": ["linear", "relu"]},
    "divergence_rate",
    "divergence rate of unclipped runs at rho > 1, per nonlinearity that can diverge (the "
    "smallest decides)",
    above(0.5),
    by=("nonlinearity",),
    reduce="min",
    sentences={
        "reproduced": "Most unclipped runs at rho > 1 diverge: the exploding gradient turns "
        "their loss or gradient non-finite.",
        "not reproduced": "Fewer than half of the unclipped runs at rho > 1 diverge here.",
        "inconclusive": "Whether most unclipped runs at rho > 1 diverge is not decided by these "
        "intervals.",
    },
)
CLIPPING_PREVENTS = Claim(
    "clipping_prevents",
    "Gradient clipping prevents exploding gradients and works well",
    PASCANU_2013,
    "runs",
    {"clip": "none"},
    "divergence_difference",
    "unclipped minus norm-clipped (threshold <= 10) divergence rate, same trials",
    above(0),
    versus={"clip": "norm", "clip_threshold": ("<=", 10)},
    labels=("unclipped", "norm-clipped"),
    sentences={
        "reproduced": "Norm clipping (threshold <= 10) prevents it: fewer runs diverge with it "
        "than without clipping, on the same trials.",
        "not reproduced": "More runs diverge with norm clipping (threshold <= 10) than without "
        "clipping here, on the same trials.",
        "inconclusive": "Whether norm clipping (threshold <= 10) makes fewer runs diverge than "
        "no clipping is not decided by these intervals.",
    },
)


# F2 -------------------------------------------------------------------------------------------


def divergence_data(runs: pd.DataFrame) -> pd.DataFrame:
    """Selected runs: the divergence rate with its Wilson interval per nonlinearity x rho x
    clip setting x T (`results.divergence_rates`, as the report's table)."""
    keys = ["cell", "cell_label", "nonlinearity", "rho", *aggregate.CLIP, "seq_len"]
    rates = divergence_rates(selected(runs), keys)
    return rates.sort_values(["nonlinearity", "rho", "seq_len"])


def plot_divergence(runs: pd.DataFrame) -> plt.Figure:
    """F2: divergence rate against T per clip setting (Wilson 95% bars), one panel per
    nonlinearity and rho; the clip settings of one T side by side within its slot."""
    style()
    data = divergence_data(runs)
    panels = data[["cell", "nonlinearity", "rho"]].drop_duplicates()
    panels = panels.sort_values(["rho", "cell", "nonlinearity"])
    order = clip_order(data)
    styles = clip_styles(data)
    lengths = sorted(data["seq_len"].unique())
    n = max(len(panels), 1)
    points = len(order) * len(lengths)  # per panel
    cols = max(1, min(n, int((PAGE_WIDTH_IN - 0.2) // (0.16 * points + 0.8))))
    rows = math.ceil(n / cols)
    fig, axes = subplots(rows, cols, 1.75, extra=1.3, sharey=True)
    for ax, (_, p) in zip(axes.flat, panels.iterrows(), strict=False):
        sub = data[
            (data["cell"] == p["cell"])
            & (data["nonlinearity"] == p["nonlinearity"])
            & (data["rho"] == p["rho"])
        ]
        for i, label in enumerate(order):
            d = sub[sub["clip_setting"] == label]
            # within +-0.3 of T's slot: each point stays nearer its own T than the next
            offset = 0.6 * (i / max(len(order) - 1, 1) - 0.5)
            color, marker = styles[label]
            errorbars(ax, np.searchsorted(lengths, d["seq_len"]) + offset, d["divergence_rate"],
                       d["low"], d["high"], fmt=marker, ms=3.5, color=color, label=label,
                       lw=1)  # fmt: skip
        for k in range(1, len(lengths)):
            ax.axvline(k - 0.5, color="0.75", lw=0.8)  # the slots' borders
        ax.set_xticks(range(len(lengths)), [f"{t:g}" for t in lengths])
        ax.set_xlim(-0.5, len(lengths) - 0.5)
        ax.xaxis.grid(False)
        ax.set_ylim(-0.08, 1.08)
        ax.set_title(f"{panel_name(sub)}, rho = {p['rho']:g}, n = {sub['n_runs'].max()} per point")
    hide_empty(axes, len(panels))
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction diverged")
    xlabel(axes, "sequence length T (steps)")
    handles = [
        Line2D([], [], color=styles[s][0], marker=styles[s][1], ls="none", ms=5) for s in order
    ]
    legend_below(fig, handles, order, title="clipping (bars: 95% Wilson interval)")
    fig.suptitle("F2  Fraction of runs that diverged (non-finite loss or gradient)")
    return fig


# F3 -------------------------------------------------------------------------------------------


def grad_norm_traces_data(curves: pd.DataFrame) -> pd.DataFrame:
    """At E2's largest rho and T, every clip setting: the median gradient norm per step over
    the seeds whose gradient is still finite (NaN once none is), and the seeds whose gradient
    became non-finite (diverged) at that step.

    line is the clip setting (and its lr in a sweep).
    """
    df = curves[
        (curves["rho"] == curves["rho"].max()) & (curves["seq_len"] == curves["seq_len"].max())
    ]
    line = df["clip_setting"]
    if df["lr"].nunique() > 1:  # an lr sweep: one line per clip setting and lr
        line = line + ", lr " + df["lr"].map("{:g}".format)
    df = df.assign(line=line, finite=np.isfinite(df["grad_norm"]))
    keys = ["cell", "cell_label", "nonlinearity", "rho", "seq_len", *aggregate.CLIP, "lr"]
    keys += ["line", "step"]
    return (
        df.groupby(keys, as_index=False)
        .agg(
            grad_norm=("grad_norm", lambda g: g[np.isfinite(g)].median()),
            n_seeds=("seed", "nunique"),
            n_diverged=("finite", lambda f: int((~f).sum())),
        )
        .sort_values(["cell", "nonlinearity", "line", "step"])
    )


def _trace(ax, d: pd.DataFrame, color, marker: str, ls: str, under: bool) -> None:
    """One clip setting's median trace, with a marker on every logged step; `under`: drawn
    wide beneath the others (the unclipped trace, which a clip that never acts follows)."""
    ok = d[d["grad_norm"].notna()]
    ax.plot(ok["step"], ok["grad_norm"], color=color, ls=ls, lw=3.2 if under else 1.2,
            marker=marker, ms=5.5 if under else 3.5, zorder=1.5 if under else 2.5,
            label=d["line"].iloc[0])  # fmt: skip


def _divergences(ax, d: pd.DataFrame, color, z: float) -> None:
    """Where a trace's seeds diverged: an x near the top edge at each such step (drawn once the
    axis limits are final), joined by a dashed line to the trace's last finite point before."""
    lo, hi = np.log10(ax.get_ylim())
    top = 10 ** (hi - 0.04 * (hi - lo))
    ok = d[d["grad_norm"].notna()]
    for step in d.loc[d["n_diverged"] > 0, "step"]:
        before = ok[ok["step"] < step]
        if len(before):
            last = before.iloc[-1]
            ax.plot([last["step"], step], [last["grad_norm"], top], color=color, ls="--", lw=1,
                    zorder=z, label=f"_{d['line'].iloc[0]} to divergence")  # fmt: skip
        ax.plot(step, top, "x", color=color, ms=6, mew=1.6, zorder=z + 0.5, clip_on=False,
                label=f"_{d['line'].iloc[0]} diverged")  # fmt: skip


def plot_grad_norm_traces(curves: pd.DataFrame) -> plt.Figure:
    """F3: pre-clip gradient norm during training, one row per nonlinearity, one column per clip
    mode (its thresholds), the unclipped trace in every panel, divergence marked."""
    style()
    data = grad_norm_traces_data(curves)
    panels = [
        p for nl in ["relu", *NONLINEARITY_ORDER] for p in dict.fromkeys(
            zip(data["cell"], data["nonlinearity"], strict=True)) if p[1] == nl
    ]  # fmt: skip
    panels = list(dict.fromkeys(panels))
    modes = [m for m in dict.fromkeys(data["clip"]) if m != "none"] or ["none"]
    styles = clip_styles(data)
    lrs = sorted(data["lr"].dropna().unique())
    dashes = dict(zip(lrs, ["-", "--", "-.", ":"] * len(lrs), strict=False))
    fig, axes = subplots(max(len(panels), 1), len(modes), 1.7, extra=1.5, sharex=True,
                          sharey="row")  # fmt: skip
    for r, (cell, nl) in enumerate(panels):
        sub = data[(data["cell"] == cell) & (data["nonlinearity"] == nl)]
        for c, mode in enumerate(modes):
            ax = axes[r, c]
            for _, d in sub[sub["clip"].isin({"none", mode})].groupby("line", sort=False):
                unclipped = d["clip"].iloc[0] == "none"
                color, marker = styles[d["clip_setting"].iloc[0]]
                _trace(ax, d, color, marker, dashes.get(d["lr"].iloc[0], "-"), unclipped)
            ax.set_yscale("log")
            ax.set_title(
                f"{panel_name(sub)}, {mode} clipping" if mode != "none" else panel_name(sub)
            )
        axes[r, 0].set_ylabel("gradient norm")
    for r, (cell, nl) in enumerate(panels):  # the limits are final: mark the divergences
        sub = data[(data["cell"] == cell) & (data["nonlinearity"] == nl)]
        lo, hi = np.log10(axes[r, 0].get_ylim())
        if sub["n_diverged"].any():  # headroom above the traces for the divergence marks
            hi += 0.12 * (hi - lo)
        axes[r, 0].set_ylim(10**lo, 10**hi)  # shared along the row
        for c, mode in enumerate(modes):
            for _, d in sub[sub["clip"].isin({"none", mode})].groupby("line", sort=False):
                _divergences(axes[r, c], d, styles[d["clip_setting"].iloc[0]][0], 3)
    xlabel(axes, "training step")
    order = clip_order(data)
    unclipped = set(data.loc[data["clip"] == "none", "clip_setting"])
    handles = [
        Line2D([], [], color=styles[s][0], marker=styles[s][1], ms=4,
               lw=3.2 if s in unclipped else 1.2)
        for s in order
    ]  # fmt: skip
    labels = list(order)
    if len(lrs) > 1:
        handles += [Line2D([], [], color="0.4", ls=dashes[lr]) for lr in lrs]
        labels += [f"lr {lr:g}" for lr in lrs]
    handles.append(Line2D([], [], color="0.4", marker="x", ls="none", ms=6, mew=1.6))
    labels.append("a seed diverged at this step")
    n = seed_range(data.groupby("line")["n_seeds"].max())  # seeds per trace, diverged ones included
    legend_below(fig, handles, labels, title=f"clipping (median over the seeds still finite, "
                  f"n = {n})")  # fmt: skip
    rho, t = (data[c].iloc[0] if len(data) else math.nan for c in ("rho", "seq_len"))
    fig.suptitle(f"F3  Gradient norm before clipping during training (rho = {rho:g}, T = {t:g})")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """The divergence rate per clip setting and T (F2's), unclipped and norm-clipped; the
    conclusions chosen by the claims' verdicts."""
    runs = selected(t["runs"])
    if runs.empty:
        return absent(s)
    rates = divergence_rates(runs, ["clip_setting", "seq_len"])
    rates["text"] = [_rate(r) for r in rates.itertuples()]
    table = rates.pivot(index="clip_setting", columns="seq_len", values="text")
    table = table.rename_axis(CLIPPING)
    table.columns = [f"T = {c}" for c in table.columns]
    s.tables.append(
        Table(
            table.reset_index(),
            "Divergence rate per clipping setting and sequence length [95% Wilson interval], "
            "n = runs (seeds x the E2 models, at the selected learning rate).",
        )
    )
    by_clip = divergence_rates(runs, ["clip"]).set_index("clip")
    none, norm = (by_clip.loc[m] if m in by_clip.index else None for m in ("none", "norm"))
    when = none is not None and not math.isnan(none["median_step"])
    s.paragraphs.append(
        f"Without clipping {_diverged(none)}"
        + (f", at a median step of {fmt(float(none['median_step']))}" if when else "")
        + "; the largest gradient norm seen before clipping was "
        + f"{fmt(float(runs['max_grad_norm'].max()), 2)}. With norm clipping {_diverged(norm)}."
    )
    conclusions = [conclusion(c, score) for c in (UNCLIPPED_DIVERGE, CLIPPING_PREVENTS)]
    if any(conclusions):
        s.paragraphs.append(" ".join(c for c in conclusions if c))
    return s


def _rate(r) -> str:
    """A divergence_rates row: '60% [23%, 88%], n = 5'."""
    return ci(r.divergence_rate, r.low, r.high, r.n_runs, pct)


def _diverged(row: pd.Series | None) -> str:
    """'3 of 5 runs diverged (60% [23%, 88%], n = 5)'."""
    if row is None:
        return "no run was trained"
    return f"{int(row.n_diverged)} of {int(row.n_runs)} runs diverged ({_rate(row)})"


EXPERIMENT = Experiment(
    id="e2_clipping",
    title="E2 Exploding gradients and clipping",
    summary="E2, exploding gradients and clipping: vanilla RNNs at rho >= 1 trained with "
    "clipping none / norm / value over several thresholds (all clip settings of a trial in one "
    "job).",
    section=TrainSection,
    claims=(UNCLIPPED_DIVERGE, CLIPPING_PREVENTS),
    figures=(
        Figure("f2_divergence", plot_divergence, "E2 exploding gradients and clipping"),
        Figure("f3_grad_norm_traces", plot_grad_norm_traces, "E2 exploding gradients and clipping"),
    ),
    report=report_section,
)
