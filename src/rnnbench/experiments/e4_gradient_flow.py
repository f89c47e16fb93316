"""E4: gradient flow during training. Gradient-through-time profiles every
train.profile_every steps of training, RNN against LSTM. The experiment's claim, its figure F5
and its report section."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from .. import aggregate
from ..claims import Claim, conclusion
from ..numbers import fmt
from ..plotting import Figure, hide_empty, legend_below, seed_range, style, subplots, xlabel
from ..report import Section, Table, absent, slope_text
from ..sections import TrainSection
from ..selection import LAST
from ..verdicts import above
from .base import LSTM_1997, Experiment

TRAINING_FLOW = Claim(
    "training_flow",
    "After training, the LSTM still carries gradient further back in time than the RNN",
    LSTM_1997,
    "decay_rates",
    {"step": LAST, "cell": "lstm"},
    "slope_difference",
    "LSTM slope - RNN slope at the last profiled step (decades/step)",
    above(0),
    versus={"cell": "rnn"},
    pair_on=("task", "seq_len", "hidden_size", "clip", "clip_threshold"),
    reduce="min",
    labels=("LSTM", "RNN"),
    sentences={
        "reproduced": "After training the LSTM's gradient still decays more slowly through time "
        "than the RNN's, at every setting.",
        "not reproduced": "After training the LSTM's gradient decays faster through time than "
        "the RNN's at some setting.",
        "inconclusive": "Whether the LSTM's gradient still decays more slowly than the RNN's "
        "after training is not decided by these intervals.",
    },
)


# F5 -------------------------------------------------------------------------------------------


def gradient_flow_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean log10 gradient norm per variant x training step x distance."""
    return (
        profiles.groupby(["task", "seq_len", "lr", "variant", "step", "distance"], as_index=False)
        .agg(log10_grad_norm=("log10_grad_norm", "mean"), n_seeds=("seed", "nunique"))
        .replace([np.inf, -np.inf], np.nan)
    )


def plot_gradient_flow(gradient_profiles: pd.DataFrame) -> plt.Figure:
    """F5: gradient-through-time profiles at several training steps, one panel per model (and
    per task and lr where the grid has several)."""
    style()
    data = gradient_flow_data(gradient_profiles)
    data["run"] = data["task"] + ", lr " + data["lr"].map("{:g}".format)
    several = data["run"].nunique() > 1
    panels = list(dict.fromkeys(zip(data["run"], data["variant"], strict=True)))
    steps = sorted(data["step"].unique())
    colors = dict(zip(steps, sns.color_palette("viridis", len(steps) + 1), strict=False))
    cols = max(1, min(len(panels), 3))
    rows = max(math.ceil(len(panels) / cols), 1)
    fig, axes = subplots(rows, cols, 2.0, extra=1.2, sharex=True)
    for ax, (run, variant) in zip(axes.flat, panels, strict=False):
        sub = data[(data["run"] == run) & (data["variant"] == variant)]
        for step, d in sub.groupby("step"):
            ax.plot(d["distance"], d["log10_grad_norm"], color=colors[step], lw=1.4,
                    label=f"{variant} step {step}")  # fmt: skip
        ax.set_title(f"{run}: {variant}" if several else variant)
    hide_empty(axes, len(panels))
    xlabel(axes, "distance T − k (steps)")
    fig.supylabel("log10 ||dE_T / dh_k||")
    handles = [Line2D([], [], color=colors[s], lw=1.8) for s in steps]
    n = seed_range(data["n_seeds"])
    legend_below(fig, handles, [f"{s:g}" for s in steps],
                 title=f"training step (mean over {n} seeds)")  # fmt: skip
    fig.suptitle("F5  Gradient flow through time during training")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """The decay slope per model and profiled step at the selected learning rate; the
    conclusion chosen by the claim's verdict."""
    rates = aggregate.selected_only(t["decay_rates"], t["runs"])
    if rates.empty:
        return absent(s)
    rates = rates.assign(text=[slope_text(r) for r in rates.itertuples()])
    table = rates.pivot_table(index="step", columns="variant", values="text", aggfunc="first")
    s.tables.append(
        Table(
            table.reset_index(),
            "Fitted decay slope (decades per step) of the gradient profile during training, at "
            "the selected learning rate: mean over seeds [95% bootstrap interval], n = seeds.",
        )
    )
    first, last = rates["step"].min(), rates["step"].max()
    by = rates.set_index(["variant", "step"])["text"]
    text = (
        f"Decay slope at step {fmt(first)} and at step {fmt(last)}: "
        + "; ".join(
            f"{v} {by.get((v, first), '–')} → {by.get((v, last), '–')}"
            for v in dict.fromkeys(rates["variant"])
        )
        + ". "
        + conclusion(TRAINING_FLOW, score)
    ).rstrip()
    s.paragraphs.append(text)
    return s


EXPERIMENT = Experiment(
    id="e4_gradient_flow",
    title="E4 Gradient flow during training",
    summary="E4, gradient flow during training: gradient-through-time profiles every "
    "train.profile_every steps, RNN against LSTM.",
    section=TrainSection,
    profiles=True,
    claims=(TRAINING_FLOW,),
    figures=(Figure("f5_gradient_flow", plot_gradient_flow, "E4 gradient flow during training"),),
    report=report_section,
)
