"""What every figure shares: the style, page-width panels, legends, clip-setting colours, error
bars, `save`, and `Figure`, the entry by which an experiment (rnnbench.experiments) declares a
figure: its name, its plotting function, and the category Snakemake's report lists it under.

Plot functions take the pipeline's tables (see results/README.md) by name, already filtered to
their experiment's rows, and return a matplotlib Figure; `save` writes it as PNG and SVG. A new
figure is one plotting function and one `Figure` entry in its experiment's module, and one caption
(workflow/report/<name>.rst). Rates carry 95% Wilson error bars (F2, F4), means a seed bootstrap
(F6); F2, F4 and F6 show the selected learning rate only. Colours: seaborn's colour-blind-safe
palette; log axes where values span decades (log10 columns are already on a log scale).

Every figure is drawn at the report's column width (`PAGE_WIDTH_IN`, 960 px at `DPI`), so that a
point of its text is a point on the page: no text is smaller than `MIN_FONT_PT`, panels wrap into
rows instead of growing the width, and legends sit outside the panels (constrained layout makes
room for them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

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


def style() -> None:
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


def subplots(rows: int, cols: int, row_height: float, extra: float = 1.0, **kw):
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


def legend_below(fig: plt.Figure, handles: list, labels: list[str], title: str | None = None):
    """One legend for the whole figure, under its panels, in as many columns as fit the width."""
    longest = max((len(s) for s in labels), default=1)
    per_entry = (longest * 0.5 + 4.5) * MIN_FONT_PT / 72  # inches: text plus handle
    cols = max(1, min(len(labels), int(PAGE_WIDTH_IN * 0.95 // per_entry)))
    return fig.legend(
        handles, labels, loc="outside lower center", ncols=cols, title=title, frameon=False
    )


def xlabel(axes: np.ndarray, text: str) -> None:
    """Label the x axis of the lowest visible panel of each column (a figure-wide label would
    collide with the legend under the panels)."""
    for column in axes.T:
        shown = [ax for ax in column if ax.get_visible()]
        if shown:
            shown[-1].set_xlabel(text)
            shown[-1].xaxis.set_tick_params(labelbottom=True)


def hide_empty(axes: np.ndarray, used: int) -> None:
    """Hide the panels after the first `used` and show x tick labels on the panels above them
    (shared x axes show them on the bottom row only)."""
    rows, cols = axes.shape
    for k, ax in enumerate(axes.flat):
        if k >= used:
            ax.set_visible(False)
            if k - cols >= 0:
                axes.flat[k - cols].xaxis.set_tick_params(labelbottom=True)


def clip_order(df: pd.DataFrame, label: str = "clip_setting") -> list[str]:
    """The labels in df[label], unclipped first, then by clip mode, threshold and lr (columns
    of df: the labels are never parsed)."""
    df = df.assign(clipped=df["clip"] != "none")
    by = [c for c in ("clipped", "clip", "clip_threshold", "lr") if c in df]
    return list(dict.fromkeys(df.sort_values(by, kind="stable")[label]))


def clip_styles(df: pd.DataFrame) -> dict[str, tuple]:
    """clip_setting -> (colour, marker): unclipped near black, each clip mode one sequential hue
    (darker = larger threshold) and one marker."""
    styles = {}
    modes = sorted(set(df["clip"]) - {"none"})  # as clip_order: norm blue, value orange
    for setting in clip_order(df):
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


def panel_name(rows: pd.DataFrame) -> str:
    """A panel's title: the cell's label (the tables' cell_label) and its nonlinearity."""
    first = rows.iloc[0]
    return f"{first['cell_label']}-{first['nonlinearity']}"


def seed_range(values) -> str:
    """'5' or '3-5': the n of seeds behind a figure's points."""
    values = pd.Series(values).dropna()
    if values.empty:
        return "0"
    lo, hi = int(values.min()), int(values.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def errorbars(ax, x, rate, low, high, **kw):
    """Points at rate with vertical bars from low to high."""
    rate, low, high = (np.asarray(v, dtype=float) for v in (rate, low, high))
    return ax.errorbar(x, rate, yerr=[rate - low, high - rate], capsize=2, **kw)


def pad_log(ax, axis: str = "y", frac: float = 0.08) -> None:
    """Widen a log axis by frac of its span on each side, so markers at the data's edge show
    whole."""
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    a, b = np.log10(lo), np.log10(hi)
    pad = frac * max(b - a, 0.2)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(10 ** (a - pad), 10 ** (b + pad))


@dataclass(frozen=True)
class Figure:
    """One figure, as its experiment declares it: its name (the stem of its files), its plotting
    function, the category Snakemake's report lists it under, and its caption (an .rst file,
    relative to the repository root; default workflow/report/<name>.rst). The tables it reads are
    the plotting function's parameters; the experiment that declares it sets `experiment`."""

    name: str
    plot: Callable[..., plt.Figure]
    category: str
    caption: str = ""
    experiment: str = ""  # set by the experiment that declares it

    def __post_init__(self):
        if not self.caption:
            object.__setattr__(self, "caption", f"workflow/report/{self.name}.rst")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the tables it reads (aggregate.TABLES), as the plot function takes them."""
        return tuple(inspect.signature(self.plot).parameters)


def save(fig: plt.Figure, png: str | Path, svg: str | Path) -> None:
    """Write fig as PNG (DPI) and SVG, then close it."""
    for path in (png, svg):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=PAD_IN)
    plt.close(fig)
