"""`rnnbench compare module:Class`: a researcher's cell beside the built-in cells, in the standard
comparison, with one command.

The cell (with its hyperparameters and model keys) is added as one named variant to the model
lists of E1 (gradient profiles at initialisation), E3 (learnable horizons) and E5 (digits) of
the pipeline config (config/config.yaml, with any --configfile merged over it), with the same
grids, budgets and lr sweeps as the built-ins; the other experiments are left out of the run.
The config is written to results/compare/<variant>/config.yaml and the pipeline runs on it
(Snakemake, in the current directory: the repository root). A plugin cell's trials are jobs of
their own (`rnnbench.grid`), so the built-ins' jobs of the same grid are the same jobs: where
their tables exist they are reused, not retrained. Then the comparison is written, from the
pipeline's tables only, to results/compare/<variant>/comparison.md: per experiment, the cell's
and every built-in variant's numbers, each with its 95% interval and n.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import aggregate, conformance, stats
from . import config as pipeline_config
from .errors import SpecError
from .numbers import ci, fmt, pct
from .sections import variant_label
from .tables import read_table

EXPERIMENTS = ("e1_init", "e3_long_range", "e5_digits")
OUT = Path("results/compare")


def overlay(base: dict, block: dict) -> dict:
    """The config that runs E1, E3 and E5 of `base` (a validated config) with the model block
    added to each one's models."""
    return {"experiments": list(EXPERIMENTS)} | {
        e: {"models": [*base[e]["models"], block]} for e in EXPERIMENTS
    }


def model_block(cell: str, params: dict, fields: dict) -> tuple[str, dict]:
    """(its variant name, the model block) of the cell with these hyperparameters and keys;
    the cell checked (its spec, and the quick conformance checks) first."""
    spec = conformance.model_spec(cell, params, **fields)
    conformance.require(spec)
    name = variant_label(spec)
    return name, {"name": name, "cell": cell, "params": dict(params), **fields}


def run(cell: str, params: dict, fields: dict, configfiles: list[str], cores: int,
        dry_run: bool = False) -> int:  # fmt: skip
    """Write the config, run the pipeline on it and write the comparison; Snakemake's exit
    status (the comparison only after a successful run)."""
    if not Path("Snakefile").exists():
        raise SpecError("", "run rnnbench compare in the repository root (no Snakefile here)")
    name, block = model_block(cell, params, fields)
    base = pipeline_config.load(*configfiles)
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(
        f"# rnnbench compare {cell}: written by rnnbench.compare\n"
        + yaml.safe_dump(overlay(base, block), sort_keys=False)
    )
    pipeline_config.load(*configfiles, path)  # the whole config checked before Snakemake starts
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores),
               "--configfile", *configfiles, str(path)]  # fmt: skip
    print("running: " + " ".join(command + ["--dry-run"] * dry_run), file=sys.stderr, flush=True)
    done = subprocess.run(command + ["--dry-run"] * dry_run)
    if done.returncode or dry_run:
        return done.returncode
    text = comparison(Path("results/tables"), name, cell)
    (folder / "comparison.md").write_text(text)
    print(text)
    print(f"wrote {folder / 'comparison.md'}", file=sys.stderr)
    return 0


def comparison(tables: Path, name: str, cell: str) -> str:
    """The comparison section, markdown, from the pipeline's tables: the variant `name` (cell
    `cell`) beside every other variant of E1, E3 and E5."""
    parts = [
        f"## {name} beside the built-in cells\n",
        f"The cell {cell} as the variant **{name}**, in E1, E3 and E5 beside the built-in "
        "variants of the same grid, with the same budgets and learning-rate sweeps. Every "
        "number is read from results/tables and given with its 95% interval and n.\n",
    ]
    profiles = read_table(tables / "decay_rates.parquet")
    parts += e1(profiles[profiles["experiment"] == "e1_init"], name)
    runs = read_table(tables / "runs.parquet")
    horizons = read_table(tables / "horizons.parquet")
    parts += e3(horizons[horizons["experiment"] == "e3_long_range"], name)
    parts += e5(runs[(runs["experiment"] == "e5_digits") & runs["selected"].astype(bool)], name)
    return "\n".join(parts)


def _mark(variants: pd.Series, name: str) -> pd.Series:
    return variants.where(variants != name, f"**{name}**")


def _markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def e1(rates: pd.DataFrame, name: str) -> list[str]:
    """Decay slope of log10 ||dE_T/ds_k|| per step at initialisation, per variant."""
    out = ["### E1: gradient decay at initialisation\n"]
    if rates.empty:
        return [*out, "E1 is not in this run.\n"]
    rates = rates.sort_values("slope_log10_per_step", ascending=False, kind="stable")
    table = pd.DataFrame({
        "variant": _mark(rates["variant"], name),
        "task, T, H": [f"{r.task}, {r.seq_len}, {r.hidden_size}" for r in rates.itertuples()],
        "state": rates["probe_state"],
        "slope (decades/step) [95%], n": [
            ci(r.slope_log10_per_step, r.slope_low, r.slope_high, r.n_seeds, lambda v: fmt(v, 2))
            for r in rates.itertuples()
        ],
        "regime": rates["regime"],
    })  # fmt: skip
    note = ("Least-squares slope of log10 of the probed state's gradient norm against the "
            "distance T - k, mean over seeds [seed-bootstrap interval]; 0 keeps the gradient, "
            "negative loses it (vanishing), positive grows it (exploding).\n")  # fmt: skip
    return [*out, note, _markdown(table)]


def e3(horizons: pd.DataFrame, name: str) -> list[str]:
    """The learnable horizon per variant and task, and the success rate at the longest T."""
    out = ["### E3: learnable horizon\n"]
    if horizons.empty:
        return [*out, "E3 is not in this run.\n"]
    longest = horizons[horizons["seq_len"] == horizons.groupby("task")["seq_len"].transform("max")]
    longest = longest.sort_values(["task", "horizon", "success_rate"], ascending=[True, False,
                                  False], na_position="last", kind="stable")  # fmt: skip
    table = pd.DataFrame({
        "task": longest["task"],
        "variant": _mark(longest["variant"], name),
        "horizon T [95%], n seeds": [
            ci(r.horizon, r.horizon_low, r.horizon_high, r.n_seeds) for r in longest.itertuples()
        ],
        "solved at the longest T [95%]": [
            ci(r.success_rate, r.success_low, r.success_high, r.n_runs, pct)
            for r in longest.itertuples()
        ],
    })  # fmt: skip
    note = ("Horizon: the largest T solved by at least half the seeds at the selected lr "
            "(– where none is) [seed-bootstrap interval]; success: Wilson interval.\n")  # fmt: skip
    return [*out, note, _markdown(table)]


def e5(runs: pd.DataFrame, name: str) -> list[str]:
    """Mean test accuracy over seeds per variant and task (selected lr)."""
    out = ["### E5: digits, pixel by pixel\n"]
    if runs.empty:
        return [*out, "E5 is not in this run.\n"]
    runs = runs.assign(accuracy=aggregate.accuracy_or_chance(runs))
    rows = []
    for (task, variant), g in runs.groupby(["task", "variant"], sort=True):
        acc = g["accuracy"].to_numpy(dtype=float)
        low, high = stats.bootstrap_interval(acc, np.mean)
        rows.append((task, variant, acc.mean(), ci(acc.mean(), low, high, len(acc), pct)))
    table = pd.DataFrame(rows, columns=["task", "variant", "mean", "test accuracy [95%], n"])
    table = table.sort_values(["task", "mean"], ascending=[True, False], kind="stable")
    table["variant"] = _mark(table["variant"], name)
    note = ("Test accuracy on the fixed test split, mean over seeds [seed-bootstrap interval] "
            "(a diverged run counts as chance).\n")  # fmt: skip
    return [*out, note, _markdown(table.drop(columns="mean"))]
