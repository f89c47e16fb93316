"""E1: gradient propagation at initialisation. Every model variant is probed (no training):
log10 ||dE_T/dh_k|| against the distance T - k, and the fitted decay slope per variant. The
experiment's claims, its figure F1 and its report section."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ..claims import Claim, conclusion
from ..measures import Sample, decades
from ..numbers import ci, fmt, spread
from ..plotting import (
    MIN_FONT_PT,
    NONLINEARITY_ORDER,
    PAGE_WIDTH_IN,
    PALETTE,
    UNCLIPPED,
    Figure,
    legend_below,
    seed_range,
    style,
    subplots,
)
from ..report import Section, Table, absent, slope_text, varying
from ..sections import ProbeSection
from ..verdicts import above, below
from .base import (
    BENGIO_1994,
    HOCHREITER_1991,
    JOZEFOWICZ_2015,
    LE_2015,
    LSTM_1997,
    PASCANU_2013,
    Experiment,
)

SLOPE_TOLERANCE = 1e-3  # decades per step: how close "slope = log10(rho)" must be
AT_INIT = {"step": 0}
LINEAR = {**AT_INIT, "cell": "rnn", "nonlinearity": "linear", "init": "orthogonal"}
ORTHOGONAL_RNN = {**AT_INIT, "cell": "rnn", "init": "orthogonal"}

LINEAR_RHO_POWER = Claim(
    "linear_rho_power",
    "BPTT multiplies the gradient by W f' once per step; without a nonlinearity its "
    "norm follows |W|^(t-k)",
    f"{BENGIO_1994}; {PASCANU_2013}; closed form",
    "decay_rates",
    LINEAR,
    "log_rho_deviation",
    "largest |slope - log10(rho)| (decades/step)",
    below(SLOPE_TOLERANCE),
    sentences={
        "reproduced": "Without a nonlinearity the RNN's decay slope equals log10(rho) to within "
        f"{SLOPE_TOLERANCE:g} decades per step at every rho, as the closed form |W|^(T−k) says.",
        "not reproduced": "Without a nonlinearity the RNN's decay slope departs from log10(rho) "
        f"by more than {SLOPE_TOLERANCE:g} decades per step at some rho.",
        "inconclusive": "Whether the RNN's decay slope without a nonlinearity equals log10(rho) "
        f"to within {SLOPE_TOLERANCE:g} decades per step is not decided by these intervals.",
    },
)
SIGMOID_FASTER = Claim(
    "sigmoid_faster",
    "Gradients vanish faster with the sigmoid nonlinearity (sup f' = 1/4) than with tanh",
    f"{HOCHREITER_1991}; {LSTM_1997}",
    "decay_rates",
    {**ORTHOGONAL_RNN, "nonlinearity": "sigmoid"},
    "slope_difference",
    "sigmoid slope - tanh slope, least negative over rho (decades/step)",
    below(0),
    versus={"nonlinearity": "tanh"},
    pair_on=("task", "seq_len", "hidden_size", "rho"),
    reduce="max",
    labels=("sigmoid", "tanh"),
    sentences={
        "reproduced": "The sigmoid's derivative is at most 1/4, and its gradient vanishes "
        "faster than tanh's at every rho.",
        "not reproduced": "The sigmoid's gradient does not vanish faster than tanh's here.",
        "inconclusive": "Whether the sigmoid's gradient vanishes faster than tanh's at "
        "every rho is not decided by these intervals.",
    },
)
CLAIMS = (
    LINEAR_RHO_POWER,
    Claim(
        "exploding",
        "Exploding gradient: with |W| > 1 the gradient grows without bound over distance",
        f"{BENGIO_1994}; {PASCANU_2013}",
        "decay_rates",
        {**LINEAR, "rho": (">", 1)},
        "decades",
        "smallest gain over the sequence, rho > 1 (decades)",
        above(0),
        reduce="min",
    ),
    Claim(
        "vanishing",
        "Vanishing gradient: with |W| < 1 the gradient of distant steps shrinks towards 0",
        f"{HOCHREITER_1991}; {BENGIO_1994}",
        "decay_rates",
        {**ORTHOGONAL_RNN, "nonlinearity": ["linear", "tanh"], "rho": ("<", 1)},
        "decades",
        "smallest loss over the sequence, rho < 1 (decades; negative = decay)",
        below(0),
        reduce="max",
    ),
    SIGMOID_FASTER,
    Claim(
        "relu_still_vanishes",
        "Even with ReLU the vanishing gradient problem still exists",
        f"{PASCANU_2013}; {LE_2015}",
        "decay_rates",
        {**ORTHOGONAL_RNN, "nonlinearity": "relu", "rho": ("~=", 1.0)},
        "slope",
        "RNN-ReLU decay slope at rho = 1 (decades/step)",
        below(0),
        reduce="max",
    ),
    Claim(
        "lstm_gradient_survives",
        "LSTM addresses the vanishing gradient: its gradient through time decays more slowly",
        LSTM_1997,
        "decay_rates",
        {**AT_INIT, "cell": "lstm"},
        "best_slope_difference",
        "LSTM slope (best forget bias) - RNN-tanh slope (decades/step)",
        above(0),
        versus={"cell": "rnn", "nonlinearity": "tanh", "init": "default"},
        labels=("LSTM", "RNN-tanh"),
    ),
    Claim(
        "forget_bias",
        "A forget-gate bias of 1 keeps LSTM gradients alive over longer distances",
        JOZEFOWICZ_2015,
        "decay_rates",
        {**AT_INIT, "cell": "lstm", "forget_bias": 1.0},
        "slope_difference",
        "LSTM slope with forget bias 1 - with forget bias 0 (decades/step)",
        above(0),
        versus={"forget_bias": 0.0},
        pair_on=("task", "seq_len", "hidden_size", "init"),
        reduce="min",
        labels=("forget bias 1", "forget bias 0"),
    ),
)


# F1 -------------------------------------------------------------------------------------------


def gradient_decay_data(profiles: pd.DataFrame) -> pd.DataFrame:
    """Every probed variant: the seed-mean log10 gradient norm and bound (NaN for a cell without
    one) per distance, with the number of seeds."""
    model = ["cell", "cell_label", "nonlinearity", "init", "rho", "forget_bias"]
    return (
        profiles.groupby(["task", "seq_len", "hidden_size", "variant", "distance"], sort=False)
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


def _panels(data: pd.DataFrame) -> pd.Series:
    """Each row's panel title: its cell, its nonlinearity where the cell has one, and on a
    second line its grid point where the grid has several."""
    title = data["cell_label"] + ("-" + data["nonlinearity"]).where(shows_nonlinearity(data), "")
    for column, text in (("task", "{}"), ("seq_len", "T = {:g}"), ("hidden_size", "H = {:g}")):
        if data[column].nunique() > 1:
            title = title + "\n" + data[column].map(text.format)
    return title


def _settings(data: pd.DataFrame) -> pd.Series:
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


def _colors(data: pd.DataFrame) -> dict[str, tuple]:
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
    style()
    data = gradient_decay_data(gradient_profiles)
    if data.empty:  # the plot rule draws F1 only where E1 is configured
        fig, axes = subplots(1, 1, 1.0, extra=0.5)
        axes[0, 0].text(0.5, 0.5, "no E1 variant in this grid", ha="center")
        return fig
    data["panel"] = _panels(data)
    data["setting"] = _settings(data)
    colors = _colors(data)
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
    fig, axes = subplots(len(rows), cols, 1.7, extra=1.4, sharex=True)
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
    n = seed_range(data["n_seeds"])
    legend_below(fig, handles, labels, title=f"measured, mean over {n} seeds "
                 "(dashed: an init not scaled over rho)")  # fmt: skip
    for ax in axes[-1]:
        ax.set_xlabel("T − k (steps)")
    fig.supylabel("log10 ||dE_T / dh_k||")
    fig.suptitle("F1  Gradient norm through time at initialisation, every probed variant")
    return fig


# The report's section --------------------------------------------------------------------------


def report_section(s: Section, t: dict, score: pd.DataFrame) -> Section:
    """The slopes of every probed variant at step 0, with their intervals and n; the linear
    and sigmoid conclusions chosen by their claims' verdicts."""
    rates = t["decay_rates"]
    rates = rates[rates["step"] == 0]
    if rates.empty:
        return absent(s)
    bounded = np.isfinite(rates["bound_slope_log10_per_step"])  # cells with a gradient bound
    orth = rates[bounded & (rates["init"] == "orthogonal")]
    orth = orth.assign(text=[slope_text(r) for r in orth.itertuples()])
    index = [*varying(orth, ["task", "seq_len", "hidden_size", "cell_label"]), "nonlinearity"]
    table = orth.pivot_table(index=index, columns="rho", values="text", aggfunc="first")
    table.columns = [f"rho = {fmt(c)}" for c in table.columns]
    s.tables.append(
        Table(
            table.reset_index(),
            "Fitted slope of log10 ||dE_T/dh_k|| against T − k (decades per step): mean over "
            "seeds [95% bootstrap interval over seeds], n = seeds.",
        )
    )
    lin = orth[orth["nonlinearity"] == "linear"]
    if not lin.empty:
        lo, hi = lin.nsmallest(1, "rho"), lin.nlargest(1, "rho")
        s.paragraphs.append(
            f"With f linear ({spread(lin['cell_label'])}) the gradient changes over "
            f"T = {fmt(int(lin['max_distance'].max()))} steps by {_decades(lo)} at "
            f"rho = {fmt(lo['rho'].iloc[0])} and by {_decades(hi)} at "
            f"rho = {fmt(hi['rho'].iloc[0])}. {conclusion(LINEAR_RHO_POWER, score)}".rstrip()
        )
    at1 = []
    for label, rows in orth[np.isclose(orth["rho"], 1.0)].groupby("cell_label", sort=False):
        by = rows.drop_duplicates("nonlinearity").set_index("nonlinearity")
        if {"tanh", "sigmoid"} <= set(by.index):
            at1.append(
                f"{label} at rho = 1: the gradient loses {_per_100(by.loc['tanh'])} with "
                f"f = tanh, and {_per_100(by.loc['sigmoid'])} with f = sigmoid."
            )
    if at1:
        s.paragraphs.append(" ".join([*at1, conclusion(SIGMOID_FASTER, score)]).rstrip())
    rates = rates.assign(name=_names(rates))
    others = rates[~rates.index.isin(orth.index)]  # every variant the table above leaves out
    if not others.empty:
        s.tables.append(_others_table(others, rates))
    gated = rates[~bounded]
    if not gated.empty:
        parts = [f"{r.name}: {slope_text(r)}" for r in gated.itertuples()]
        text = (
            f"Cells without a closed-form gradient bound, at init {spread(gated['init'])} "
            "(decades per step): " + "; ".join(parts) + "."
        )
        beside = rates[bounded & rates["init"].isin(gated["init"])]
        if not beside.empty:
            parts = [f"{r.name}: {slope_text(r)}" for r in beside.itertuples()]
            text += " Beside them, the cells with a bound at the same init: " + "; ".join(parts)
            text += "."
        s.paragraphs.append(text)
    return s


def cell_names(rows: pd.DataFrame) -> pd.Series:
    """Each row's cell label, with its forget bias where that cell's rows differ in it."""
    varies = rows.groupby("cell")["forget_bias"].transform("nunique") > 1
    bias = " (forget bias " + rows["forget_bias"].map(fmt) + ")"
    return rows["cell_label"] + bias.where(varies, "")


def _names(rates: pd.DataFrame) -> pd.Series:
    """Each row's variant as the text names it: its cell (with its forget bias where that
    varies), and its nonlinearity where the cell has one to choose (as F1's panels)."""
    nl = ("-" + rates["nonlinearity"]).where(shows_nonlinearity(rates), "")
    names = zip(cell_names(rates), rates["cell_label"], strict=True)
    bias = [name[len(label) :] for name, label in names]  # ' (forget bias 0)' or ''
    return rates["cell_label"] + nl + pd.Series(bias, index=rates.index, dtype=object)


def _others_table(others: pd.DataFrame, rates: pd.DataFrame) -> Table:
    """The probed variants outside the orthogonal-init table (other inits, cells without a
    bound): slope with its interval and n, and the bound's slope where the cell has one; the
    cells of one init together, so a gated cell's decay sits beside the RNN's."""
    others = others.assign(
        order=others["init"].map({v: i for i, v in enumerate(dict.fromkeys(rates["init"]))})
    ).sort_values(["order", "task", "seq_len", "hidden_size"], kind="stable")
    columns = [*varying(rates, ["task", "seq_len", "hidden_size"]), "name", "init"]
    frame = others[columns].rename(columns={"name": "variant"})
    if others.groupby("init")["rho"].nunique().gt(1).any() or len(set(others["rho"])) > 1:
        frame["rho"] = others["rho"].map(fmt)
    frame["slope (decades/step)"] = [slope_text(r) for r in others.itertuples()]
    frame["bound slope"] = others["bound_slope_log10_per_step"].map(lambda v: fmt(v, 2))
    return Table(
        frame.reset_index(drop=True),
        "Every other probed variant: the fitted slope of log10 ||dE_T/dh_k|| against T − k "
        "(decades per step): mean over seeds [95% bootstrap interval over seeds], n = seeds; "
        "bound slope: of the closed-form bound gamma^(T−k), – for a cell without one.",
    )


def _decades(row: pd.DataFrame) -> str:
    """One slope row's change over the whole sequence (the `decades` measure), in decades, with
    its interval and n."""
    m = decades(Sample(row))
    return ci(m.effect, m.low, m.high, m.n, lambda v: fmt(v, 3), " decades")


def _per_100(r) -> str:
    values = (-100 * r["slope_log10_per_step"], -100 * r["slope_high"], -100 * r["slope_low"])
    return ci(*values, r["n_seeds"], lambda v: fmt(v, 2), " decades per 100 steps")


def comparison(t: dict) -> Table:
    """Each variant's decay slope at initialisation, fastest-keeping first (`rnnbench compare`)."""
    rates = t["decay_rates"]
    rates = rates[rates["step"] == 0].sort_values(
        "slope_log10_per_step", ascending=False, kind="stable"
    )
    table = pd.DataFrame({
        "variant": rates["variant"],
        "task, T, H": [f"{r.task}, {r.seq_len}, {r.hidden_size}" for r in rates.itertuples()],
        "state": rates["probe_state"],
        "slope (decades/step) [95%], n": [
            ci(r.slope_log10_per_step, r.slope_low, r.slope_high, r.n_seeds, lambda v: fmt(v, 2))
            for r in rates.itertuples()
        ],
        "regime": rates["regime"],
    })  # fmt: skip
    return Table(
        table,
        "Least-squares slope of log10 of the probed state's gradient norm against the distance "
        "T - k, mean over seeds [95% bootstrap interval over seeds]; 0 keeps the gradient, "
        "negative loses it (vanishing), positive grows it (exploding).",
    )


EXPERIMENT = Experiment(
    id="e1_init",
    title="E1 Gradient propagation at initialisation",
    summary="E1, gradient propagation at initialisation (no training): profiles of log10 "
    "||dE_T/dh_k|| against distance T-k for every model variant.",
    section=ProbeSection,
    profiles=True,
    claims=CLAIMS,
    figures=(Figure("f1_gradient_decay", plot_gradient_decay, "E1 gradients at initialisation"),),
    report=report_section,
    compare=comparison,
)
