"""The generated paper-style report: report.md (figures beside it) and a self-contained report.html.

Every number in the text is read from a table the pipeline wrote, and every rate, horizon and slope
is printed with its 95% interval and n ('60% [23%, 88%], n = 5'); captions are the same .rst files
Snakemake's native report uses, and each section shows the figures registered for its experiment
(figures.FIGURES). Nothing here branches on a cell or task name: what differs between cells (a
gradient bound, a forget bias) is read from the tables. `build_report` is the only entry point.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregate, experiments, stats
from .claims import effect_text, scorecard
from .figures import FIGURES, shows_nonlinearity
from .numbers import ci, fmt, pct, rate
from .tables import atomic_write, read_table, versions, write_table

CLIPPING = "clipping"  # the clip_setting column's header, as in the figures' legends
EXPERIMENTS = {e.id: e.title for e in experiments.EXPERIMENTS.values() if e.section is not None}


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


def figures_of(experiment: str) -> list[str]:
    """The figures registered for an experiment's section, in registry order."""
    return [f.name for f in FIGURES.values() if f.experiment == experiment]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # figure stems under the figures folder
    tables: list[Table] = field(default_factory=list)


def slope(r) -> str:
    """A decay_rates row's slope with its seed-bootstrap interval and n."""
    return ci(r.slope_log10_per_step, r.slope_low, r.slope_high, r.n_seeds, lambda v: fmt(v, 2))


def _varying(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns that take more than one value: table rows split by them."""
    return [c for c in columns if df[c].nunique(dropna=False) > 1]


def _spread(values) -> str:
    """The distinct values, in order: 'float32' or 'float32, float64'."""
    return ", ".join(fmt(v) for v in sorted(set(values)))


def cell_names(rows: pd.DataFrame) -> pd.Series:
    """Each row's cell label, with its forget bias where that cell's rows differ in it."""
    varies = rows.groupby("cell")["forget_bias"].transform("nunique") > 1
    bias = " (forget bias " + rows["forget_bias"].map(fmt) + ")"
    return rows["cell_label"] + bias.where(varies, "")


# ---------------------------------------------------------------------------------------- sections


def e1_section(t: dict) -> Section:
    rates = t["decay_rates"]
    rates = rates[(rates["experiment"] == "e1_init") & (rates["step"] == 0)]
    s = Section(EXPERIMENTS["e1_init"], figures=figures_of("e1_init"))
    if rates.empty:
        return _absent(s)
    bounded = np.isfinite(rates["bound_slope_log10_per_step"])  # cells with a gradient bound
    orth = rates[bounded & (rates["init"] == "orthogonal")]
    orth = orth.assign(text=[slope(r) for r in orth.itertuples()])
    index = [*_varying(orth, ["task", "seq_len", "hidden_size", "cell_label"]), "nonlinearity"]
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
        err = (lin["slope_log10_per_step"] - np.log10(lin["rho"])).abs().max()
        lo, hi = lin.nsmallest(1, "rho").iloc[0], lin.nlargest(1, "rho").iloc[0]
        s.paragraphs.append(
            f"With f linear ({_spread(lin['cell_label'])}) the measured slope equals log10(rho) "
            f"to within {fmt(err, 2)} "
            f"decades per step at every rho, so over T = {fmt(int(lin['max_distance'].max()))} "
            f"steps the gradient changes by T·log10(rho) decades: by {_decades(lo)} at "
            f"rho = {fmt(lo['rho'])} and by {_decades(hi)} at rho = {fmt(hi['rho'])}."
        )
    for label, rows in orth[np.isclose(orth["rho"], 1.0)].groupby("cell_label", sort=False):
        at1 = rows.drop_duplicates("nonlinearity").set_index("nonlinearity")
        if {"tanh", "sigmoid"} <= set(at1.index):
            s.paragraphs.append(
                f"{label} at rho = 1: the gradient loses {_per_100(at1.loc['tanh'])} with "
                f"f = tanh, and {_per_100(at1.loc['sigmoid'])} with f = sigmoid: the sigmoid's "
                "derivative is at most 1/4, so its gradient vanishes faster."
            )
    rates = rates.assign(name=_e1_names(rates))
    others = rates[~rates.index.isin(orth.index)]  # every variant the table above leaves out
    if not others.empty:
        s.tables.append(_e1_others_table(others, rates))
    gated = rates[~bounded]
    if not gated.empty:
        parts = [f"{r.name}: {slope(r)}" for r in gated.itertuples()]
        text = (
            f"Cells without a closed-form gradient bound, at init {_spread(gated['init'])} "
            "(decades per step): " + "; ".join(parts) + "."
        )
        beside = rates[bounded & rates["init"].isin(gated["init"])]
        if not beside.empty:
            parts = [f"{r.name}: {slope(r)}" for r in beside.itertuples()]
            text += " Beside them, the cells with a bound at the same init: " + "; ".join(parts)
            text += "."
        s.paragraphs.append(text)
    return s


def _e1_names(rates: pd.DataFrame) -> pd.Series:
    """Each E1 row's variant as the text names it: its cell (with its forget bias where that
    varies), and its nonlinearity where the cell has one to choose (as F1's panels)."""
    nl = ("-" + rates["nonlinearity"]).where(shows_nonlinearity(rates), "")
    names = zip(cell_names(rates), rates["cell_label"], strict=True)
    bias = [name[len(label) :] for name, label in names]  # ' (forget bias 0)' or ''
    return rates["cell_label"] + nl + pd.Series(bias, index=rates.index, dtype=object)


def _e1_others_table(others: pd.DataFrame, rates: pd.DataFrame) -> Table:
    """The probed variants outside the orthogonal-init table (other inits, cells without a
    bound): slope with its interval and n, and the bound's slope where the cell has one; the
    cells of one init together, so a gated cell's decay sits beside the RNN's."""
    others = others.assign(
        order=others["init"].map({v: i for i, v in enumerate(dict.fromkeys(rates["init"]))})
    ).sort_values(["order", "task", "seq_len", "hidden_size"], kind="stable")
    columns = [*_varying(rates, ["task", "seq_len", "hidden_size"]), "name", "init"]
    frame = others[columns].rename(columns={"name": "variant"})
    if others.groupby("init")["rho"].nunique().gt(1).any() or len(set(others["rho"])) > 1:
        frame["rho"] = others["rho"].map(fmt)
    frame["slope (decades/step)"] = [slope(r) for r in others.itertuples()]
    frame["bound slope"] = others["bound_slope_log10_per_step"].map(lambda v: fmt(v, 2))
    return Table(
        frame.reset_index(drop=True),
        "Every other probed variant: the fitted slope of log10 ||dE_T/dh_k|| against T − k "
        "(decades per step): mean over seeds [95% bootstrap interval over seeds], n = seeds; "
        "bound slope: of the closed-form bound gamma^(T−k), – for a cell without one.",
    )


def _decades(r) -> str:
    """A slope row's change over the whole sequence, in decades, with its interval."""
    d = r["max_distance"]
    values = (r["slope_log10_per_step"] * d, r["slope_low"] * d, r["slope_high"] * d)
    return ci(*values, r["n_seeds"], lambda v: fmt(v, 3), " decades")


def _per_100(r) -> str:
    values = (-100 * r["slope_log10_per_step"], -100 * r["slope_high"], -100 * r["slope_low"])
    return ci(*values, r["n_seeds"], lambda v: fmt(v, 2), " decades per 100 steps")


def _selected_runs(t: dict, experiment: str) -> pd.DataFrame:
    runs = t["runs"]
    return runs[(runs["experiment"] == experiment) & runs["selected"].astype(bool)]


def e2_section(t: dict) -> Section:
    runs = _selected_runs(t, "e2_clipping")
    s = Section(EXPERIMENTS["e2_clipping"], figures=figures_of("e2_clipping"))
    if runs.empty:
        return _absent(s)
    runs = runs.assign(diverged=runs["status"] == "diverged")
    counts = runs.groupby(["clip_setting", "seq_len"])["diverged"].agg(["sum", "size"])
    text = pd.Series([rate(k, n) for k, n in counts.to_numpy()], index=counts.index)
    table = text.unstack("seq_len").rename_axis(CLIPPING)
    table.columns = [f"T = {c}" for c in table.columns]
    s.tables.append(
        Table(
            table.reset_index(),
            "Divergence rate per clipping setting and sequence length [95% Wilson interval], "
            "n = runs (seeds x the E2 models, at the selected learning rate).",
        )
    )
    none, norm = runs[runs["clip"] == "none"], runs[runs["clip"] == "norm"]
    steps = none["diverged_step"].dropna()
    s.paragraphs.append(
        f"Without clipping {_diverged(none)}"
        + (f", at a median step of {fmt(float(steps.median()))}" if len(steps) else "")
        + "; the largest gradient norm seen before clipping was "
        + f"{fmt(float(runs['max_grad_norm'].max()), 2)}. With norm clipping {_diverged(norm)}."
    )
    return s


def _diverged(runs: pd.DataFrame) -> str:
    k, n = int(runs["diverged"].sum()), len(runs)
    return f"{k} of {n} runs diverged ({rate(k, n)})"


def e3_section(t: dict) -> Section:
    h = t["horizons"][t["horizons"]["experiment"] == "e3_long_range"]
    s = Section(EXPERIMENTS["e3_long_range"], figures=figures_of("e3_long_range"))
    if h.empty:
        return _absent(s)
    s.tables.append(_horizon_table(h))
    longest = h["seq_len"].max()
    at_max = h[h["seq_len"] == longest].groupby("variant")[["n_solved", "n_runs"]].sum()
    order = (at_max["n_solved"] / at_max["n_runs"]).sort_values(ascending=False).index
    s.paragraphs.append(
        f"At the longest sequence (T = {fmt(int(longest))}) the success rate, pooled over "
        "tasks, is " + "; ".join(f"{v} {rate(*at_max.loc[v].tolist())}" for v in order) + "."
    )
    runs = _selected_runs(t, "e3_long_range")
    s.paragraphs.append(skipped_text(runs))
    lrs = lr_table(t["runs"][t["runs"]["experiment"] == "e3_long_range"])
    if isinstance(lrs, str):
        s.paragraphs.append(lrs)
    else:
        s.tables.append(lrs)
    seqs = sequences_table(h)
    if seqs is None:
        s.paragraphs.append("No selected run met its solved criterion on the validation set.")
    else:
        s.tables.append(seqs)
    return s


def _horizon_table(h: pd.DataFrame) -> Table:
    groups = h.groupby(aggregate.HORIZON_GROUP, dropna=False, as_index=False).first()
    groups["text"] = [
        ci("none" if pd.isna(r.horizon) else r.horizon, r.horizon_low, r.horizon_high, r.n_seeds)
        for r in groups.itertuples()
    ]
    index = ["variant", *_varying(groups, ["hidden_size", "clip_setting"])]
    table = groups.pivot_table(index=index, columns="task", values="text", aggfunc="first")
    table = table.rename_axis(index={"clip_setting": CLIPPING})
    return Table(
        table.reset_index(),
        "Horizon: the largest T solved by at least half of the seeds (none: no T in the grid "
        "was; –: not in the grid) [95% bootstrap interval over seeds, in which no horizon "
        "counts as 0], n = seeds.",
    )


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
    """Median sequences to solve with its seed-bootstrap interval, where any seed solved."""
    rows = h[h["n_sequences_to_solve"] > 0]
    if rows.empty:
        return None
    text = [
        ci(
            r.median_sequences_to_solve,
            r.sequences_to_solve_low,
            r.sequences_to_solve_high,
            r.n_sequences_to_solve,
            lambda v: fmt(v, 4),
        )
        for r in rows.itertuples()
    ]
    frame = rows[["variant", "task", "seq_len"]].assign(sequences_to_solve=text)
    return Table(
        frame.rename(columns={"seq_len": "T", "sequences_to_solve": "sequences to solve"}),
        "Training sequences seen until the first validation check that met the solved "
        "criterion (solved step x batch size; Hochreiter & Schmidhuber 1997 report the same "
        "measure): median over the seeds that got there [95% bootstrap interval], n = those "
        "seeds.",
    )


def e4_section(t: dict) -> Section:
    rates = t["decay_rates"][t["decay_rates"]["experiment"] == "e4_gradient_flow"]
    s = Section(EXPERIMENTS["e4_gradient_flow"], figures=figures_of("e4_gradient_flow"))
    rates = aggregate.selected_only(rates, t["runs"])
    if rates.empty:
        return _absent(s)
    rates = rates.assign(text=[slope(r) for r in rates.itertuples()])
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
    s.paragraphs.append(
        f"Decay slope at step {fmt(first)} and at step {fmt(last)}: "
        + "; ".join(
            f"{v} {by.get((v, first), '–')} → {by.get((v, last), '–')}"
            for v in dict.fromkeys(rates["variant"])
        )
        + "."
    )
    return s


def e5_section(t: dict) -> Section:
    runs = _selected_runs(t, "e5_digits")
    s = Section(EXPERIMENTS["e5_digits"], figures=figures_of("e5_digits"))
    if runs.empty:
        return _absent(s)
    runs = runs.assign(accuracy=aggregate.accuracy_or_chance(runs))
    acc = runs.groupby(["variant", "task"])["accuracy"].apply(_mean_accuracy)
    table = acc.unstack("task")
    s.tables.append(
        Table(
            table.reset_index(),
            "Test accuracy on the task's fixed test split: mean over seeds [95% bootstrap "
            "interval over seeds], n = seeds (selected learning rate; a diverged run counts "
            "as chance).",
        )
    )
    means = runs.groupby(["variant", "task"])["accuracy"].mean()
    best, worst = means.idxmax(), means.idxmin()
    chance = runs.groupby("task")["baseline_metric"].first()  # the input-blind baseline
    s.paragraphs.append(
        f"The best model is {best[0]} on {best[1]}, with a test accuracy of {acc[best]} "
        f"(chance: {pct(chance[best[1]])}); the worst is {worst[0]} on {worst[1]}, with "
        f"{acc[worst]}."
    )
    return s


def _mean_accuracy(acc: pd.Series) -> str:
    values = acc.to_numpy(dtype=float)
    return ci(values.mean(), *stats.bootstrap_interval(values, np.mean), len(values), pct)


def _absent(s: Section) -> Section:
    s.figures, s.paragraphs = [], ["This experiment is not in the configured grid."]
    return s


# ------------------------------------------------------------------------------------ whole report


def build_report(
    tables_dir: str | Path,
    figures_dir: str | Path,
    captions_dir: str | Path,
    config: dict,
    out_dir: str | Path,
) -> pd.DataFrame:
    """Write claims.{csv,parquet} beside the tables and report.md / report.html into out_dir."""
    tables_dir, figures_dir, out_dir = Path(tables_dir), Path(figures_dir), Path(out_dir)
    tables = {name: read_table(tables_dir / f"{name}.parquet") for name in aggregate.TABLES}
    enabled = config.get("experiments", list(experiments.EXPERIMENTS))
    score = scorecard(experiments.claims(enabled), tables)
    provenance = setup_facts(config, tables)
    write_table(score, tables_dir / "claims", {"config": config, **provenance})

    sections = [setup_section(config, tables, provenance)]
    sections += [fn(tables) for fn in (e1_section, e2_section, e3_section, e4_section, e5_section)]
    sections += [claims_section(score), replications_section(tables), limitations_section(tables)]
    for s in sections:  # the plot rule draws the figures of the configured experiments only
        s.figures = [f for f in s.figures if FIGURES[f].experiment in enabled]
    captions = {
        stem: _caption(Path(captions_dir) / f"{stem}.rst") for s in sections for stem in s.figures
    }
    abstract = abstract_text(score, tables)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    for stem in captions:
        shutil.copyfile(figures_dir / f"{stem}.png", out_dir / "figures" / f"{stem}.png")
    md = render_markdown(abstract, sections, captions)
    page = render_html(abstract, sections, captions, figures_dir)
    atomic_write(out_dir / "report.md", lambda tmp: tmp.write_text(md))
    atomic_write(out_dir / "report.html", lambda tmp: tmp.write_text(page))
    return score


def setup_facts(config: dict, tables: dict) -> dict:
    canonical = json.dumps(config, sort_keys=True, default=str).encode()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return {
        "versions": versions(),
        "git_commit": commit,
        "config_sha256": hashlib.sha256(canonical).hexdigest()[:16],
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
    }


def setup_section(config: dict, tables: dict, facts: dict) -> Section:
    runs = tables["runs"]
    profiles = tables["gradient_profiles"]
    e1 = profiles[profiles["experiment"] == "e1_init"]
    n_probe = e1.groupby(["cell_id", "seed"]).ngroups if len(e1) else 0
    v = facts["versions"]
    rows = []
    enabled = config.get("experiments", list(EXPERIMENTS))
    for exp, title in EXPERIMENTS.items():
        sec = config.get(exp)
        if not sec or exp not in enabled:
            continue
        train = sec.get("train", {})
        rows.append(
            {
                "experiment": title.split(" ", 1)[0],
                "tasks": ", ".join(sec.get("tasks", [])),
                "T": ", ".join(str(x) for x in sec.get("seq_len", [])),
                "H": ", ".join(str(x) for x in sec.get("hidden_size", [])),
                "optimizer": f"{train.get('optimizer', '–')} lr {_listed(train.get('lr'))}"
                if train
                else "– (no training)",
                "steps": fmt(train.get("steps")) if train else "0",
                "seeds": str(len(train.get("seeds", sec.get("seeds", [])))),
                "runs": _run_count(runs, exp) if train else str(n_probe),
            }
        )
    s = Section("Setup")
    s.tables.append(
        Table(
            pd.DataFrame(rows),
            "The grid: every task × T × H × model variant is one cell; runs = trained models, "
            "every learning rate of a sweep included (in brackets: at the selected learning "
            "rate; E1: probed models).",
        )
    )
    models = pd.concat([runs, profiles])[["cell_label", "init"]]
    if len(runs):
        s.tables.append(tasks_table(runs))
    s.paragraphs = [
        f"Models: the cells {_spread(models['cell_label'])} with a linear read-out; each "
        f"variant sets a cell's nonlinearity f, its recurrent-weight init "
        f"({_spread(models['init'])}), the spectral radius rho it is scaled to and the forget-gate "
        "bias, as the grid gives them. "
        "All learning rates, seeds and clipping settings of a grid cell train together as one "
        "batched ensemble; a model whose loss or gradient becomes non-finite is frozen and "
        "recorded as diverged. The learning rate of each cell and clip setting is chosen on a "
        "validation set; every result is on a separate test set, at that rate.",
        f"Hardware: {facts['hardware']}. Software: Python {v['python']}, torch {v['torch']}, "
        f"numpy {v['numpy']}, pandas {v['pandas']}, rnnbench {v['rnnbench']}. Git commit "
        f"{facts['git_commit']}; config hash {facts['config_sha256']}.",
    ]
    return s


def tasks_table(runs: pd.DataFrame) -> Table:
    """Each trained task's sequence lengths and the loss and metric of its input-blind
    baseline (a range where it depends on T), as the runs table records them."""

    def spans(column: str) -> pd.Series:
        return runs.groupby("task", sort=False)[column].agg(lambda v: _span(v.min(), v.max()))

    columns = {
        "T": "seq_len",
        "baseline loss": "baseline_loss",
        "baseline metric": "baseline_metric",
    }
    frame = pd.DataFrame({name: spans(column) for name, column in columns.items()})
    return Table(
        frame.reset_index(),
        "Tasks: the sequence lengths T trained, and the test loss and metric (accuracy, or the "
        "loss for regression) of the input-blind baseline, a model that ignores its input.",
    )


def _listed(value) -> str:
    return ", ".join(fmt(v) for v in value) if isinstance(value, list) else fmt(value)


def _run_count(runs: pd.DataFrame, experiment: str) -> str:
    mine = runs[runs["experiment"] == experiment]
    chosen = int(mine["selected"].astype(bool).sum())
    return f"{len(mine)}" + (f" ({chosen})" if chosen != len(mine) else "")


def claims_section(score: pd.DataFrame) -> Section:
    s = Section("Claims scorecard")
    table = score.assign(**{"effect [95% interval]": [effect_text(r) for r in score.itertuples()]})
    columns = ["claim", "source", "measurement", "test", "n", "effect [95% interval]"]
    s.tables.append(
        Table(
            table[[*columns, "expected", "measured", "verdict"]],
            "Each claim of the papers the benchmark rests on, tested on this run's tables "
            "(results/tables/claims.csv). A claim is reproduced when the 95% interval of its "
            "effect lies strictly inside the expected region, not reproduced when it lies "
            "strictly outside it, and inconclusive otherwise (ties included).",
        )
    )
    counts = score["verdict"].value_counts()
    s.paragraphs.append(
        f"{counts.get('reproduced', 0)} claims reproduced, {counts.get('not reproduced', 0)} "
        f"not reproduced, {counts.get('inconclusive', 0)} inconclusive."
    )
    return s


def replications_section(t: dict) -> Section:
    """Each replication target: the published value beside ours, with its verdict."""
    s = Section("Replications: published numbers beside ours", figures=figures_of("replications"))
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
    s.paragraphs.append(
        f"{len(rep)} targets from {rep['source'].nunique()} sources; this tier ran "
        f"{len(ran)}: {counts.get('agrees', 0)} agree, {counts.get('disagrees', 0)} disagree, "
        f"{counts.get('inconclusive', 0)} are inconclusive, and {counts.get('not run', 0)} "
        "belong to a larger tier. A target agrees when our 95% interval lies inside the "
        "published value's tolerance band, disagrees when the two do not overlap, and is "
        "inconclusive otherwise. Every published value cites its place in the source."
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


def _span(low, high) -> str:
    """'5' or '3–5'."""
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"


def limitations_section(tables: dict) -> Section:
    runs = tables["runs"]
    max_t = int(runs["seq_len"].max()) if len(runs) else 0
    steps = int(runs["steps"].max()) if len(runs) else 0
    seeds = runs.groupby(["experiment", "cell_id", "lr", "clip", "clip_threshold"], dropna=False)[
        "seed"
    ].nunique()
    return Section(
        "Limitations",
        paragraphs=[
            f"Trained sequences reach T = {max_t} with at most {steps} optimizer steps and "
            f"{_span(seeds.min(), seeds.max())} seeds "
            "per setting, so a horizon is a lower bound on what more training would reach, and "
            "success rates move in steps of one seed.",
            "Intervals are 95%: Wilson score intervals for rates, Newcombe's hybrid score "
            "interval for differences of rates, and percentile bootstraps over seeds "
            f"({stats.N_RESAMPLES} resamples, fixed seed) for horizons, slopes and medians. With "
            "a handful of seeds they are wide, and an interval from one seed is not given.",
            f"Training runs in {_spread(runs.get('dtype', []))} on "
            f"{_spread(runs.get('device', []))} (probes in float64); a different BLAS or thread "
            "count changes the last bits, not the conclusions. Success is a threshold on test "
            "loss or accuracy, recorded with every run; learning rates are chosen on a separate "
            "validation set.",
        ],
    )


def abstract_text(score: pd.DataFrame, tables: dict) -> str:
    counts = score["verdict"].value_counts()
    n_runs = len(tables["runs"])
    n_prof = tables["gradient_profiles"].groupby(["experiment", "cell_id", "seed"]).ngroups
    return (
        f"We train {n_runs} recurrent models and probe {n_prof} more at initialisation to test "
        f"{len(score)} claims about exploding and vanishing gradients in RNNs: "
        f"{counts.get('reproduced', 0)} are reproduced, {counts.get('not reproduced', 0)} are not, "
        f"and {counts.get('inconclusive', 0)} are inconclusive on this grid. "
        f"{_replications_text(tables['replications'])}"
        "Every number below is read from the pipeline's tables."
    )


def _replications_text(rep: pd.DataFrame) -> str:
    """The abstract's sentence on the replications ('' without targets)."""
    if rep.empty:
        return ""
    v = rep["verdict"].value_counts()
    ran = len(rep) - v.get("not run", 0)
    return (
        f"Of {len(rep)} published results from {rep['source'].nunique()} sources, this run "
        f"measured {ran} in their sources' settings: {v.get('agrees', 0)} agree, "
        f"{v.get('disagrees', 0)} disagree and {v.get('inconclusive', 0)} are inconclusive. "
    )


# ----------------------------------------------------------------------------------------- render


def _caption(path: Path) -> str:
    """Plain text of an .rst caption: bold/literal markup dropped."""
    text = " ".join(path.read_text().split()) if path.exists() else ""
    return re.sub(r"\*\*|``", "", text)


def _cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    return [str(c) for c in table.columns], [
        [fmt(v) for v in row] for row in table.itertuples(index=False)
    ]


def render_markdown(abstract: str, sections: list[Section], captions: dict[str, str]) -> str:
    out = [
        "# Exploding and vanishing gradients in RNNs, measured",
        "",
        "**Abstract.** " + abstract,
        "",
    ]
    for s in sections:
        out += [f"## {s.title}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        for stem in s.figures:
            out += [f"![{stem}](figures/{stem}.png)", "", f"*{captions[stem]}*", ""]
        for table in s.tables:
            if not len(table.frame):
                continue
            head, rows = _cells(table.frame)
            esc = lambda c: c.replace("|", "\\|")  # noqa: E731
            out += ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
            out += ["", f"*{table.caption}*", ""] if table.caption else [""]
    return "\n".join(out)


def render_html(
    abstract: str, sections: list[Section], captions: dict[str, str], figures_dir: Path
) -> str:
    e = html.escape
    body = [
        "<h1>Exploding and vanishing gradients in RNNs, measured</h1>",
        f"<p class='abstract'><b>Abstract.</b> {e(abstract)}</p>",
    ]
    for s in sections:
        body.append(f"<h2>{e(s.title)}</h2>")
        body += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        for stem in s.figures:
            data = base64.b64encode((figures_dir / f"{stem}.png").read_bytes()).decode()
            body.append(
                f"<figure><img alt='{e(stem)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(captions[stem])}</figcaption></figure>"
            )
        for table in s.tables:
            if not len(table.frame):
                continue
            head, rows = _cells(table.frame)
            cells = "".join(f"<th>{e(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            cls = " class='verdicts'" if "verdict" in head else ""
            body.append(
                f"<table{cls}><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>"
                + (f"<p class='caption'>{e(table.caption)}</p>" if table.caption else "")
            )
    return HTML.format(body="\n".join(body))


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>rnnbench report</title>
<style>
body {{ font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }}
h1 {{ font-size: 1.7rem; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 2.2rem; }}
figure {{ margin: 1.5rem 0; }} img {{ max-width: 100%; }}
figcaption, .caption {{ font-size: 0.9rem; color: #444; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
.abstract {{ background: #f7f7f7; padding: 0.8rem; }}
</style></head>
<body>
{body}
</body></html>
"""
