"""The figures F1-F8: for each, a function computing its data from the tables and one drawing it,
and `FIGURES`, the registry that the plot rule, the report and the tests read.

Plot functions take the pipeline's tables (see results/README.md) by name and return a matplotlib
Figure; `save` writes it as PNG and SVG. A new figure is one plotting function, one `Figure` entry
and one caption (workflow/report/<name>.rst). Rates carry 95% Wilson error bars (F2, F4), means a
seed bootstrap (F6); F2, F4 and F6 show the selected learning rate only. Colours: seaborn's
colour-blind-safe palette; log axes where values span decades (log10 columns are already on a log
scale).

Every figure is drawn at the report's column width (`PAGE_WIDTH_IN`, 960 px at `DPI`), so that a
point of its text is a point on the page: no text is smaller than `MIN_FONT_PT`, panels wrap into
rows instead of growing the width, and legends sit outside the panels (constrained layout makes
room for them).
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
from matplotlib.lines import Line2D

from . import aggregate, stats

PALETTE = "colorblind"
NONLINEARITY_ORDER = ["linear", "tanh", "sigmoid", "relu"]
DPI = 150  # the report's PNGs
PAGE_WIDTH_PX = 960  # the report's column (report.html: max-width 60rem = 960 CSS px)
PAD_IN = 0.05  # the white border `save` leaves around the drawing
PAGE_WIDTH_IN = PAGE_WIDTH_PX / DPI - 2 * PAD_IN  # every figure's width: its PNG fits the column
MIN_FONT_PT = 9  # the smallest text of every figure, in points at PAGE_WIDTH_IN
UNCLIPPED = "0.1"  # the colour of training without clipping (F2, F3): near black
# Clip modes other than none, in order of appearance: one sequential hue each, darker = larger
# threshold (F2, F3).
CLIP_HUES = ("Blues", "Oranges", "Greens", "Purples")
CLIP_MARKERS = ("s", "^", "D", "v")


def _style() -> None:
    sns.set_theme(
        context="paper",
        style="whitegrid",
        palette=PALETTE,
        rc={
            "font.size": MIN_FONT_PT,
            "axes.titlesize": MIN_FONT_PT + 0.5,
            "axes.labelsize": MIN_FONT_PT,
            "xtick.labelsize": MIN_FONT_PT,
            "ytick.labelsize": MIN_FONT_PT,
            "legend.fontsize": MIN_FONT_PT,
            "legend.title_fontsize": MIN_FONT_PT,
            "figure.titlesize": MIN_FONT_PT + 1.5,
            "figure.labelsize": MIN_FONT_PT,
        },
    )


def _subplots(rows: int, cols: int, row_height: float, extra: float = 1.0, **kw):
    """A figure of rows x cols panels at the column width, row_height inches per row plus
    `extra` inches for the title and the legend; axes as a 2-d array."""
    return plt.subplots(
        rows,
        cols,
        figsize=(PAGE_WIDTH_IN, rows * row_height + extra),
        layout="constrained",
        squeeze=False,
        **kw,
    )


def _legend_below(fig: plt.Figure, handles: list, labels: list[str], title: str | None = None):
    """One legend for the whole figure, under its panels, in as many columns as fit the width."""
    longest = max((len(s) for s in labels), default=1)
    per_entry = (longest * 0.5 + 4.5) * MIN_FONT_PT / 72  # inches: text plus handle
    cols = max(1, min(len(labels), int(PAGE_WIDTH_IN * 0.95 // per_entry)))
    return fig.legend(
        handles, labels, loc="outside lower center", ncols=cols, title=title, frameon=False
    )


def _xlabel(axes: np.ndarray, text: str) -> None:
    """Label the x axis of the lowest visible panel of each column (a figure-wide label would
    collide with the legend under the panels)."""
    for column in axes.T:
        shown = [ax for ax in column if ax.get_visible()]
        if shown:
            shown[-1].set_xlabel(text)
            shown[-1].xaxis.set_tick_params(labelbottom=True)


def _hide_empty(axes: np.ndarray, used: int) -> None:
    """Hide the panels after the first `used` and show x tick labels on the panels above them
    (shared x axes show them on the bottom row only)."""
    rows, cols = axes.shape
    for k, ax in enumerate(axes.flat):
        if k >= used:
            ax.set_visible(False)
            if k - cols >= 0:
                axes.flat[k - cols].xaxis.set_tick_params(labelbottom=True)


def _clip_order(df: pd.DataFrame, label: str = "clip_setting") -> list[str]:
    """The labels in df[label], unclipped first, then by clip mode, threshold and lr (columns
    of df: the labels are never parsed)."""
    df = df.assign(clipped=df["clip"] != "none")
    by = [c for c in ("clipped", "clip", "clip_threshold", "lr") if c in df]
    return list(dict.fromkeys(df.sort_values(by, kind="stable")[label]))


def _clip_styles(df: pd.DataFrame) -> dict[str, tuple]:
    """clip_setting -> (colour, marker): unclipped near black, each clip mode one sequential hue
    (darker = larger threshold) and one marker."""
    styles = {}
    modes = sorted(set(df["clip"]) - {"none"})  # as _clip_order: norm blue, value orange
    for setting in _clip_order(df):
        mode = df.loc[df["clip_setting"] == setting, "clip"].iloc[0]
        if mode == "none":
            styles[setting] = (UNCLIPPED, "o")
            continue
        i = modes.index(mode) % len(CLIP_HUES)
        rows = df[df["clip"] == mode]
        thresholds = sorted(rows["clip_threshold"].unique())
        shades = sns.color_palette(CLIP_HUES[i], len(thresholds) + 2)[2:]
        t = df.loc[df["clip_setting"] == setting, "clip_threshold"].iloc[0]
        styles[setting] = (shades[thresholds.index(t)], CLIP_MARKERS[i])
    return styles


def _name(rows: pd.DataFrame) -> str:
    """A panel's title: the cell's label (the tables' cell_label) and its nonlinearity."""
    first = rows.iloc[0]
    return f"{first['cell_label']}-{first['nonlinearity']}"


def _n(values) -> str:
    """'5' or '3-5': the n of seeds behind a figure's points."""
    values = pd.Series(values).dropna()
    if values.empty:
        return "0"
    lo, hi = int(values.min()), int(values.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


# F1 -------------------------------------------------------------------------------------------


def gradient_decay_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """E1, every probed variant: the seed-mean log10 gradient norm and bound (NaN for a cell
    without one) per distance, with the number of seeds."""
    df = profiles[profiles["experiment"] == "e1_init"]
    model = ["cell", "cell_label", "nonlinearity", "init", "rho", "forget_bias"]
    return (
        df.groupby(["task", "seq_len", "hidden_size", "variant", "distance"], sort=False)
        .agg(
            **{c: (c, "first") for c in model},
            log10_grad_norm=("log10_grad_norm", "mean"),
            log10_bound=("log10_bound", "mean"),
            n_seeds=("seed", "nunique"),
        )
        .reset_index()
        .replace([np.inf, -np.inf], np.nan)
    )


def shows_nonlinearity(data: pd.DataFrame) -> pd.Series:
    """Per row of an E1 table (columns variant, cell, nonlinearity): whether its cell's
    nonlinearity is a choice of the grid, so that its name shows it (the nonlinearity varies
    within the cell, or the variant labels of grid.variant_label name it; a cell that has none
    records the default)."""
    parts = data["variant"].str.split("-")
    named = pd.Series(
        [nl in p for nl, p in zip(data["nonlinearity"], parts, strict=True)], index=data.index
    )
    varies = data.groupby("cell")["nonlinearity"].transform("nunique") > 1
    return varies | named.groupby(data["cell"]).transform("any")


def _e1_panels(data: pd.DataFrame) -> pd.Series:
    """Each row's panel title: its cell, its nonlinearity where the cell has one, and on a
    second line its grid point where the grid has several."""
    title = data["cell_label"] + ("-" + data["nonlinearity"]).where(shows_nonlinearity(data), "")
    for column, text in (("task", "{}"), ("seq_len", "T = {:g}"), ("hidden_size", "H = {:g}")):
        if data[column].nunique() > 1:
            title = title + "\n" + data[column].map(text.format)
    return title


def _e1_settings(data: pd.DataFrame) -> pd.Series:
    """What tells a panel's variants apart, from the model columns: the init where the figure
    has several, rho where an init has several, the forget bias where a cell has several; the
    variant's own label where these leave two variants of a panel alike."""
    parts = pd.DataFrame(index=data.index)
    if data["init"].nunique() > 1:
        parts["init"] = data["init"]
    rho = data.groupby("init")["rho"].transform("nunique") > 1
    parts["rho"] = ("rho " + data["rho"].map("{:g}".format)).where(rho, "")
    bias = data.groupby("cell")["forget_bias"].transform("nunique") > 1
    parts["bias"] = ("forget bias " + data["forget_bias"].map("{:g}".format)).where(bias, "")
    setting = parts.apply(lambda r: ", ".join(v for v in r if v), axis=1) if len(parts) else []
    setting = pd.Series(setting, index=data.index, dtype=object).replace("", "measured")
    alike = (
        pd.DataFrame({"panel": data["panel"], "setting": setting, "variant": data["variant"]})
        .groupby(["panel", "setting"])["variant"]
        .transform("nunique")
        > 1
    )
    return setting.where(~alike, data["variant"])


def _e1_colors(data: pd.DataFrame) -> dict[str, tuple]:
    """setting -> colour. Where one init is scaled to several rho: blue below rho = 1 (the
    gradient vanishes), near black at 1, red above (it explodes), darker further from 1; every
    other setting a colour of the colour-blind palette that is neither blue nor red."""
    settings = data.drop_duplicates("setting")
    scaled = settings.groupby("init")["rho"].transform("nunique") > 1
    colors: dict[str, tuple] = {}
    if settings.loc[scaled, "init"].nunique() == 1:
        rho = settings[scaled].sort_values("rho")
        low, high = rho[rho["rho"] < 1], rho[rho["rho"] > 1]
        blues = sns.color_palette("Blues_r", len(low) + 2)[: len(low)]
        reds = sns.color_palette("Reds", len(high) + 2)[2:]
        shade = dict(zip(low["setting"], blues, strict=True))
        shade.update(zip(high["setting"], reds, strict=True))
        colors.update((s, shade.get(s, UNCLIPPED)) for s in rho["setting"])  # in rho order
    others = [s for s in settings["setting"] if s not in colors]
    cb = sns.color_palette(PALETTE, 10)
    pool = [cb[i] for i in (1, 2, 4, 5, 6, 8, 9, 7)] if colors else cb
    colors.update((s, pool[i % len(pool)]) for i, s in enumerate(others))
    return colors


def _pack_rows(groups: list[list[str]], cols: int) -> list[list[str]]:
    """Panels in rows of `cols`: a group (one cell's panels) starts a new row unless it fits
    in what is left of the current one."""
    rows: list[list[str]] = [[]]
    for group in groups:
        for i in range(0, len(group), cols):
            chunk = group[i : i + cols]
            if len(rows[-1]) + len(chunk) > cols:
                rows.append([])
            rows[-1].extend(chunk)
    return [r for r in rows if r]


def plot_gradient_decay(gradient_profiles: pd.DataFrame) -> plt.Figure:
    """F1: log10 ||dE_T/dh_k|| against distance T-k for every probed E1 variant, one panel per
    cell x nonlinearity, colour by init, rho and forget bias; the bound dotted."""
    _style()
    data = gradient_decay_data(gradient_profiles)
    if data.empty:  # the plot rule draws F1 only where E1 is configured
        fig, axes = _subplots(1, 1, 1.0, extra=0.5)
        axes[0, 0].text(0.5, 0.5, "no E1 variant in this grid", ha="center")
        return fig
    data["panel"] = _e1_panels(data)
    data["setting"] = _e1_settings(data)
    colors = _e1_colors(data)
    scaled = data.groupby("init")["rho"].transform("nunique") > 1
    styles = {s: "-" if sc else "--" for s, sc in zip(data["setting"], scaled, strict=True)}
    # one group of panels per cell, the cells with the most variants first; nonlinearities in
    # NONLINEARITY_ORDER
    rank = {nl: i for i, nl in enumerate(NONLINEARITY_ORDER)}
    groups = []
    cells = data.groupby("cell", sort=False)["variant"].nunique().sort_values(ascending=False)
    for cell in cells.index:
        rows = data[data["cell"] == cell].drop_duplicates("panel")
        key = rows["nonlinearity"].map(rank).fillna(len(rank))
        groups.append(list(rows.assign(key=key).sort_values(["key", "panel"])["panel"]))
    longest = max((len(line) for p in data["panel"].unique() for line in p.split("\n")), default=1)
    fit = int(PAGE_WIDTH_IN // (max(longest * 0.5 * (MIN_FONT_PT + 0.5) / 72, 1.1) + 0.45))
    cols = min(fit, max((len(g) for g in groups), default=1))  # a title fits its panel
    if all(len(g) == 1 for g in groups):
        cols = min(fit, max(len(groups), 1))
    rows = _pack_rows(groups, cols)
    fig, axes = _subplots(len(rows), cols, 1.7, extra=1.4, sharex=True)
    for r, row in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.set_visible(False)
                if r > 0:
                    axes[r - 1, c].xaxis.set_tick_params(labelbottom=True)
                continue
            sub = data[data["panel"] == row[c]]
            for variant, d in sub.groupby("variant", sort=False):
                color, ls = colors[d["setting"].iloc[0]], styles[d["setting"].iloc[0]]
                ax.plot(d["distance"], d["log10_grad_norm"], color=color, lw=1.4, ls=ls,
                        label=variant, zorder=3 if ls == "--" else 2)  # fmt: skip
                if d["log10_bound"].notna().any():
                    ax.plot(d["distance"], d["log10_bound"], color=color, ls=":", lw=1.1)
            ax.set_title(row[c])
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3, steps=[1, 2, 5, 10]))
    handles = [Line2D([], [], color=c, lw=1.8, ls=styles[s]) for s, c in colors.items()]
    labels = list(colors)
    if data["log10_bound"].notna().any():
        handles.append(Line2D([], [], color="0.4", ls=":", lw=1.1))
        labels.append("bound gamma^(T-k)")
    _legend_below(fig, handles, labels, title=f"measured, mean over {_n(data['n_seeds'])} seeds "
                  "(dashed: an init not scaled over rho)")  # fmt: skip
    for ax in axes[-1]:
        ax.set_xlabel("T − k (steps)")
    fig.supylabel("log10 ||dE_T / dh_k||")
    fig.suptitle("F1  Gradient norm through time at initialisation, every probed variant")
    return fig


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


def _errorbars(ax, x, rate, low, high, **kw):
    """Points at rate with vertical bars from low to high."""
    rate, low, high = (np.asarray(v, dtype=float) for v in (rate, low, high))
    return ax.errorbar(x, rate, yerr=[rate - low, high - rate], capsize=2, **kw)


def plot_divergence(runs: pd.DataFrame) -> plt.Figure:
    """F2: divergence rate against T per clip setting (Wilson 95% bars), one panel per
    nonlinearity and rho; the clip settings of one T side by side within its slot."""
    _style()
    data = divergence_data(runs)
    panels = data[["cell", "nonlinearity", "rho"]].drop_duplicates()
    panels = panels.sort_values(["rho", "cell", "nonlinearity"])
    order = _clip_order(data)
    styles = _clip_styles(data)
    lengths = sorted(data["seq_len"].unique())
    n = max(len(panels), 1)
    points = len(order) * len(lengths)  # per panel
    cols = max(1, min(n, int((PAGE_WIDTH_IN - 0.2) // (0.16 * points + 0.8))))
    rows = math.ceil(n / cols)
    fig, axes = _subplots(rows, cols, 1.75, extra=1.3, sharey=True)
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
            _errorbars(ax, np.searchsorted(lengths, d["seq_len"]) + offset, d["divergence_rate"],
                       d["low"], d["high"], fmt=marker, ms=3.5, color=color, label=label,
                       lw=1)  # fmt: skip
        for k in range(1, len(lengths)):
            ax.axvline(k - 0.5, color="0.75", lw=0.8)  # the slots' borders
        ax.set_xticks(range(len(lengths)), [f"{t:g}" for t in lengths])
        ax.set_xlim(-0.5, len(lengths) - 0.5)
        ax.xaxis.grid(False)
        ax.set_ylim(-0.08, 1.08)
        ax.set_title(f"{_name(sub)}, rho = {p['rho']:g}, n = {sub['n_runs'].max()} per point")
    _hide_empty(axes, len(panels))
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction diverged")
    _xlabel(axes, "sequence length T (steps)")
    handles = [
        Line2D([], [], color=styles[s][0], marker=styles[s][1], ls="none", ms=5) for s in order
    ]
    _legend_below(fig, handles, order, title="clipping (bars: 95% Wilson interval)")
    fig.suptitle("F2  Fraction of runs that diverged (non-finite loss or gradient)")
    return fig


# F3 -------------------------------------------------------------------------------------------


def grad_norm_traces_data(curves: pd.DataFrame) -> pd.DataFrame:
    """E2 at its largest rho and T, every clip setting: the median gradient norm per step over
    the seeds whose gradient is still finite (NaN once none is), and the seeds whose gradient
    became non-finite (diverged) at that step.

    line is the clip setting (and its lr in a sweep).
    """
    df = curves[curves["experiment"] == "e2_clipping"]
    df = df[(df["rho"] == df["rho"].max()) & (df["seq_len"] == df["seq_len"].max())]
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
    _style()
    data = grad_norm_traces_data(curves)
    panels = [
        p for nl in ["relu", *NONLINEARITY_ORDER] for p in dict.fromkeys(
            zip(data["cell"], data["nonlinearity"], strict=True)) if p[1] == nl
    ]  # fmt: skip
    panels = list(dict.fromkeys(panels))
    modes = [m for m in dict.fromkeys(data["clip"]) if m != "none"] or ["none"]
    styles = _clip_styles(data)
    lrs = sorted(data["lr"].dropna().unique())
    dashes = dict(zip(lrs, ["-", "--", "-.", ":"] * len(lrs), strict=False))
    fig, axes = _subplots(max(len(panels), 1), len(modes), 1.7, extra=1.5, sharex=True,
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
            ax.set_title(f"{_name(sub)}, {mode} clipping" if mode != "none" else _name(sub))
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
    _xlabel(axes, "training step")
    order = _clip_order(data)
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
    n = _n(data.groupby("line")["n_seeds"].max())  # seeds per trace, diverged ones included
    _legend_below(fig, handles, labels, title=f"clipping (median over the seeds still finite, "
                  f"n = {n})")  # fmt: skip
    rho, t = (data[c].iloc[0] if len(data) else math.nan for c in ("rho", "seq_len"))
    fig.suptitle(f"F3  Gradient norm before clipping during training (rho = {rho:g}, T = {t:g})")
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
    """F4: success rate (Wilson 95% bars) against T per model, one panel (row) per task with its
    legend beside it; horizons marked with a star."""
    _style()
    data = horizon_data(horizons)
    tasks = list(dict.fromkeys(data["task"]))
    variants = list(dict.fromkeys(data["variant"]))
    colors = dict(zip(variants, sns.color_palette(PALETTE, len(variants)), strict=True))
    fig, axes = _subplots(max(len(tasks), 1), 1, 1.8, extra=0.9, sharex=True)
    for ax, task in zip(axes[:, 0], tasks, strict=False):
        sub = data[data["task"] == task]
        for i, variant in enumerate(variants):
            d = sub[sub["variant"] == variant].sort_values("seq_len")
            if d.empty:
                continue
            jitter = 1 + 0.025 * (i - (len(variants) - 1) / 2)  # overlapping bars stay visible
            label = d["model (horizon T)"].iloc[0]
            x = d["seq_len"] * jitter
            _errorbars(ax, x, d["success_rate"], d["success_low"], d["success_high"],
                       marker="o", ms=3.5, lw=1.1, color=colors[variant], label=label)  # fmt: skip
            h = d["horizon"].iloc[0]
            if not pd.isna(h):
                at = d[d["seq_len"] == h]
                ax.plot(at["seq_len"] * jitter, at["success_rate"], marker="*", ms=11,
                        color=colors[variant], mec="black", mew=0.6, ls="none",
                        zorder=4)  # fmt: skip
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ticks = sorted(data["seq_len"].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(-0.1, 1.1)
        ax.set_ylabel("fraction solved")
        ax.set_title(f"{task} (n = {sub['n_runs'].max()} seeds per point)")
        ax.legend(title="model (horizon T [95%])", loc="upper left", bbox_to_anchor=(1.01, 1.02),
                  frameon=False)  # fmt: skip
    axes[-1, 0].set_xlabel("sequence length T (steps, log scale)")
    fig.suptitle("F4  Learnable horizon: largest T solved by >= half the seeds (star)")
    return fig


# F5 -------------------------------------------------------------------------------------------


def gradient_flow_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """E4: seed-mean log10 gradient norm per variant x training step x distance."""
    df = profiles[profiles["experiment"] == "e4_gradient_flow"]
    return (
        df.groupby(["task", "seq_len", "lr", "variant", "step", "distance"], as_index=False)
        .agg(log10_grad_norm=("log10_grad_norm", "mean"), n_seeds=("seed", "nunique"))
        .replace([np.inf, -np.inf], np.nan)
    )


def plot_gradient_flow(gradient_profiles: pd.DataFrame) -> plt.Figure:
    """F5: gradient-through-time profiles at several training steps, one panel per model (and
    per task and lr where the grid has several)."""
    _style()
    data = gradient_flow_data(gradient_profiles)
    data["run"] = data["task"] + ", lr " + data["lr"].map("{:g}".format)
    several = data["run"].nunique() > 1
    panels = list(dict.fromkeys(zip(data["run"], data["variant"], strict=True)))
    steps = sorted(data["step"].unique())
    colors = dict(zip(steps, sns.color_palette("viridis", len(steps) + 1), strict=False))
    cols = max(1, min(len(panels), 3))
    rows = max(math.ceil(len(panels) / cols), 1)
    fig, axes = _subplots(rows, cols, 2.0, extra=1.2, sharex=True)
    for ax, (run, variant) in zip(axes.flat, panels, strict=False):
        sub = data[(data["run"] == run) & (data["variant"] == variant)]
        for step, d in sub.groupby("step"):
            ax.plot(d["distance"], d["log10_grad_norm"], color=colors[step], lw=1.4,
                    label=f"{variant} step {step}")  # fmt: skip
        ax.set_title(f"{run}: {variant}" if several else variant)
    _hide_empty(axes, len(panels))
    _xlabel(axes, "distance T − k (steps)")
    fig.supylabel("log10 ||dE_T / dh_k||")
    handles = [Line2D([], [], color=colors[s], lw=1.8) for s in steps]
    _legend_below(fig, handles, [f"{s:g}" for s in steps],
                  title=f"training step (mean over {_n(data['n_seeds'])} seeds)")  # fmt: skip
    fig.suptitle("F5  Gradient flow through time during training")
    return fig


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
    fig, axes = _subplots(1, 1, 2.6, extra=1.0)
    ax = axes[0, 0]
    for j, task in enumerate(tasks):
        s = summary[summary["task"] == task].set_index("variant").reindex(variants)
        x = np.arange(len(variants)) + (j - (len(tasks) - 1) / 2) * width
        ax.bar(x, s["mean"], width * 0.95, color=colors[task], label=task)
        _errorbars(ax, x, s["mean"], s["low"], s["high"], fmt="none", color="black", lw=1.2)
        d = data[data["task"] == task]
        pos = dict(zip(variants, x, strict=True))
        ax.plot(d["variant"].map(pos), d["accuracy"], "o", color="black", ms=2.5, zorder=3)
    ax.set_xticks(range(len(variants)), variants)
    ax.xaxis.grid(False)
    for i, chance in enumerate(sorted(data["baseline_metric"].unique())):  # input-blind
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance" if i == 0 else None)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"model (n = {summary['n'].max() if len(summary) else 0} seeds)")
    ax.set_ylabel("test accuracy")
    handles, labels = ax.get_legend_handles_labels()
    _legend_below(fig, handles, labels, title="task (bars: mean [95%], dots: seeds)")
    fig.suptitle(f"F6  Real data read step by step: {', '.join(sorted(data['task'].unique()))}")
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
    fig, axes = _subplots(1, 1, 0.32 * max(len(df), 2), extra=1.3)
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
    _legend_below(fig, handles, labels, title="verdict (dot: ours, line: 95% interval)")
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


def _pad_log(ax, axis: str = "y", frac: float = 0.08) -> None:
    """Widen a log axis by frac of its span on each side, so markers at the data's edge show
    whole."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    a, b = np.log10(lo), np.log10(hi)
    pad = frac * max(b - a, 0.2)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(10 ** (a - pad), 10 ** (b + pad))


def plot_replication_curves(
    replications: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame
) -> plt.Figure:
    """F8: curves beside published points. A panel per run with a final-loss target: loss
    against steps (median over seeds, band: quartiles; cross: the published value at the run's
    last step); a panel per source and task with sequences-to-solve targets."""
    _style()
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
    fig, axes = _subplots(math.ceil(n / cols), cols, 2.1, extra=1.2)
    flat = list(axes.flat)
    for ax, cid in zip(flat, cells, strict=False):
        d = data[data["cell_id"] == cid]
        ax.plot(d["step"], d["median"], color="C0", lw=1.4, label=f"ours {cid}")
        ax.fill_between(d["step"], d["q25"], d["q75"], color="C0", alpha=0.25, lw=0)
        for _, t in losses[losses["cell_id"] == cid].iterrows():
            ax.plot(d["step"].max(), t["published"], "X", color="black", ms=8, label=t["target"])
        ax.set(yscale="log", xlabel="optimizer step", ylabel="validation loss", title=cid)
        ax.margins(x=0.06)
        _pad_log(ax)
    for ax, g in zip(flat[len(cells) :], groups, strict=False):
        g = g.sort_values("seq_len")
        ran = g[g["verdict"] != "not run"]
        _errorbars(ax, ran["seq_len"], ran["ours"], ran["low"],
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
        _pad_log(ax)
    _hide_empty(axes, len(cells) + len(groups))
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
    _legend_below(fig, [h for h, k in zip(handles, keep, strict=True) if k],
                  [s for s, k in zip(labels, keep, strict=True) if k])  # fmt: skip
    fig.suptitle("F8  Replications: curves with the published points drawn on ours")
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
FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure(
            "f1_gradient_decay", plot_gradient_decay, "E1 gradients at initialisation", "e1_init"
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
        Figure("f8_replication_curves", plot_replication_curves, "Replications", "replications"),
    )
}


def save(fig: plt.Figure, png: str | Path, svg: str | Path) -> None:
    """Write fig as PNG (DPI) and SVG, then close it."""
    for path in (png, svg):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=PAD_IN)
    plt.close(fig)
