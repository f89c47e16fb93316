"""The figures F1-F8: for each, a function computing its data from the tables and one drawing it,
and `FIGURES`, the registry that the plot rule, the report and the tests read.

Plot functions take the pipeline's tables (see results/README.md) by name and return a matplotlib
Figure; `save` writes it as PNG and SVG. A new figure is one plotting function, one `Figure` entry
and one caption (workflow/report/<name>.rst). Rates carry 95% Wilson error bars (F2, F4), means a
seed bootstrap (F6); F2, F4 and F6 show the selected learning rate only. Colours: seaborn's
colour-blind-safe palette; log axes where values span decades (log10 columns are already on a log
scale).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from . import aggregate, stats
from .registry import Registry

PALETTE = "colorblind"
NONLINEARITY_ORDER = ["linear", "tanh", "sigmoid", "relu"]


def _style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)


def _clip_order(df: pd.DataFrame, label: str = "clip_setting") -> list[str]:
    """The labels in df[label], unclipped first, then by clip mode, threshold and lr (columns
    of df: the labels are never parsed)."""
    df = df.assign(clipped=df["clip"] != "none")
    by = [c for c in ("clipped", "clip", "clip_threshold", "lr") if c in df]
    return list(dict.fromkeys(df.sort_values(by, kind="stable")[label]))


def _bounded(df: pd.DataFrame) -> pd.Series:
    """Rows of cells that have a gradient bound (a finite log10_bound somewhere)."""
    return np.isfinite(df["log10_bound"]).groupby(df["cell_id"]).transform("any")


def _name(rows: pd.DataFrame) -> str:
    """A panel's title: the cell's label (the tables' cell_label) and its nonlinearity."""
    first = rows.iloc[0]
    return f"{first['cell_label']}-{first['nonlinearity']}"


# F1 -------------------------------------------------------------------------------------------


def gradient_decay_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """E1 orthogonal-init cells with a gradient bound: seed-mean log10 gradient norm and bound
    per distance."""
    df = profiles[(profiles["experiment"] == "e1_init") & (profiles["init"] == "orthogonal")]
    df = df[_bounded(df)]
    return (
        df.groupby(["cell", "cell_label", "nonlinearity", "rho", "distance"], as_index=False)
        .agg(log10_grad_norm=("log10_grad_norm", "mean"), log10_bound=("log10_bound", "mean"))
        .replace([np.inf, -np.inf], np.nan)
    )


def plot_gradient_decay(gradient_profiles: pd.DataFrame) -> plt.Figure:
    """F1: log10 ||dE_T/dh_k|| against distance T-k, facets by cell x nonlinearity, hue by rho."""
    _style()
    data = gradient_decay_data(gradient_profiles)
    panels = _panels(data)
    rhos = sorted(data["rho"].unique())
    colors = dict(zip(rhos, sns.color_palette(PALETTE, len(rhos)), strict=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), sharey=True)
    for ax, (cell, nl) in zip(np.atleast_1d(axes), panels, strict=True):
        sub = data[(data["cell"] == cell) & (data["nonlinearity"] == nl)]
        for rho in rhos:
            d = sub[sub["rho"] == rho]
            ax.plot(d["distance"], d["log10_grad_norm"], color=colors[rho], label=f"{rho:g}")
            ax.plot(d["distance"], d["log10_bound"], color=colors[rho], ls=":", lw=1)
        ax.set_title(_name(sub))
        ax.set_xlabel("distance T - k (steps)")
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("log10 ||dE_T / dh_k||")
    low = np.nanpercentile(data["log10_grad_norm"], 1) - 2
    high = np.nanpercentile(data["log10_grad_norm"], 99) + 2
    first.set_ylim(max(low, -60), min(high, 60))
    np.atleast_1d(axes)[-1].legend(
        title="rho (solid: measured,\ndotted: bound)",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
    )
    fig.suptitle("F1  Gradient norm through time at initialisation (orthogonal W scaled to rho)")
    fig.tight_layout()
    return fig


def _panels(data: pd.DataFrame, order=NONLINEARITY_ORDER) -> list[tuple[str, str]]:
    """(cell, nonlinearity) pairs of data: cells as they come, nonlinearities in `order`."""
    pairs = set(zip(data["cell"], data["nonlinearity"], strict=True))
    return [(c, n) for c in dict.fromkeys(data["cell"]) for n in order if (c, n) in pairs]


# F2 -------------------------------------------------------------------------------------------


def divergence_data(runs: pd.DataFrame) -> pd.DataFrame:
    """E2, selected runs: divergence rate with its Wilson interval per nonlinearity x rho x clip
    setting x T."""
    df = runs[(runs["experiment"] == "e2_clipping") & runs["selected"].astype(bool)]
    df = df.assign(diverged=df["status"] == "diverged")
    out = (
        df.groupby(
            ["cell", "cell_label", "nonlinearity", "rho", *aggregate.CLIP, "seq_len"],
            as_index=False,
        )
        .agg(n_runs=("diverged", "size"), n_diverged=("diverged", "sum"))
        .sort_values(["nonlinearity", "rho", "seq_len"])
    )
    out["divergence_rate"] = out["n_diverged"] / out["n_runs"]
    out["low"], out["high"] = stats.wilson_interval(out["n_diverged"], out["n_runs"])
    return out


def _errorbars(ax, x, rate, low, high, **kw) -> None:
    """Points at rate with vertical bars from low to high."""
    rate, low, high = (np.asarray(v, dtype=float) for v in (rate, low, high))
    ax.errorbar(x, rate, yerr=[rate - low, high - rate], capsize=2, **kw)


def plot_divergence(runs: pd.DataFrame) -> plt.Figure:
    """F2: divergence rate against T per clip setting (Wilson 95% bars), one panel per
    nonlinearity and rho."""
    _style()
    data = divergence_data(runs)
    panels = data[["cell", "nonlinearity", "rho"]].drop_duplicates()
    panels = panels.sort_values(["rho", "cell", "nonlinearity"])
    order = _clip_order(data)
    colors = dict(zip(order, sns.color_palette(PALETTE, len(order)), strict=True))
    lengths = sorted(data["seq_len"].unique())
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.8 * cols, 3.4 * rows), squeeze=False, sharey=True
    )
    for ax, (_, p) in zip(axes.flat, panels.iterrows(), strict=False):
        sub = data[
            (data["cell"] == p["cell"])
            & (data["nonlinearity"] == p["nonlinearity"])
            & (data["rho"] == p["rho"])
        ]
        for i, label in enumerate(order):
            d = sub[sub["clip_setting"] == label]
            x = np.searchsorted(lengths, d["seq_len"]) + 0.8 * (i / max(len(order) - 1, 1) - 0.5)
            _errorbars(
                ax,
                x,
                d["divergence_rate"],
                d["low"],
                d["high"],
                fmt="o",
                ms=3,
                color=colors[label],
                label=label,
            )
        ax.set_xticks(range(len(lengths)), [f"{t:g}" for t in lengths])
        ax.set_ylim(-0.05, 1.05)
        name = _name(sub)
        ax.set_title(f"{name}, rho = {p['rho']:g}, n = {sub['n_runs'].max()}")
        ax.set_xlabel("sequence length T (steps)")
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of runs diverged")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes.flat[min(n, cols) - 1].legend(
        title="clipping", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1)
    )
    fig.suptitle(
        "F2  Fraction of runs that diverged (non-finite loss or gradient), 95% Wilson intervals"
    )
    fig.tight_layout()
    return fig


# F3 -------------------------------------------------------------------------------------------


def grad_norm_traces_data(curves: pd.DataFrame) -> pd.DataFrame:
    """E2 at its largest rho and T: median gradient norm per step, unclipped and norm-clipped.

    line is the clip setting (and its lr in a sweep); diverged_fraction is the share of seeds
    whose gradient is non-finite at that step.
    """
    df = curves[curves["experiment"] == "e2_clipping"]
    df = df[(df["rho"] == df["rho"].max()) & (df["seq_len"] == df["seq_len"].max())]
    df = df[df["clip"].isin(["none", "norm"])]
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
            diverged_fraction=("finite", lambda f: 1 - f.mean()),
        )
        .sort_values(["cell", "nonlinearity", "line", "step"])
    )


def plot_grad_norm_traces(curves: pd.DataFrame) -> plt.Figure:
    """F3: pre-clip gradient norm during training, with and without norm clipping."""
    _style()
    data = grad_norm_traces_data(curves)
    panels = _panels(data, ["relu", "linear", "tanh", "sigmoid"])
    hue_order = _clip_order(data, "line")
    colors = dict(zip(hue_order, sns.color_palette(PALETTE, len(hue_order)), strict=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False)
    for ax, (cell, nl) in zip(axes.flat, panels, strict=True):
        sub = data[(data["cell"] == cell) & (data["nonlinearity"] == nl)]
        top = sub["grad_norm"].max()
        for label in hue_order:
            d = sub[sub["line"] == label]
            ax.plot(d["step"], d["grad_norm"], color=colors[label], label=label)
            blown = d[d["diverged_fraction"] > 0]  # a seed's gradient became inf/NaN here
            ax.plot(blown["step"], np.full(len(blown), top * 3), "x", color=colors[label], ms=7)
        ax.set_yscale("log")
        ax.set_title(_name(sub))
        ax.set_xlabel("training step")
    axes.flat[0].set_ylabel("gradient norm before clipping")
    axes.flat[-1].legend(
        title="clipping", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1)
    )
    rho, t = (data[c].iloc[0] if len(data) else math.nan for c in ("rho", "seq_len"))
    fig.suptitle(
        f"F3  Gradient norm during training (median over seeds; rho = {rho:g}, T = {t:g});"
        "\nx at the top: a seed's gradient became non-finite (diverged)"
    )
    fig.tight_layout()
    return fig


# F4 -------------------------------------------------------------------------------------------


def horizon_data(horizons: pd.DataFrame) -> pd.DataFrame:
    """E3: success rate per task x variant x T, with each variant's horizon and its interval in
    its label."""
    df = horizons[horizons["experiment"] == "e3_long_range"].copy()
    text = [
        "none" if pd.isna(h) else f"{h:g} [{lo:g}, {hi:g}]"
        for h, lo, hi in zip(df["horizon"], df["horizon_low"], df["horizon_high"], strict=True)
    ]
    df["model (horizon T)"] = df["variant"] + " (" + pd.Series(text, index=df.index) + ")"
    return df


def plot_horizons(horizons: pd.DataFrame) -> plt.Figure:
    """F4: success rate (Wilson 95% bars) against T per model, one panel per task; horizons
    marked with a star."""
    _style()
    data = horizon_data(horizons)
    tasks = list(dict.fromkeys(data["task"]))
    variants = list(dict.fromkeys(data["variant"]))
    colors = dict(zip(variants, sns.color_palette(PALETTE, len(variants)), strict=True))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.6), sharey=True)
    for ax, task in zip(np.atleast_1d(axes), tasks, strict=True):
        sub = data[data["task"] == task]
        for i, variant in enumerate(variants):
            d = sub[sub["variant"] == variant].sort_values("seq_len")
            if d.empty:
                continue
            jitter = 1 + 0.03 * (i - len(variants) / 2)  # so overlapping bars stay visible
            label = d["model (horizon T)"].iloc[0]
            x = d["seq_len"] * jitter
            _errorbars(
                ax,
                x,
                d["success_rate"],
                d["success_low"],
                d["success_high"],
                marker="o",
                ms=4,
                color=colors[variant],
                label=label,
            )
            h = d["horizon"].iloc[0]
            if not pd.isna(h):
                at = d[d["seq_len"] == h]
                ax.plot(
                    at["seq_len"] * jitter,
                    at["success_rate"],
                    marker="*",
                    ms=14,
                    color=colors[variant],
                    mec="black",
                    ls="none",
                )
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ticks = sorted(sub["seq_len"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("sequence length T (steps, log scale)")
        ax.set_title(f"{task.replace('_', ' ')} (n = {sub['n_runs'].max()} seeds)")
        ax.legend(title="model (horizon T [95%])", fontsize=7, title_fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("success rate (fraction of seeds solved)")
    fig.suptitle(
        "F4  Learnable horizon: largest T solved by >= half the seeds (star); 95% Wilson bars"
    )
    fig.tight_layout()
    return fig


# F5 -------------------------------------------------------------------------------------------


def gradient_flow_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """E4: seed-mean log10 gradient norm per variant x training step x distance."""
    df = profiles[profiles["experiment"] == "e4_gradient_flow"]
    return (
        df.groupby(["task", "seq_len", "lr", "variant", "step", "distance"], as_index=False)
        .agg(log10_grad_norm=("log10_grad_norm", "mean"))
        .replace([np.inf, -np.inf], np.nan)
    )


def plot_gradient_flow(gradient_profiles: pd.DataFrame) -> plt.Figure:
    """F5: gradient-through-time profiles at several training steps, one panel per model."""
    _style()
    data = gradient_flow_data(gradient_profiles)
    data["run"] = data["task"] + ", lr " + data["lr"].map("{:g}".format)
    grid = sns.relplot(
        data=data,
        x="distance",
        y="log10_grad_norm",
        hue="step",
        col="variant",
        row="run" if data["run"].nunique() > 1 else None,
        kind="line",
        palette="viridis",
        height=3.2,
        aspect=1.2,
    )
    grid.set_axis_labels("distance T - k (steps)", "log10 ||dE_T / dh_k||")
    grid.set_titles("{col_name}" if data["run"].nunique() == 1 else "{row_name}: {col_name}")
    grid.legend.set_title("training step")
    grid.figure.suptitle("F5  Gradient flow through time during training", y=1.04)
    return grid.figure


# F6 -------------------------------------------------------------------------------------------


def digits_data(runs: pd.DataFrame) -> pd.DataFrame:
    """E5, selected runs: test accuracy per run (diverged runs count as chance)."""
    df = runs[(runs["experiment"] == "e5_digits") & runs["selected"].astype(bool)].copy()
    df["accuracy"] = aggregate.accuracy_or_chance(df)
    return df


def digits_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per variant x task with its 95% bootstrap interval over seeds."""
    rows = []
    for (variant, task), g in data.groupby(["variant", "task"], sort=False):
        acc = g["accuracy"].to_numpy(dtype=float)
        low, high = stats.bootstrap_interval(acc, np.mean)
        rows.append(
            dict(variant=variant, task=task, n=len(acc), mean=acc.mean(), low=low, high=high)
        )
    return pd.DataFrame(rows)


def plot_digits(runs: pd.DataFrame) -> plt.Figure:
    """F6: test accuracy per model on sequential and permuted digits: bars are means with 95%
    bootstrap intervals over seeds, dots single seeds."""
    _style()
    data = digits_data(runs)
    summary = digits_summary(data)
    variants, tasks = list(dict.fromkeys(data["variant"])), list(dict.fromkeys(data["task"]))
    colors = dict(zip(tasks, sns.color_palette(PALETTE, len(tasks)), strict=True))
    width = 0.8 / max(len(tasks), 1)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for j, task in enumerate(tasks):
        s = summary[summary["task"] == task].set_index("variant").reindex(variants)
        x = np.arange(len(variants)) + (j - (len(tasks) - 1) / 2) * width
        ax.bar(x, s["mean"], width * 0.95, color=colors[task], label=task)
        _errorbars(ax, x, s["mean"], s["low"], s["high"], fmt="none", color="black", lw=1)
        d = data[data["task"] == task]
        pos = dict(zip(variants, x, strict=True))
        ax.plot(d["variant"].map(pos), d["accuracy"], "o", color="black", ms=2.5)
    ax.set_xticks(range(len(variants)), variants)
    for i, chance in enumerate(sorted(data["baseline_metric"].unique())):  # input-blind
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance" if i == 0 else None)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"model (n = {summary['n'].max() if len(summary) else 0} seeds)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.legend(
        title="task (bars: mean [95%],\ndots: seeds)",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
    )
    fig.suptitle(f"F6  Real data read step by step: {', '.join(sorted(data['task'].unique()))}")
    fig.tight_layout()
    return fig


# F7, F8 -------------------------------------------------------------------------------------

VERDICT_COLORS = dict(
    zip(("agrees", "disagrees", "inconclusive"), sns.color_palette(PALETTE, 3), strict=True)
)


def replication_ratio_data(replications: pd.DataFrame) -> pd.DataFrame:
    """The targets that were run, ours and its interval divided by the published value (and its
    tolerance band likewise): every unit on one axis, 1 = the published value."""
    df = replications[replications["verdict"] != "not run"].copy()
    df = df[df["published"] > 0]
    for col in ("ours", "low", "high", "band_low", "band_high"):
        df[f"{col}_ratio"] = df[col] / df["published"]
    return df.reset_index(drop=True)


def plot_replications(replications: pd.DataFrame) -> plt.Figure:
    """F7: every target run, ours / published with its 95% interval, coloured by verdict; the
    grey bar is the target's tolerance band, the dashed line the published value."""
    _style()
    df = replication_ratio_data(replications)
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(df), 2) + 1.4))
    edge = 1e3  # where an interval open above (a seed never solved) is drawn to
    for i, r in df.iterrows():
        low, band_low = (max(v, 1e-3) for v in (r["low_ratio"], r["band_low_ratio"]))
        ax.plot([band_low, min(r["band_high_ratio"], edge)], [i, i], color="0.85", lw=9)
        high = min(r["high_ratio"], edge)
        color = VERDICT_COLORS[r["verdict"]]
        ax.plot([low, high], [i, i], color=color, lw=2)
        ax.plot(max(r["ours_ratio"], 1e-3), i, "o", color=color, ms=6)
    for verdict, color in VERDICT_COLORS.items():
        ax.plot([], [], "o-", color=color, label=verdict)
    ax.axvline(1, color="black", ls="--", lw=1, label="published")
    ax.set_xscale("log")
    ax.set_yticks(
        range(len(df)), [f"{t} (n = {n})" for t, n in zip(df["target"], df["n"], strict=True)]
    )
    ax.invert_yaxis()
    ax.set_xlabel("ours / published (dot: estimate, line: 95% interval, grey: tolerance band)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("F7  Replications: our measurement beside each published value")
    fig.tight_layout()
    return fig


def replication_curve_data(
    replications: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame
) -> pd.DataFrame:
    """Per run with a final-loss target: the median over seeds (selected lr) of the validation
    loss at each logged step, with its interquartile range."""
    targets = replications[
        (replications["measure"] == "median_final_loss") & (replications["verdict"] != "not run")
    ]
    c = curves[
        (curves["experiment"] == "replications") & curves["cell_id"].isin(targets["cell_id"])
    ]
    if c.empty:
        return pd.DataFrame(columns=["cell_id", "step", "median", "q25", "q75"])
    return (
        c.groupby(["cell_id", "lr", "step"])["val_loss"]
        .agg(median="median", q25=lambda v: v.quantile(0.25), q75=lambda v: v.quantile(0.75))
        .reset_index()
    )


def plot_replication_curves(
    replications: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame
) -> plt.Figure:
    """F8: curves beside published points. Loss against steps for every run with a final-loss
    target (median over seeds, band: quartiles; cross: the published value at the run's last
    step), and sequences to solve against T for every source and task with such targets."""
    _style()
    data = replication_curve_data(replications, runs, curves)
    losses = replications[
        replications["cell_id"].isin(data["cell_id"])
        & (replications["measure"] == "median_final_loss")
    ]
    seqs = replications[(replications["measure"] == "mean_sequences_to_solve")]
    groups = [g for _, g in seqs.groupby(["source", "task"], sort=False)]
    runs = list(dict.fromkeys(losses["cell_id"]))
    n = max(len(runs) + len(groups), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    for ax, cid in zip(axes[0], runs, strict=False):
        d = data[data["cell_id"] == cid]
        ax.plot(d["step"], d["median"], color="C0", label="ours (median)")
        ax.fill_between(d["step"], d["q25"], d["q75"], color="C0", alpha=0.25)
        for _, t in losses[losses["cell_id"] == cid].iterrows():
            ax.plot(d["step"].max(), t["published"], "X", color="black", ms=8, label=t["target"])
        ax.set(yscale="log", xlabel="step", ylabel="validation loss", title=cid)
        ax.legend(fontsize=7)
    for ax, g in zip(axes[0][len(runs) :], groups, strict=False):
        g = g.sort_values("seq_len")
        ran = g[g["verdict"] != "not run"]
        _errorbars(ax, ran["seq_len"], ran["ours"], ran["low"],
                   ran["high"].where(np.isfinite(ran["high"]), ran["ours"] * 10),
                   fmt="o-", color="C0", label="ours (mean, 95%)")  # fmt: skip
        ax.plot(g["seq_len"], g["published"], "X", color="black", ms=8, label="published")
        ax.set(yscale="log", xlabel="T", ylabel="training sequences to solve")
        ax.set_title(f"{g['source'].iloc[0]}: {g['task'].iloc[0]}")
        ax.legend(fontsize=7)
    if not runs and not groups:
        axes[0][0].text(0.5, 0.5, "no replication curves in this tier", ha="center")
    fig.suptitle("F8  Replications: curves with the published points drawn on ours")
    fig.tight_layout()
    return fig


# Registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure: its name (the stem of its files and of its caption), its plotting function,
    the category Snakemake's report lists it under, and the experiment whose report section
    shows it. The tables it reads are the plotting function's parameters."""

    name: str
    plot: Callable[..., plt.Figure]
    category: str
    experiment: str

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the tables it reads (aggregate.TABLES), as the plot function takes them."""
        return tuple(inspect.signature(self.plot).parameters)

    @property
    def caption(self) -> str:
        """Its caption, relative to the repository root (Snakemake's report and ours)."""
        return f"workflow/report/{self.name}.rst"


E2 = "E2 exploding gradients and clipping"  # F2 and F3 share one report category
FIGURES: Registry[Figure] = Registry(
    "figure",
    {
        f.name: f
        for f in (
            Figure(
                "f1_gradient_decay",
                plot_gradient_decay,
                "E1 gradients at initialisation",
                "e1_init",
            ),
            Figure("f2_divergence", plot_divergence, E2, "e2_clipping"),
            Figure("f3_grad_norm_traces", plot_grad_norm_traces, E2, "e2_clipping"),
            Figure("f4_horizons", plot_horizons, "E3 long-range learning", "e3_long_range"),
            Figure(
                "f5_gradient_flow",
                plot_gradient_flow,
                "E4 gradient flow during training",
                "e4_gradient_flow",
            ),
            Figure("f6_digits", plot_digits, "E5 digits", "e5_digits"),
            Figure("f7_replications", plot_replications, "Replications", "replications"),
            Figure(
                "f8_replication_curves", plot_replication_curves, "Replications", "replications"
            ),
        )
    },
)


def save(fig: plt.Figure, png: str | Path, svg: str | Path) -> None:
    """Write fig as PNG (150 dpi) and SVG, then close it."""
    for path in (png, svg):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
