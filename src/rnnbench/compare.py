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

import yaml

from . import config as pipeline_config
from . import conformance
from .errors import SpecError
from .experiments import EXPERIMENTS
from .report import markdown_table
from .sections import variant_label
from .tables import read_table

COMPARED = [e for e in EXPERIMENTS.values() if e.compare]
TABLES = ("decay_rates", "runs", "horizons")  # what their comparisons read
OUT = Path("results/compare")


def overlay(base: dict, block: dict) -> dict:
    """The config that runs the compared experiments of `base` (a validated config) with the
    model block added to each one's models."""
    return {"experiments": [e.id for e in COMPARED]} | {
        e.id: {"models": [*base[e.id]["models"], block]} for e in COMPARED
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
    `cell`) beside every other variant of each compared experiment (`Experiment.compare`)."""
    parts = [
        f"## {name} beside the built-in cells\n",
        f"The cell {cell} as the variant **{name}**, in {', '.join(e.short for e in COMPARED)} "
        "beside the built-in variants of the same grid, with the same budgets and learning-rate "
        "sweeps. Every number is read from results/tables and given with its 95% interval and "
        "n.\n",
    ]
    read = {t: read_table(tables / f"{t}.parquet") for t in TABLES}
    for e in COMPARED:
        parts.append(f"### {e.title}\n")
        table = e.compare(e.rows(read))
        if table.frame.empty:
            parts.append(f"{e.short} is not in this run.\n")
            continue
        frame = table.frame.assign(variant=table.frame["variant"].where(
            table.frame["variant"] != name, f"**{name}**"))  # fmt: skip
        parts += [f"{table.caption}\n", "\n".join(markdown_table(frame)) + "\n"]
    return "\n".join(parts)
