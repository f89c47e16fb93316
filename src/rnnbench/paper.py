"""The paper-style report, written: `build_report` reads the pipeline's tables, scores the claims of
the configured experiments (claims.{csv,parquet} beside the tables) and renders report.md and
report.html (rnnbench.report) from the abstract, the setup, one section per experiment in the
registry's order (each written by its experiment's module, from its own rows of the tables and
the scorecard), the claims scorecard, the replications and the limitations.

Every number in the text is read from a table the pipeline wrote. Nothing here names an
experiment, a cell or a task: the section list, the setup table and the figures come from the
experiment registry (rnnbench.experiments), what differs between cells from the tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregate, experiments, stats
from .claims import effect_text, scorecard
from .experiments import EXPERIMENTS, FIGURES, Experiment
from .numbers import count, fmt, spread
from .report import Section, Table, caption, render_html, render_markdown
from .tables import atomic_write, read_table, versions, write_table


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
    enabled = config.get("experiments", list(EXPERIMENTS))
    score = scorecard(experiments.claims(enabled), tables)
    provenance = setup_facts(config)
    write_table(score, tables_dir / "claims", {"config": config, **provenance})

    # the experiments' sections, then the scorecard; the replications after it
    mine = [e for e in EXPERIMENTS.values() if e.kind != "replications"]
    theirs = [e for e in EXPERIMENTS.values() if e.kind == "replications"]
    sections = [setup_section(config, tables, provenance)]
    sections += [experiment_section(e, tables, score) for e in mine]
    sections.append(claims_section(score))
    sections += [experiment_section(e, tables, score) for e in theirs]
    sections.append(limitations_section(tables))
    for s in sections:  # the plot rule draws the figures of the configured experiments only
        s.figures = [f for f in s.figures if FIGURES[f].experiment in enabled]
    captions = {
        stem: caption(Path(captions_dir) / Path(FIGURES[stem].caption).name)
        for s in sections
        for stem in s.figures
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


def experiment_section(e: Experiment, tables: dict, score: pd.DataFrame) -> Section:
    """An experiment's section: titled, listing its figures, written by its module from its
    own rows of the tables and the scorecard."""
    s = Section(e.title, figures=[f.name for f in e.figures])
    return e.report(s, e.rows(tables), score) if e.report else s


def probed_models(tables: dict) -> int:
    """The models probed at initialisation (no training): each seed of each cell of the
    probe experiments (E1), as the setup table and the abstract count them."""
    probes = [e for e in EXPERIMENTS.values() if e.kind == "probe"]
    return sum(_probed(e.rows(tables)["gradient_profiles"]) for e in probes)


def _probed(profiles: pd.DataFrame) -> int:
    return profiles.groupby(["cell_id", "seed"]).ngroups if len(profiles) else 0


def setup_facts(config: dict) -> dict:
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
    """The grid of every configured experiment with a config section (one row each, in the
    registry's order), the tasks, the models, the hardware and software."""
    runs = tables["runs"]
    v = facts["versions"]
    rows = []
    enabled = config.get("experiments", list(EXPERIMENTS))
    for e in EXPERIMENTS.values():
        sec = config.get(e.id)
        if e.section is None or not sec or e.id not in enabled:
            continue
        train = sec.get("train", {})
        probed = e.kind == "probe"
        rows.append(
            {
                "experiment": e.short,
                "tasks": ", ".join(sec.get("tasks", [])),
                "T": ", ".join(str(x) for x in sec.get("seq_len", [])),
                "H": ", ".join(str(x) for x in sec.get("hidden_size", [])),
                "optimizer": f"{train.get('optimizer', '–')} lr {_listed(train.get('lr'))}"
                if train
                else "– (no training)",
                "steps": fmt(train.get("steps")) if train else "0",
                "seeds": str(len(train.get("seeds", sec.get("seeds", [])))),
                "runs": str(_probed(e.rows(tables)["gradient_profiles"]))
                if probed
                else _run_count(e.rows(tables)["runs"]),
            }
        )
    s = Section("Setup")
    s.tables.append(
        Table(
            pd.DataFrame(rows),
            "The grid: every task × T × H × model variant is one cell; runs = trained models, "
            "every learning rate of a sweep included (in brackets: at the selected learning "
            "rate; a probe experiment: probed models).",
        )
    )
    models = pd.concat([runs, tables["gradient_profiles"]])[["cell_label", "init"]]
    if len(runs):
        s.tables.append(tasks_table(runs))
    s.paragraphs = [
        f"Models: the cells {spread(models['cell_label'])} with a linear read-out; each "
        f"variant sets a cell's nonlinearity f, its recurrent-weight init "
        f"({spread(models['init'])}), the spectral radius rho it is scaled to and the forget-gate "
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


def _run_count(runs: pd.DataFrame) -> str:
    """An experiment's trained models, with those at the selected learning rate in brackets."""
    chosen = int(runs["selected"].astype(bool).sum())
    return f"{len(runs)}" + (f" ({chosen})" if chosen != len(runs) else "")


def _span(low, high) -> str:
    """'5' or '3–5'."""
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"


def claims_section(score: pd.DataFrame) -> Section:
    s = Section("Claims scorecard")
    table = score.assign(**{
        "effect [95% interval]": [effect_text(r) for r in score.itertuples()],
        "n to decide": [_n_to_decide(r) for r in score.itertuples()],
    })  # fmt: skip
    columns = ["claim", "source", "measurement", "test", "n", "effect [95% interval]"]
    s.tables.append(
        Table(
            table[[*columns, "expected", "measured", "verdict", "n to decide"]],
            "Each claim of the papers the benchmark rests on, tested on this run's tables "
            "(results/tables/claims.csv). A claim is reproduced when the 95% interval of its "
            "effect lies strictly inside the expected region, not reproduced when it lies "
            "strictly outside it, and inconclusive otherwise (ties included). n to decide: the "
            "n (seeds, or runs for a rate) at which the interval would clear the edge of the "
            "expected region if it narrowed as 1/sqrt(n) around the same estimate, a planning "
            "figure (– where more of the same cannot decide: an estimate on the edge or an "
            "interval open on that side).",
        )
    )
    counts = score["verdict"].value_counts()
    decided = counts.get("reproduced", 0) + counts.get("not reproduced", 0)
    s.paragraphs.append(
        f"{count(counts.get('reproduced', 0), 'claim')} reproduced, "
        f"{counts.get('not reproduced', 0)} not reproduced, "
        f"{counts.get('inconclusive', 0)} inconclusive. Each verdict rests on its own 95% "
        "interval (per-claim coverage); the scorecard does not correct for testing "
        f"{count(len(score), 'claim')} at once (no family-wise correction such as Holm's), so "
        f"of the {decided} decided, about {fmt(0.05 * decided, 1)} would be expected to rest on an "
        "interval that misses its effect (5% each): read each claim's interval, not the count, "
        "as the evidence."
    )
    bounds = score[["low", "high"]].astype(float)  # (an empty scorecard's are untyped)
    open_ = score[(score["verdict"] == "inconclusive") & np.isinf(bounds).any(axis=1)]
    if len(open_):
        s.paragraphs.append(
            f"Undecided by the grid, not by the seeds: {', '.join(open_.get('id', open_.index))} "
            f"{'has an interval' if len(open_) == 1 else 'have intervals'} open on one side: "
            "censored, where a horizon reaches the grid's largest T in some resamples or a run "
            "never solved within its budget. More "
            "seeds cannot decide such a claim; a T grid that extends past it can (`rnnbench "
            "estimate --configfile` with that grid prints its cost before anything runs)."
        )
    return s


def _n_to_decide(row) -> str:
    return fmt(row.n_to_decide) if math.isfinite(row.n_to_decide) else "–"


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
            f"Training runs in {spread(runs.get('dtype', []))} on "
            f"{spread(runs.get('device', []))} (probes in float64); a different BLAS or thread "
            "count changes the last bits, not the conclusions. Success is a threshold on test "
            "loss or accuracy, recorded with every run; learning rates are chosen on a separate "
            "validation set.",
        ],
    )


def abstract_text(score: pd.DataFrame, tables: dict) -> str:
    """The abstract: the models trained (the runs table's rows) and probed at initialisation
    (`probed_models`), the claims' verdicts and the replications' (`replications_text`)."""
    counts = score["verdict"].value_counts()
    return (
        f"We train {count(len(tables['runs']), 'recurrent model')} and probe "
        f"{probed_models(tables)} more at initialisation to test {count(len(score), 'claim')} "
        "about exploding and vanishing gradients in RNNs: "
        f"{counts.get('reproduced', 0)} are reproduced, {counts.get('not reproduced', 0)} are not, "
        f"and {counts.get('inconclusive', 0)} are inconclusive on this grid. "
        f"{replications_text(tables['replications'])}"
        "Every number below is read from the pipeline's tables."
    )


def replications_text(rep: pd.DataFrame) -> str:
    """The abstract's sentence on the replications ('' without targets)."""
    if rep.empty:
        return ""
    v = rep["verdict"].value_counts()
    ran = len(rep) - v.get("not run", 0)
    return (
        f"Of {count(len(rep), 'published result')} from "
        f"{count(rep['source'].nunique(), 'source')}, this run measured {ran} in their sources' "
        f"settings: {v.get('agrees', 0)} agree, {v.get('disagrees', 0)} disagree and "
        f"{v.get('inconclusive', 0)} are inconclusive. "
    )
