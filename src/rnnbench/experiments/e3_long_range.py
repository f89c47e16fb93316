"""E3: vanishing gradients and long-range learning. Each variant trained until solved on adding,
copy and temporal order across T, with an lr sweep and the horizon ladder: success rates against
T, the learnable horizon and the sequences seen until solved. The experiment's claims, its figure
F4 (horizons) and its report section."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from .. import aggregate
from ..claims import Claim, conclusion
from ..numbers import ci, fmt, pct, rate, values
from ..plotting import PALETTE, Figure, errorbars, style, subplots
from ..report import CLIPPING, Section, Table, absent, varying
from ..sections import TrainSection
from ..selection import Missing, select, selected
from ..verdicts import above, below, between
from .base import BENGIO_1994, LE_2015, LI_2018, LSTM_1997, Experiment

TANH_RNN = {"cell": "rnn", "nonlinearity": "tanh", "init": ("!=", "identity")}
IRNN = {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}
LSTM = {"cell": "lstm"}
COMPARABLE = 3  # Le et al.'s "comparable": horizons within this factor (log2: +-1.58)

# Data, as the claims': the rows of a one-layer IndRNN on adding, and why it has no horizon there
# (said where one of its variants solves no T), citing where Li et al.'s two layers solve it.
ONE_LAYER_INDRNN = {"cell": "indrnn", "task": "adding"}
ONE_LAYER_INDRNN_NOTE = (
    "{variants} (one IndRNN layer) solves adding at no T of this grid: no unit reads another's "
    "state, so a unit whose ReLU lets only the marked values in (a negative bias that the marker "
    "lifts) also wipes its own memory at every unmarked step, and a unit that holds its memory "
    f"also sums the unmarked values. {LI_2018} (Section 5.1) solve adding with two IndRNN "
    "layers, the first selecting and the second accumulating, |u| <= 2^(1/T); the replication "
    "llczg18_adding_indrnn (config/replications.yaml: the cell indrnn2, their init and bound, "
    "T = 100) shows where it does."
)


def _lstm_beats_tanh(task: str, place: str) -> Claim:
    return Claim(
        f"lstm_beats_tanh_{task}",
        f"An LSTM learns {task.replace('_', ' ')} problems over time lags a tanh RNN trained "
        "by backpropagation through time does not learn: its horizon is longer",
        f"{LSTM_1997} ({place})",
        "runs",
        {"task": task, **LSTM},
        "horizon_difference",
        f"LSTM horizon - RNN-tanh horizon on {task} (steps)",
        above(0),
        versus=TANH_RNN,
        labels=("LSTM", "RNN-tanh"),
        controlled=True,
        sentences={
            "reproduced": f"On {task} the LSTM learns longer lags than the tanh RNN.",
            "not reproduced": f"On {task} the LSTM does not learn longer lags than the tanh RNN "
            "at this size and budget.",
            "inconclusive": f"Whether the LSTM learns longer lags than the tanh RNN on {task} is "
            "not decided by these intervals.",
        },
    )


CLAIMS = (
    Claim(
        "long_range_hard",
        "Vanishing gradients make it hard for RNNs to learn long-range dependencies: a tanh or "
        "sigmoid RNN solves short problems more often than long ones",
        f"{BENGIO_1994} (abstract)",
        "horizons",
        {"cell": "rnn", "nonlinearity": ["tanh", "sigmoid"], "init": ("!=", "identity")},
        "success_short_long",
        "success rate of RNN-tanh/sigmoid at each task's shortest T minus at its longest T",
        above(0),
        controlled=True,
    ),
    Claim(
        "lstm_sequences_grow_slower",
        "The training sequences an LSTM needs to solve the adding problem grow more slowly with "
        "the time lag T than a tanh RNN's",
        f"{LSTM_1997} (Section 5.4, Experiment 4: sequences to solve against T, Table 7)",
        "runs",
        {"task": "adding", **LSTM},
        "growth_exponent_difference",
        "LSTM growth exponent of sequences to solve in T - RNN-tanh's (sequences ~ T^b)",
        below(0),
        versus=TANH_RNN,
        labels=("LSTM", "RNN-tanh"),
        controlled=True,
        sentences={
            "reproduced": "The sequences the LSTM needs grow more slowly with T than the tanh "
            "RNN's: the headline of Hochreiter & Schmidhuber's adding experiment.",
            "not reproduced": "The LSTM's sequences to solve do not grow more slowly with T than "
            "the tanh RNN's here.",
            "inconclusive": "Whether the LSTM's sequences to solve grow more slowly with T is "
            "not decided by this grid.",
        },
    ),
    _lstm_beats_tanh("adding", "Section 5.4, Experiment 4"),
    _lstm_beats_tanh("temporal_order", "Section 5.6, Experiment 6"),
    Claim(
        "irnn_beats_tanh_adding",
        "An identity-initialised ReLU RNN (IRNN) learns longer adding problems than a tanh RNN",
        f"{LE_2015} (the adding-problem experiment)",
        "runs",
        {"task": "adding", **IRNN},
        "horizon_difference",
        "IRNN horizon - RNN-tanh horizon on adding (steps)",
        above(0),
        versus=TANH_RNN,
        labels=("IRNN", "RNN-tanh"),
        controlled=True,
    ),
    Claim(
        "irnn_comparable_lstm_adding",
        "On the adding problem an IRNN is comparable to an LSTM: their horizons lie within a "
        f"factor of {COMPARABLE} of each other",
        f"{LE_2015} (abstract: 'comparable to a standard implementation of LSTMs on our four "
        "benchmarks'; the adding-problem experiment)",
        "runs",
        {"task": "adding", **IRNN},
        "horizon_log_ratio",
        f"log2(IRNN horizon / LSTM horizon) on adding (equivalence margin: a factor of "
        f"{COMPARABLE})",
        between(-math.log2(COMPARABLE), math.log2(COMPARABLE)),
        versus={**LSTM, "nonlinearity": None, "init": None},
        labels=("IRNN", "LSTM"),
        controlled=True,
    ),
)


# F4 -------------------------------------------------------------------------------------------


def horizon_data(horizons: pd.DataFrame) -> pd.DataFrame:
    """Success rate per task x variant x T, with each variant's horizon and its interval in its
    label."""
    df = horizons.copy()
    text = [
        f"{_horizon(r)} [{r.horizon_low:g}, {r.horizon_high:g}]" if not pd.isna(r.horizon)
        else "none"
        for r in df.itertuples()
    ]  # fmt: skip
    df["model (horizon T)"] = df["variant"] + " (" + pd.Series(text, index=df.index) + ")"
    return df


def task_panels(data: pd.DataFrame, height: float):
    """F4's and F9's layout: one panel (row) per task, T on a log axis ticked at the grid's
    values, a colour and a small sideways offset (overlapping bars stay visible) per variant.
    -> fig, [(ax, task, its rows, [(variant, its rows by T, colour, x factor)])]."""
    tasks = list(dict.fromkeys(data["task"]))
    variants = list(dict.fromkeys(data["variant"]))
    colors = dict(zip(variants, sns.color_palette(PALETTE, len(variants)), strict=True))
    fig, axes = subplots(max(len(tasks), 1), 1, height, extra=0.9, sharex=True)
    ticks = sorted(data["seq_len"].unique())
    panels = []
    for ax, task in zip(axes[:, 0], tasks, strict=False):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        sub = data[data["task"] == task]
        lines = [
            (v, d.sort_values("seq_len"), colors[v], 1 + 0.025 * (i - (len(variants) - 1) / 2))
            for i, v in enumerate(variants)
            if not (d := sub[sub["variant"] == v]).empty
        ]
        panels.append((ax, task, sub, lines))
    axes[-1, 0].set_xlabel("sequence length T (steps, log scale)")
    return fig, panels


def plot_horizons(horizons: pd.DataFrame) -> plt.Figure:
    """F4: success rate (Wilson 95% bars) against T per model, one panel (row) per task with its
    legend beside it; horizons marked with a star."""
    style()
    fig, panels = task_panels(horizon_data(horizons), 1.8)
    for ax, task, sub, lines in panels:
        for _, d, color, jitter in lines:
            x = d["seq_len"] * jitter
            label = d["model (horizon T)"].iloc[0]
            errorbars(ax, x, d["success_rate"], d["success_low"], d["success_high"], marker="o",
                      ms=3.5, lw=1.1, color=color, label=label)  # fmt: skip
            h = d["horizon"].iloc[0]
            if not pd.isna(h):
                at = d[d["seq_len"] == h]
                ax.plot(at["seq_len"] * jitter, at["success_rate"], marker="*", ms=11,
                        color=color, mec="black", mew=0.6, ls="none", zorder=4)  # fmt: skip
        ax.axhline(0.5, color="grey", ls=":", lw=1)
        ax.set_ylim(-0.1, 1.1)
        ax.set_ylabel("fraction solved")
        ax.set_title(f"{task} (n = {sub['n_runs'].max()} seeds per point)")
        ax.legend(title="model (horizon T [95%])", loc="upper left", bbox_to_anchor=(1.01, 1.02),
                  frameon=False)  # fmt: skip
    fig.suptitle("F4  Learnable horizon: largest T solved by >= half the seeds (star)")
    return fig


# F9 -------------------------------------------------------------------------------------------


def sequences_data(horizons: pd.DataFrame) -> pd.DataFrame:
    """Per task x variant x T: the Kaplan-Meier median sequences to solve and its interval, the
    budget (where the median is not reached within it: censored), and the solved count."""
    df = horizons.copy()
    df["budget"] = df["steps"] * df["batch_size"]
    df["censored"] = ~np.isfinite(df["km_sequences_to_solve"])
    return df


def plot_sequences(horizons: pd.DataFrame) -> plt.Figure:
    """F9: sequences to solve against T (log-log) per variant, one panel per task: the Kaplan-
    Meier median with its 95% interval (seeds that never solved right-censored at the budget);
    a median not reached within the budget is an open triangle at the budget."""
    style()
    fig, panels = task_panels(sequences_data(horizons), 1.9)
    for ax, task, sub, lines in panels:
        for variant, d, color, jitter in lines:
            x = d["seq_len"] * jitter
            seen = d[~d["censored"]]
            high = seen["km_sequences_high"].where(np.isfinite(seen["km_sequences_high"]),
                                                   seen["budget"])  # fmt: skip
            if len(seen):  # one legend entry per variant: the line, or else the triangle
                errorbars(ax, x[~d["censored"]], seen["km_sequences_to_solve"],
                          seen["km_sequences_low"], high, marker="o", ms=3.5, lw=1.1,
                          color=color, label=variant)  # fmt: skip
            cens = d[d["censored"]]
            ax.plot(x[d["censored"]], cens["budget"], "^", mfc="none", color=color, ms=6,
                    label=None if len(seen) else variant)  # fmt: skip
        ax.axhline(sub["budget"].max(), color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_ylabel("sequences to solve")
        ax.set_title(f"{task} (n = {sub['n_runs'].max()} seeds per point; dotted: the budget)")
        ax.legend(title="model", loc="upper left", bbox_to_anchor=(1.01, 1.02), frameon=False)
    fig.suptitle("F9  Sequences to solve against T (open triangle: not solved within the budget)")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """The controls first, then horizons (censored ones as lower bounds), pooled success at the
    longest T, the trials the ladder skipped, the selected learning rates (flagged at the edge of
    their sweep), sequences to solve against T, and the claims' conclusions."""
    h = t["horizons"]
    if h.empty:
        return absent(s)
    s.paragraphs.append(controls_text(aggregate.controls(h)))
    s.tables.append(_horizon_table(h))
    if why := one_layer_indrnn_text(h):
        s.paragraphs.append(why)
    longest = h["seq_len"].max()
    at_max = h[h["seq_len"] == longest].groupby("variant")[["n_solved", "n_runs"]].sum()
    order = (at_max["n_solved"] / at_max["n_runs"]).sort_values(ascending=False).index
    s.paragraphs.append(
        f"At the longest sequence (T = {fmt(int(longest))}) the success rate, pooled over "
        "tasks, is " + "; ".join(f"{v} {rate(*at_max.loc[v].tolist())}" for v in order) + "."
    )
    s.paragraphs.append(skipped_text(selected(t["runs"])))
    s.paragraphs.append(hugging_text(t["runs"]))
    lrs = lr_table(t["runs"])
    if isinstance(lrs, str):
        s.paragraphs.append(lrs)
    else:
        s.tables.append(lrs)
        s.paragraphs.append(edge_text(h, t["runs"]))
    seqs = sequences_table(h)
    if seqs is None:
        s.paragraphs.append("No selected run met its solved criterion on the validation set.")
    else:
        s.tables.append(seqs)
    said = [conclusion(c, score) for c in CLAIMS]
    if any(said):
        s.paragraphs.append(" ".join(c for c in said if c))
    return s


def controls_text(checks: pd.DataFrame) -> str:
    """The controls in words; a failed one says what it rules out."""
    ok = checks["positive"] & checks["negative"]
    out = []
    for c in checks[~ok].itertuples():
        if not c.positive:
            out.append(
                f"No variant solves {c.task} at T = {c.seq_len} here (the best, {c.best_variant}: "
                f"{c.n_solved} of {c.n_runs} seeds): this grid cannot measure horizons on "
                f"{c.task}, and the claims on it are inconclusive for that reason."
            )
        else:
            out.append(f"The input-blind baseline meets {c.task}'s criterion: it measures nothing.")
    if ok.any():
        tasks = "; ".join(
            f"{c.task}: {c.best_variant} solves T = {c.seq_len} in {c.n_solved} of {c.n_runs}"
            for c in checks[ok].itertuples()
        )
        out.append(
            "Controls: on each of these tasks some variant solves the shortest T (positive "
            f"control; {tasks}) and the input-blind baseline fails the criterion (negative "
            "control)."
        )
    return " ".join(out)


def one_layer_indrnn_text(h: pd.DataFrame) -> str | None:
    """ONE_LAYER_INDRNN's note, where a variant of its rows has no horizon (None: none has)."""
    try:
        rows = select(h, ONE_LAYER_INDRNN)
    except Missing:
        return None
    none = sorted(v for v, g in rows.groupby("variant") if g["horizon"].isna().all())
    return ONE_LAYER_INDRNN_NOTE.format(variants=", ".join(none)) if none else None


def edge_text(h: pd.DataFrame, runs: pd.DataFrame) -> str:
    """How often the selected learning rate is the sweep's smallest or largest, and which."""
    trained = h[h["n_skipped"] < h["n_runs"]]
    edge = trained[trained["lr_at_edge"]]
    lrs = runs.loc[runs["experiment"] == "e3_long_range", "lr"].unique()
    top = int((edge["lr"] == lrs.max()).sum()) if len(lrs) else 0
    text = (
        f"In {len(edge)} of {len(trained)} trained trials the selected learning rate is the "
        f"smallest or largest of its sweep ({top} the largest, {len(edge) - top} the smallest), "
        "so a better one may lie outside it: such a choice is censored too (the horizons "
        "table's lr_at_edge)."
    )
    if len(lrs) == 2:
        text += (
            " With two learning rates in the sweep every choice is at an edge; a sweep of three "
            "or more says which choices are."
        )
    return text


def _horizon_table(h: pd.DataFrame) -> Table:
    groups = h.groupby(aggregate.HORIZON_GROUP, dropna=False, as_index=False).first()
    groups["text"] = [
        ci(_horizon(r), r.horizon_low, r.horizon_high, r.n_seeds) for r in groups.itertuples()
    ]
    index = ["variant", *varying(groups, ["hidden_size", "clip_setting"])]
    table = groups.pivot_table(index=index, columns="task", values="text", aggfunc="first")
    table = table.rename_axis(index={"clip_setting": CLIPPING})
    return Table(
        table.reset_index(),
        "Horizon: the largest T solved by at least half of the seeds (none: no T in the grid "
        "was; >= T: the grid's largest T, a lower bound; –: not in the grid) [95% bootstrap "
        "interval over seeds, in which no horizon counts as 0], n = seeds.",
    )


def _horizon(r) -> str:
    """A horizon as text: 'none', '80', or '>= 320' where it is the grid's largest T."""
    if pd.isna(r.horizon):
        return "none"
    return f">= {fmt(r.horizon)}" if r.horizon_censored else fmt(r.horizon)


def skipped_text(runs: pd.DataFrame) -> str:
    """How many cells the horizon ladder skipped, and why that makes horizons lower bounds."""
    skipped = runs[runs["status"] == "skipped"]
    cells = runs["cell_id"].nunique()
    if skipped.empty:
        return f"All {cells} cells were trained; the horizon ladder skipped none."
    return (
        f"{skipped['cell_id'].nunique()} of {cells} cells ({len(skipped)} runs at the selected "
        "learning rate) were not trained: every seed at the selected learning rate had failed "
        "at the next shorter T (the horizon ladder; the T is in the runs table's "
        "skipped_after), and they count as unsolved. This is a lower-bound argument: a model "
        "that fails at T is counted as failing at every longer T, so it can only lower the "
        "success rates at long T and the horizons, never raise them."
    )


def hugging_text(runs: pd.DataFrame) -> str:
    """How many runs stopped as solved on the validation set fail the criterion on the test set
    (threshold hugging: a model just inside the criterion on one set, outside on the other)."""
    frozen = runs[
        runs["solved_step"].notna()
        & (runs["steps_trained"] < runs["steps"])
        & (runs["status"] != "diverged")
    ]
    if frozen.empty:
        return "No run stopped as solved on the validation set."
    failed = int((frozen["status"] != "solved").sum())
    margin = (
        f" by train.freeze_margin = {values(frozen['freeze_margin'])}"
        if "freeze_margin" in frozen
        else ""
    )
    return (
        f"Of the runs stopped as solved on the validation set{margin}, {failed} of {len(frozen)} "
        f"fail the criterion on the test set ({rate(failed, len(frozen))})."
    )


def lr_table(runs: pd.DataFrame) -> Table | str:
    """The learning rate selected (on validation) per variant and task, or one sentence when
    the grid trains a single learning rate; `runs`: every lr of the sweep."""
    if runs["lr"].nunique() <= 1:
        return f"Every model trains at learning rate {fmt(runs['lr'].max())} (no sweep)."
    trained = runs[runs["selected"].astype(bool) & (runs["status"] != "skipped")]
    per_t = trained.groupby(["variant", "task", "seq_len"])["lr"].first().reset_index()
    text = per_t.groupby(["variant", "task"]).apply(_lr_text, include_groups=False)
    return Table(
        text.unstack("task").reset_index(),
        "Learning rate selected on the validation set, per variant and task (per T where it "
        "differs between sequence lengths).",
    )


def _lr_text(g: pd.DataFrame) -> str:
    if g["lr"].nunique() == 1:
        return fmt(g["lr"].iloc[0])
    return "; ".join(f"T = {t}: {fmt(lr)}" for t, lr in zip(g["seq_len"], g["lr"], strict=True))


def sequences_table(h: pd.DataFrame) -> Table | None:
    """Kaplan-Meier median sequences to solve with its 95% interval (seeds that never solved
    right-censored at the budget), where any seed solved."""
    rows = h[h["n_sequences_to_solve"] > 0]
    if rows.empty:
        return None

    def show(v) -> str:
        return fmt(v, 4) if np.isfinite(v) else "> budget"

    text = [
        ci(r.km_sequences_to_solve, r.km_sequences_low, r.km_sequences_high, r.n_runs, show)
        + f" ({r.n_sequences_to_solve} solved)"
        for r in rows.itertuples()
    ]
    frame = rows[["variant", "task", "seq_len"]].assign(sequences_to_solve=text)
    return Table(
        frame.rename(columns={"seq_len": "T", "sequences_to_solve": "sequences to solve"}),
        "Training sequences seen until the first validation check that met the solved "
        "criterion (solved step x batch size; Hochreiter & Schmidhuber 1997 report the same "
        "measure): Kaplan-Meier median over the seeds, those that never solved counted as not "
        "solved within the budget (right-censored; lifelines) [95% interval; > budget: not "
        "reached], n = seeds.",
    )


def comparison(t: dict) -> Table:
    """Per task, each variant's horizon and success rate at the task's longest T, longest horizon
    first (`rnnbench compare`)."""
    h = t["horizons"]
    longest = h[h["seq_len"] == h.groupby("task")["seq_len"].transform("max")]
    longest = longest.sort_values(["task", "horizon", "success_rate"], ascending=[True, False,
                                  False], na_position="last", kind="stable")  # fmt: skip
    table = pd.DataFrame({
        "task": longest["task"],
        "variant": longest["variant"],
        "horizon T [95%], n seeds": [
            ci(_horizon(r), r.horizon_low, r.horizon_high, r.n_seeds) for r in longest.itertuples()
        ],
        "solved at the longest T [95%]": [
            ci(r.success_rate, r.success_low, r.success_high, r.n_runs, pct)
            for r in longest.itertuples()
        ],
    })  # fmt: skip
    return Table(
        table,
        "Horizon: the largest T solved by at least half the seeds at the selected lr (none: no "
        "T in the grid was; >= T: the grid's largest T, a lower bound) [95% bootstrap interval "
        "over seeds]; success: Wilson interval, n = runs.",
    )


EXPERIMENT = Experiment(
    id="e3_long_range",
    title="E3 Vanishing gradients and long-range learning",
    summary="E3, vanishing gradients and long-range learning: success rate of each model "
    "variant against T on adding, copy and temporal order; the learnable horizon.",
    section=TrainSection,
    claims=CLAIMS,
    figures=(
        Figure("f4_horizons", plot_horizons, "E3 long-range learning"),
        Figure("f9_sequences_to_solve", plot_sequences, "E3 long-range learning"),
    ),
    report=report_section,
    compare=comparison,
)
