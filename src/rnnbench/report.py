"""The generated paper-style report: report.md (figures beside it) and a self-contained report.html.

Every number in the text is read from a table the pipeline wrote; captions are the same .rst files
Snakemake's native report uses. `build_report` is the only entry point.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import claims as claims_mod
from .tables import atomic_write, read_table, versions, write_table

TABLES = ["gradient_profiles", "decay_rates", "runs", "curves", "horizons"]
EXPERIMENTS = {
    "e1_init": "E1 Gradient propagation at initialisation",
    "e2_clipping": "E2 Exploding gradients and clipping",
    "e3_long_range": "E3 Vanishing gradients and long-range learning",
    "e4_gradient_flow": "E4 Gradient flow during training",
    "e5_digits": "E5 Real data: pixel-by-pixel digits",
}
FIGURE_OF = {
    "e1_init": "f1_gradient_decay",
    "e2_clipping": ["f2_divergence", "f3_grad_norm_traces"],
    "e3_long_range": "f4_horizons",
    "e4_gradient_flow": "f5_gradient_flow",
    "e5_digits": "f6_digits",
}


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # figure stems under the figures folder
    table: pd.DataFrame | None = None
    table_caption: str = ""


def fmt(value, digits: int = 3) -> str:
    """A number for text and tables; missing values become an en dash, never 'nan'."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


# ---------------------------------------------------------------------------------------- sections


def e1_section(t: dict) -> Section:
    rates = t["decay_rates"]
    rates = rates[(rates["experiment"] == "e1_init") & (rates["step"] == 0)]
    s = Section(EXPERIMENTS["e1_init"], figures=[FIGURE_OF["e1_init"]])
    if rates.empty:
        return _absent(s)
    orth = rates[(rates["cell"] == "rnn") & (rates["init"] == "orthogonal")]
    table = orth.pivot_table(index="nonlinearity", columns="rho", values="slope_log10_per_step")
    table.columns = [f"rho = {fmt(c)}" for c in table.columns]
    s.table = table.reset_index()
    s.table_caption = (
        "Fitted slope of log10 ||dE_T/dh_k|| against T − k (decades per step), mean over seeds."
    )
    lin = orth[orth["nonlinearity"] == "linear"]
    if not lin.empty:
        err = (lin["slope_log10_per_step"] - np.log10(lin["rho"])).abs().max()
        s.paragraphs.append(
            f"For the linear RNN the measured slope equals log10(rho) to within {fmt(err, 2)} "
            f"decades per step, so over T = {fmt(int(lin['max_distance'].max()))} steps the "
            f"gradient changes by exactly T·log10(rho) decades: from "
            f"{fmt(float((lin['slope_log10_per_step'] * lin['max_distance']).min()))} decades "
            f"(rho = {fmt(float(lin['rho'].min()))}) to "
            f"{fmt(float((lin['slope_log10_per_step'] * lin['max_distance']).max()))} decades "
            f"(rho = {fmt(float(lin['rho'].max()))})."
        )
    at1 = orth[np.isclose(orth["rho"], 1.0)].set_index("nonlinearity")["slope_log10_per_step"]
    if {"tanh", "sigmoid"} <= set(at1.index):
        s.paragraphs.append(
            f"At rho = 1 the tanh RNN loses {fmt(-at1['tanh'] * 100, 2)} decades per 100 steps "
            f"and the sigmoid RNN {fmt(-at1['sigmoid'] * 100, 2)}: the sigmoid's derivative is "
            "at most 1/4, so its gradient vanishes faster."
        )
    gated = rates[rates["cell"] != "rnn"]
    if not gated.empty:
        parts = [
            f"{r.cell.upper()}{_bias(r)}: {fmt(r.slope_log10_per_step, 2)}"
            for r in gated.itertuples()
        ]
        s.paragraphs.append(
            "Gated cells at PyTorch's default init (decades per step): " + "; ".join(parts) + "."
        )
    return s


def _bias(r) -> str:
    return f" (forget bias {fmt(r.forget_bias)})" if r.cell == "lstm" else ""


def e2_section(t: dict) -> Section:
    runs = t["runs"][t["runs"]["experiment"] == "e2_clipping"]
    s = Section(EXPERIMENTS["e2_clipping"], figures=FIGURE_OF["e2_clipping"])
    if runs.empty:
        return _absent(s)
    runs = runs.assign(
        setting=[
            _clip_label(c, th) for c, th in zip(runs["clip"], runs["clip_threshold"], strict=True)
        ],
        diverged=runs["status"] == "diverged",
    )
    table = runs.pivot_table(index="setting", columns="seq_len", values="diverged", aggfunc="mean")
    table.columns = [f"T = {c}" for c in table.columns]
    s.table = (table * 100).round(0).reset_index()
    s.table_caption = "Divergence rate (% of runs) per clipping setting and sequence length."
    none = runs[runs["clip"] == "none"]
    norm = runs[runs["clip"] == "norm"]
    steps = none["diverged_step"].dropna()
    s.paragraphs.append(
        f"Without clipping {pct(none['diverged'].mean())} of {len(none)} runs diverged"
        + (f", at a median step of {fmt(float(steps.median()))}" if len(steps) else "")
        + "; the largest gradient norm seen before clipping was "
        + f"{fmt(float(runs['max_grad_norm'].max()), 2)}. "
        f"With norm clipping {pct(norm['diverged'].mean())} of {len(norm)} runs diverged."
    )
    return s


def _clip_label(clip: str, threshold: float) -> str:
    return "none" if clip == "none" else f"{clip} ≤ {fmt(threshold)}"


def e3_section(t: dict) -> Section:
    h = t["horizons"][t["horizons"]["experiment"] == "e3_long_range"]
    s = Section(EXPERIMENTS["e3_long_range"], figures=[FIGURE_OF["e3_long_range"]])
    if h.empty:
        return _absent(s)
    best = h.groupby(["variant", "task"])["horizon"].max().astype("Float64").unstack("task")
    s.table = best.reset_index()
    s.table_caption = (
        "Horizon: the largest T solved by at least half of the seeds (– : no T in the grid was)."
    )
    longest = h["seq_len"].max()
    at_max = h[h["seq_len"] == longest].groupby("variant")["success_rate"].mean()
    s.paragraphs.append(
        f"At the longest sequence (T = {fmt(int(longest))}) the success rate, "
        "averaged over tasks, is "
        + "; ".join(f"{v} {pct(r)}" for v, r in at_max.sort_values(ascending=False).items())
        + "."
    )
    return s


def e4_section(t: dict) -> Section:
    rates = t["decay_rates"][t["decay_rates"]["experiment"] == "e4_gradient_flow"]
    s = Section(EXPERIMENTS["e4_gradient_flow"], figures=[FIGURE_OF["e4_gradient_flow"]])
    if rates.empty:
        return _absent(s)
    table = rates.pivot_table(index="step", columns="variant", values="slope_log10_per_step")
    s.table = table.reset_index()
    s.table_caption = (
        "Fitted decay slope (decades per step) of the gradient profile during training."
    )
    first, last = table.iloc[0], table.iloc[-1]
    s.paragraphs.append(
        "Decay slope at the first and last profiled step: "
        + "; ".join(f"{v} {fmt(first[v], 2)} → {fmt(last[v], 2)}" for v in table.columns)
        + "."
    )
    return s


def e5_section(t: dict) -> Section:
    runs = t["runs"][t["runs"]["experiment"] == "e5_digits"]
    s = Section(EXPERIMENTS["e5_digits"], figures=[FIGURE_OF["e5_digits"]])
    if runs.empty:
        return _absent(s)
    acc = runs.groupby(["variant", "task"])["final_metric"].agg(["mean", "std"])
    table = acc["mean"].unstack("task")
    s.table = (table * 100).round(1).reset_index()
    s.table_caption = "Held-out accuracy (%) on the fixed 297-image test split, mean over seeds."
    best = acc["mean"].idxmax()
    s.paragraphs.append(
        f"The best model is {best[0]} on {best[1]} with {pct(acc['mean'].max())} accuracy "
        f"(chance: 10%); the worst is {acc['mean'].idxmin()[0]} on {acc['mean'].idxmin()[1]} "
        f"with {pct(acc['mean'].min())}."
    )
    return s


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
    tables = {name: read_table(tables_dir / f"{name}.parquet") for name in TABLES}
    score = claims_mod.scorecard(tables)
    provenance = setup_facts(config, tables)
    write_table(score, tables_dir / "claims", {"config": config, **provenance})

    sections = [setup_section(config, tables, provenance)]
    sections += [fn(tables) for fn in (e1_section, e2_section, e3_section, e4_section, e5_section)]
    sections += [
        claims_section(score),
        published_section(tables, score),
        limitations_section(config, tables),
    ]
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
    for exp, title in EXPERIMENTS.items():
        sec = config.get(exp)
        if not sec:
            continue
        train = sec.get("train", {})
        rows.append(
            {
                "experiment": title.split(" ", 1)[0],
                "tasks": ", ".join(sec.get("tasks", [])),
                "T": ", ".join(str(x) for x in sec.get("seq_len", [])),
                "H": ", ".join(str(x) for x in sec.get("hidden_size", [])),
                "optimizer": f"{train.get('optimizer', '–')} lr {fmt(train.get('lr'))}"
                if train
                else "– (no training)",
                "steps": fmt(train.get("steps")) if train else "0",
                "seeds": str(len(train.get("seeds", sec.get("seeds", [])))),
                "runs": str(int((runs["experiment"] == exp).sum())) if train else str(n_probe),
            }
        )
    s = Section("Setup", table=pd.DataFrame(rows))
    s.table_caption = (
        "The grid: every task × T × H × model variant is one job; "
        "runs = trained models (E1: probed models)."
    )
    s.paragraphs = [
        "Models: vanilla RNNs h_t = f(W h_{t−1} + U x_t + b) with f ∈ {linear, tanh, sigmoid, "
        "ReLU} and a linear read-out, with W orthogonal or Gaussian scaled to spectral radius rho, "
        "PyTorch's default uniform init, or the identity (IRNN); LSTMs with forget-gate bias 0 or "
        "1; GRUs. Tasks: adding (baseline MSE 1/6), copy (baseline 10 ln 8 / (T + 20)), temporal "
        "order (chance 25%), and scikit-learn's 8×8 digits read pixel by pixel (T = 64), in order "
        "and permuted. All seeds and clipping settings of a grid cell train together as one "
        "batched ensemble; a model whose loss or gradient becomes non-finite is frozen and "
        "recorded as diverged.",
        f"Hardware: {facts['hardware']}. Software: Python {v['python']}, torch {v['torch']}, "
        f"numpy {v['numpy']}, pandas {v['pandas']}, rnnbench {v['rnnbench']}. Git commit "
        f"{facts['git_commit']}; config hash {facts['config_sha256']}.",
    ]
    return s


def claims_section(score: pd.DataFrame) -> Section:
    s = Section("Claims scorecard")
    s.table = score[["claim", "source", "measurement", "expected", "measured", "verdict"]]
    s.table_caption = (
        "Each claim of the seed text and its anchor papers, tested on this run's tables "
        "(results/tables/claims.csv)."
    )
    counts = score["verdict"].value_counts()
    s.paragraphs.append(
        f"{counts.get('reproduced', 0)} claims reproduced, {counts.get('not reproduced', 0)} "
        f"not reproduced, {counts.get('inconclusive', 0)} inconclusive."
    )
    return s


def published_section(tables: dict, score: pd.DataFrame) -> Section:
    """Paper numbers beside ours, only where the grid runs the same setting."""
    s = Section("Comparison with published numbers")
    value = score.set_index("id")["value"]
    rows = [
        {
            "quantity": "adding problem, MSE of always predicting 1",
            "paper": "0.167",
            "source": "Arjovsky et al. 2016; Le et al. 2015",
            "ours": fmt(value.get("adding_baseline"), 4),
        }
    ]
    runs = tables["runs"]
    to = runs[(runs["task"] == "temporal_order") & (runs["status"] != "solved")]
    if len(to):
        rows.append(
            {
                "quantity": "temporal order, held-out accuracy of unsolved runs (median)",
                "paper": "0.25 (chance)",
                "source": "Hochreiter & Schmidhuber 1997",
                "ours": fmt(float(to["final_metric"].median()), 3),
            }
        )
    for seq_len in sorted(runs.loc[runs["task"] == "copy", "seq_len"].unique()):
        rows.append(
            {
                "quantity": f"copy, memoryless baseline cross-entropy at T = {seq_len}",
                "paper": fmt(10 * math.log(8) / (seq_len + 20), 4),
                "source": "Arjovsky et al. 2016",
                "ours": fmt(
                    float(
                        runs.loc[
                            (runs["task"] == "copy") & (runs["seq_len"] == seq_len), "baseline_loss"
                        ].iloc[0]
                    ),
                    4,
                ),
            }
        )
    s.table = pd.DataFrame(rows)
    s.paragraphs.append(
        "The papers' headline learning results (e.g. LSTM on temporal order at T = 1000, IRNN on "
        "adding at T = 400) use sequence lengths and training budgets beyond this grid; "
        "config/paper.yaml runs those lengths."
    )
    return s


def limitations_section(config: dict, tables: dict) -> Section:
    runs = tables["runs"]
    max_t = int(runs["seq_len"].max()) if len(runs) else 0
    steps = int(runs["steps"].max()) if len(runs) else 0
    seeds = runs.groupby(["experiment", "cell_id", "clip", "clip_threshold"], dropna=False)[
        "seed"
    ].nunique()
    return Section(
        "Limitations",
        paragraphs=[
            f"Trained sequences reach T = {max_t} with at most {steps} optimizer steps and "
            f"{fmt(seeds.min())}–{fmt(seeds.max())} seeds "
            "per setting, so a horizon is a lower bound on what more training would reach, and "
            "success rates move in steps of one seed.",
            "Training runs in float32 on the CPU (probes in float64); a different BLAS or thread "
            "count changes the last bits, not the conclusions. Success is a threshold on held-out "
            "loss or accuracy, recorded with every run.",
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
        f"and {counts.get('inconclusive', 0)} are inconclusive on this grid. Every number below "
        "is read from the pipeline's tables."
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
        if s.table is not None and len(s.table):
            head, rows = _cells(s.table)
            esc = lambda c: c.replace("|", "\\|")  # noqa: E731
            out += ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
            out += ["", f"*{s.table_caption}*", ""] if s.table_caption else [""]
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
        if s.table is not None and len(s.table):
            head, rows = _cells(s.table)
            cells = "".join(f"<th>{e(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            cls = " class='verdicts'" if "verdict" in head else ""
            body.append(
                f"<table{cls}><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>"
                + (f"<p class='caption'>{e(s.table_caption)}</p>" if s.table_caption else "")
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
