"""E5: real data. scikit-learn's 8x8 digits read pixel by pixel (T = 64), in order and permuted
(the paper grid: sequential and permuted MNIST, T = 784); held-out accuracy per model. Its figure
F6 and its report section (it tests no claim)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import aggregate
from ..numbers import ci, pct
from ..plotting import PALETTE, Figure, errorbars, legend_below, style, subplots
from ..report import Section, Table, absent
from ..results import accuracies
from ..sections import TrainSection
from ..selection import selected
from .base import Experiment

# F6 -------------------------------------------------------------------------------------------


def digits_data(runs: pd.DataFrame) -> pd.DataFrame:
    """Selected runs: test accuracy per run (diverged runs count as chance)."""
    df = selected(runs)
    return df.assign(accuracy=aggregate.accuracy_or_chance(df))


def plot_digits(runs: pd.DataFrame) -> plt.Figure:
    """F6: test accuracy per model on sequential and permuted digits: bars are means with 95%
    bootstrap intervals over seeds, dots single seeds."""
    style()
    data = digits_data(runs)
    summary = accuracies(data)
    variants, tasks = list(dict.fromkeys(data["variant"])), list(dict.fromkeys(data["task"]))
    colors = dict(zip(tasks, sns.color_palette(PALETTE, len(tasks)), strict=True))
    width = 0.8 / max(len(tasks), 1)
    fig, axes = subplots(1, 1, 2.6, extra=1.0)
    ax = axes[0, 0]
    for j, task in enumerate(tasks):
        s = summary[summary["task"] == task].set_index("variant").reindex(variants)
        x = np.arange(len(variants)) + (j - (len(tasks) - 1) / 2) * width
        ax.bar(x, s["mean"], width * 0.95, color=colors[task], label=task)
        errorbars(ax, x, s["mean"], s["low"], s["high"], fmt="none", color="black", lw=1.2)
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
    legend_below(fig, handles, labels, title="task (bars: mean [95%], dots: seeds)")
    fig.suptitle(f"F6  Real data read step by step: {', '.join(sorted(data['task'].unique()))}")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """The mean test accuracy per model and task (F6's), the best and the worst."""
    runs = selected(t["runs"])
    if runs.empty:
        return absent(s)
    acc = accuracies(runs).sort_values(["variant", "task"])
    acc["text"] = [ci(r.mean, r.low, r.high, r.n, pct) for r in acc.itertuples()]
    s.tables.append(
        Table(
            acc.pivot(index="variant", columns="task", values="text").reset_index(),
            "Test accuracy on the task's fixed test split: mean over seeds [95% bootstrap "
            "interval over seeds], n = seeds (selected learning rate; a diverged run counts "
            "as chance).",
        )
    )
    acc = acc.set_index(["variant", "task"])
    best, worst = acc["mean"].idxmax(), acc["mean"].idxmin()
    chance = runs.groupby("task")["baseline_metric"].first()  # the input-blind baseline
    s.paragraphs.append(
        f"The best model is {best[0]} on {best[1]}, with a test accuracy of "
        f"{acc.loc[best, 'text']} (chance: {pct(chance[best[1]])}); the worst is {worst[0]} on "
        f"{worst[1]}, with {acc.loc[worst, 'text']}."
    )
    return s


def comparison(t: dict) -> Table:
    """Per task, each variant's mean test accuracy, best first (`rnnbench compare`)."""
    acc = accuracies(selected(t["runs"])).sort_values(
        ["task", "mean"], ascending=[True, False], kind="stable"
    )
    return Table(
        pd.DataFrame(
            {
                "task": acc["task"],
                "variant": acc["variant"],
                "test accuracy [95%], n": [
                    ci(r.mean, r.low, r.high, r.n, pct) for r in acc.itertuples()
                ],
            }
        ),  # fmt: skip
        "Test accuracy on the task's fixed test split, mean over seeds [95% bootstrap interval "
        "over seeds] (selected learning rate; a diverged run counts as chance).",
    )


EXPERIMENT = Experiment(
    id="e5_digits",
    title="E5 Real data: digits and MNIST read step by step",
    summary="E5, real data: scikit-learn's 8x8 digits read pixel by pixel (T = 64), in order "
    "and permuted; held-out accuracy per model.",
    section=TrainSection,
    figures=(Figure("f6_digits", plot_digits, "E5 digits"),),
    report=report_section,
    compare=comparison,
)
