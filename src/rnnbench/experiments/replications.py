"""The replications: published results rerun in their sources' settings, beside the published
values (config/replications.yaml; rnnbench.replications parses and measures them). Their figures
F7 (ours over published, per target) and F8 (curves beside published points) and their report
section."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ..numbers import ci, count, fmt
from ..plotting import (
    PALETTE,
    Figure,
    errorbars,
    hide_empty,
    legend_below,
    pad_log,
    style,
    subplots,
)
from ..report import Section, Table
from .base import Experiment

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
    style()
    df = replication_ratio_data(replications)
    fig, axes = subplots(1, 1, 0.32 * max(len(df), 2), extra=1.3)
    ax = axes[0, 0]
    # the axis spans the finite, positive values; an interval reaching 0 ends in a triangle at
    # its left, one open above (a seed never solved) in a triangle at its right, and a band
    # reaching 0 runs to the left edge
    ratios = df[[f"{c}_ratio" for c in ("ours", "low", "high", "band_low", "band_high")]]
    shown = ratios.to_numpy(dtype=float).ravel()
    shown = shown[np.isfinite(shown) & (shown > 0)]
    floor, edge = (shown.min() / 3, shown.max() * 3) if len(shown) else (0.1, 10.0)
    left, right = floor / 1.6, edge * 1.6  # room for the triangles
    for i, r in df.iterrows():
        band = [r["band_low_ratio"] if r["band_low_ratio"] > 0 else left,
                min(r["band_high_ratio"], right)]  # fmt: skip
        ax.plot(band, [i, i], color="0.85", lw=9, solid_capstyle="butt", zorder=1)
        color = VERDICT_COLORS[r["verdict"]]
        low = (r["low_ratio"], "|") if r["low_ratio"] > 0 else (floor, "<")
        high = (r["high_ratio"], "|") if np.isfinite(r["high_ratio"]) else (edge, ">")
        ends = [low, high]
        ax.plot([ends[0][0], ends[1][0]], [i, i], color=color, lw=1.6, zorder=2, label=r["target"])
        # the interval's ends are taller than the dot: an interval narrower than it still shows
        for x, m in ends:
            ax.plot(x, i, m, color=color, ms=11 if m == "|" else 6, mew=1.6, zorder=3)
        ax.plot(max(r["ours_ratio"], floor), i, "o", color=color, ms=5, mec="white", mew=0.8,
                zorder=4)  # fmt: skip
    ax.set_xlim(left, right)
    ax.axvline(1, color="black", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(
        range(len(df)), [f"{t} (n = {n})" for t, n in zip(df["target"], df["n"], strict=True)]
    )
    ax.set_ylim(max(len(df), 1) - 0.5, -0.5)
    low, high = np.log10(ax.get_xlim())
    subs = (1.0, 2.0, 5.0) if high - low < 3 else (1.0,)  # 0.5, 1, 2 over a short range
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=subs))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("ours / published (log scale)")
    verdicts = [v for v in VERDICT_COLORS if v in set(df["verdict"])]
    handles = [
        Line2D([], [], color=VERDICT_COLORS[v], marker="o", ms=5, mec="white", lw=1.6)
        for v in verdicts
    ]
    handles += [Line2D([], [], color="black", ls="--", lw=1), Line2D([], [], color="0.85", lw=9)]
    labels = [*verdicts, "published value", "tolerance band"]
    legend_below(fig, handles, labels, title="verdict (dot: ours, line: 95% interval)")
    fig.suptitle("F7  Replications: our measurement beside each published value")
    return fig


def replication_curve_data(
    replications: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame
) -> pd.DataFrame:
    """Per run with a final-loss target: the median over seeds (selected lr) of the validation
    loss at each logged step, with its interquartile range."""
    targets = replications[
        (replications["measure"] == "median_final_loss") & (replications["verdict"] != "not run")
    ]
    c = curves[curves["cell_id"].isin(targets["cell_id"])]
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
    """F8: curves beside published points. A panel per run with a final-loss target: loss
    against steps (median over seeds, band: quartiles; cross: the published value at the run's
    last step); a panel per source and task with sequences-to-solve targets."""
    style()
    data = replication_curve_data(replications, runs, curves)
    losses = replications[
        replications["cell_id"].isin(data["cell_id"])
        & (replications["measure"] == "median_final_loss")
    ]
    seqs = replications[(replications["measure"] == "mean_sequences_to_solve")]
    groups = [g for _, g in seqs.groupby(["source", "task"], sort=False)]
    cells = list(dict.fromkeys(losses["cell_id"]))
    n = max(len(cells) + len(groups), 1)
    cols = min(n, 3)
    fig, axes = subplots(math.ceil(n / cols), cols, 2.1, extra=1.2)
    flat = list(axes.flat)
    for ax, cid in zip(flat, cells, strict=False):
        d = data[data["cell_id"] == cid]
        ax.plot(d["step"], d["median"], color="C0", lw=1.4, label=f"ours {cid}")
        ax.fill_between(d["step"], d["q25"], d["q75"], color="C0", alpha=0.25, lw=0)
        for _, t in losses[losses["cell_id"] == cid].iterrows():
            ax.plot(d["step"].max(), t["published"], "X", color="black", ms=8, label=t["target"])
        ax.set(yscale="log", xlabel="optimizer step", ylabel="validation loss", title=cid)
        ax.margins(x=0.06)
        pad_log(ax)
    for ax, g in zip(flat[len(cells) :], groups, strict=False):
        g = g.sort_values("seq_len")
        ran = g[g["verdict"] != "not run"]
        errorbars(ax, ran["seq_len"], ran["ours"], ran["low"],
                   ran["high"].where(np.isfinite(ran["high"]), ran["ours"] * 10),
                   fmt="o-", color="C0", ms=4, label="ours")  # fmt: skip
        open_above = ran[~np.isfinite(ran["high"])]  # a seed never solved: drawn to 10x the mean
        ax.plot(open_above["seq_len"], open_above["ours"] * 10, "^", color="C0", ms=6)
        for _, t in g.iterrows():
            ax.plot(t["seq_len"], t["published"], "X", color="black", ms=8, label=t["target"])
        ax.set(yscale="log", xlabel="T (steps)", ylabel="sequences to solve")
        ax.set_title(f"{g['source'].iloc[0]}: {g['task'].iloc[0]}")
        lengths = sorted(g["seq_len"].unique())
        ax.set_xticks(lengths, [f"{t:g}" for t in lengths])  # the T of the targets only
        ax.margins(x=0.08)
        pad_log(ax)
    hide_empty(axes, len(cells) + len(groups))
    if not cells and not groups:
        axes[0, 0].set_visible(True)
        axes[0, 0].text(0.5, 0.5, "no replication curves in this tier", ha="center")
    handles = [
        (Line2D([], [], color="C0", lw=1.4), plt.Rectangle((0, 0), 1, 1, color="C0", alpha=0.25)),
        Line2D([], [], color="C0", marker="o", ms=4),
        Line2D([], [], color="black", marker="X", ls="none", ms=8),
    ]
    labels = ["ours: median loss (band: quartiles)", "ours: mean (95% interval)", "published"]
    keep = [bool(cells), bool(groups), True]
    legend_below(fig, [h for h, k in zip(handles, keep, strict=True) if k],
                  [s for s, k in zip(labels, keep, strict=True) if k])  # fmt: skip
    fig.suptitle("F8  Replications: curves with the published points drawn on ours")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """Each replication target: the published value beside ours, with its verdict."""
    rep = t["replications"]
    if rep.empty:
        s.figures, s.paragraphs = (
            [],
            [
                "No replication target is configured. `snakemake --cores all --configfile "
                "config/replications.yaml` runs them (tier laptop; `--config tier=full` for all)."
            ],
        )
        return s
    ran = rep[rep["verdict"] != "not run"]
    counts = rep["verdict"].value_counts()
    larger = counts.get("not run", 0)
    s.paragraphs.append(
        f"{count(len(rep), 'target')} from {count(rep['source'].nunique(), 'source')}; this "
        f"tier ran {len(ran)}: {counts.get('agrees', 0)} agree, {counts.get('disagrees', 0)} "
        f"disagree, {counts.get('inconclusive', 0)} are inconclusive, and {larger} "
        f"{'belongs' if larger == 1 else 'belong'} to a larger tier. A target agrees when our "
        "95% interval lies inside the published value's tolerance band, disagrees when the two "
        "do not overlap, and is inconclusive otherwise. Every published value cites its place "
        "in the source."
    )
    ours = [
        "–" if r.verdict == "not run" else ci(r.ours, r.low, r.high, r.n) for r in rep.itertuples()
    ]
    approx = rep["approximate"].map({True: " (approx.)", False: ""})
    table = pd.DataFrame(
        {
            "target": rep["target"],
            "source, place": rep["source"] + ", " + rep["place"],
            "model, T": rep["cell_label"] + ", T = " + rep["seq_len"].astype(str),
            "measure": rep["measure"],
            "published": [f"{fmt(v, 4)}{a}" for v, a in zip(rep["published"], approx,
                                                              strict=True)],
            "unit": rep["unit"],
            "tolerance band": [f"[{fmt(lo, 3)}, {fmt(hi, 3)}]"
                               for lo, hi in zip(rep["band_low"], rep["band_high"], strict=True)],
            "ours [95%], n": ours,
            "verdict": rep["verdict"],
        }
    )  # fmt: skip
    s.tables.append(Table(table, "Published values beside ours (results/tables/replications.csv)."))
    used = rep.drop_duplicates("measure")
    s.paragraphs.append(
        "Measures, each over a run's seeds at its selected learning rate: "
        + "; ".join(f"{r.measure}: {r.measure_text} ({r.interval})" for r in used.itertuples())
        + "."
    )
    runs = rep.drop_duplicates("run")
    s.tables.append(
        Table(
            runs[["run", "tier", "setting", "deviations"]],
            "The settings we ran and how each departs from its source's.",
        )
    )
    sources = rep.drop_duplicates("source")
    s.paragraphs.append(
        "Sources: " + "; ".join(f"{r.source}: {r.citation}" for r in sources.itertuples()) + "."
    )
    return s


EXPERIMENT = Experiment(
    id="replications",
    title="Replications: published numbers beside ours",
    summary="Published results beside ours (rnnbench.replications; config/replications.yaml): "
    "sources (citation per key), runs (one trial per T each) and targets (one published value "
    "each). Empty by default.",
    section=None,
    figures=(
        Figure("f7_replications", plot_replications, "Replications"),
        Figure("f8_replication_curves", plot_replication_curves, "Replications"),
    ),
    report=report_section,
)
