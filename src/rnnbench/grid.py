"""The experiment grid: config sections -> one job per grid cell, with stable, readable ids.

A config section (e1_init ... e5_digits) is a grid: tasks x seq_len x hidden_size x model
variants. A model block may give a list for any field, which expands into one variant per
combination. Each grid cell becomes one job: a probe (E1, `probe_cell`) or a training run of
every seed x clip setting (`train_cell`), written under results/cells/<experiment>/<cell_id>/.

Cell ids are built from the grid values only (never from training settings), so adding or
changing one grid point adds or reruns only its own jobs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from .resources import check_memory
from .spec import CellSpec, ModelSpec, ProbeSpec, SpecError, parse, to_dict
from .tables import write_table
from .tasks import TASKS

PROBE_EXPERIMENTS = ("e1_init",)
TRAIN_EXPERIMENTS = ("e2_clipping", "e3_long_range", "e4_gradient_flow", "e5_digits")
EXPERIMENTS = PROBE_EXPERIMENTS + TRAIN_EXPERIMENTS
CELLS_DIR = "results/cells"
TABLES = ("runs", "curves", "profiles")  # what a training job writes; a probe job: runs, profiles


@dataclass(frozen=True)
class Job:
    """One grid cell: where its tables go and the validated spec that produces them."""

    experiment: str
    cell_id: str
    variant: str  # the model block's name, or a label built from its fields
    spec: CellSpec | ProbeSpec

    @property
    def kind(self) -> str:
        return "probe" if isinstance(self.spec, ProbeSpec) else "train"

    @property
    def folder(self) -> str:
        return f"{CELLS_DIR}/{self.experiment}/{self.cell_id}"


def jobs(config: dict) -> list[Job]:
    """Every job of every experiment in config, each spec validated (SpecError names the key)."""
    out = [job for name in EXPERIMENTS for job in experiment_jobs(config, name)]
    keys = [f"{job.experiment}/{job.cell_id}" for job in out]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated:
        raise SpecError(f"{repeated.split('/')[0]}.models: two grid points share the id {repeated}")
    return out


def experiment_jobs(config: dict, experiment: str) -> list[Job]:
    """The jobs of one config section, in grid order (task, seq_len, hidden_size, variant)."""
    section = config[experiment]
    variants = expand_models(section["models"], f"{experiment}.models")
    runtime = config.get("runtime", {})
    out = []
    for task, seq_len, hidden, (label, model) in itertools.product(
        section["tasks"], section["seq_len"], section["hidden_size"], variants
    ):
        try:
            TASKS[task].check(seq_len)
        except SpecError as err:
            raise SpecError(f"{experiment}.seq_len: {str(err).split(': ', 1)[1]}") from None
        data = {
            "task": {"name": task, "seq_len": seq_len, **section.get("task", {})},
            "model": {**model, "hidden_size": hidden},
            "runtime": runtime,
        }
        if experiment in PROBE_EXPERIMENTS:
            data.update(seeds=section["seeds"], batch_size=section["batch_size"])
            spec = parse(ProbeSpec, data, experiment)
        else:
            spec = parse(CellSpec, {**data, "train": section["train"]}, experiment)
            check_memory(spec)
        out.append(Job(experiment, cell_id(task, seq_len, hidden, label), label, spec))
    return out


def expand_models(blocks: list[dict], where: str) -> list[tuple[str, dict]]:
    """Model blocks with list-valued fields -> (variant label, model fields) per combination."""
    out = []
    for i, block in enumerate(blocks):
        block = dict(block)
        name = block.pop("name", None)
        axes = {k: v if isinstance(v, list) else [v] for k, v in block.items()}
        combos = [
            dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())
        ]
        if name is not None and len(combos) > 1:
            raise SpecError(
                f"{where}[{i}].name: a named block must give one variant, it expands to "
                f"{len(combos)} (give single values or drop the name)"
            )
        for fields in combos:
            model = parse(ModelSpec, {**fields, "hidden_size": 1}, f"{where}[{i}]")
            out.append((name or variant_label(model), fields))
    labels = [label for label, _ in out]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate:
        raise SpecError(f"{where}: two model variants are both called {duplicate!r}")
    return out


def variant_label(model: ModelSpec) -> str:
    """A readable label from the fields that matter, e.g. rnn-tanh-orthogonal-rho1.1."""
    parts = [model.cell]
    if model.cell == "rnn":
        parts.append(model.nonlinearity)
    parts.append(model.init)
    if model.init != "default":
        parts.append(f"rho{model.rho:g}")
    if model.cell == "lstm":
        parts.append(f"fb{model.forget_bias:g}")
    return "-".join(parts)


def cell_id(task: str, seq_len: int, hidden_size: int, variant: str) -> str:
    """adding_T50_H32_lstm: the folder name of one grid cell."""
    return f"{task}_T{seq_len}_H{hidden_size}_{variant}"


def run_cell(experiment: str, cell: str, variant: str, spec: dict, folder: str | Path, log) -> None:
    """Run one job (probe or train) from its spec dict and write its tables into folder."""
    from .train import probe_cell, train_cell  # imports torch

    def progress(line: str) -> None:
        print(f"[{experiment}/{cell}] {line}", file=log, flush=True)

    if experiment in PROBE_EXPERIMENTS:
        result = probe_cell(parse(ProbeSpec, spec))
        progress(f"probed {len(result.runs)} seeds")
        names = ("runs", "profiles")
    else:
        checkpoint = Path(folder) / "checkpoint.pt"
        result = train_cell(parse(CellSpec, spec), progress, checkpoint=checkpoint)
        done = result.runs["status"].value_counts().to_dict()
        progress(f"done: {done}")
        names = TABLES
    ids = {"experiment": experiment, "cell_id": cell, "variant": variant}
    meta = {**result.meta, **ids}
    for name in names:
        table = getattr(result, name).drop(columns="model", errors="ignore")
        for i, (key, value) in enumerate(ids.items()):
            table.insert(i, key, value)
        write_table(table, Path(folder) / name, meta)


def spec_dict(job: Job) -> dict:
    """The plain spec of a job (Snakemake params: a change reruns that job only)."""
    return to_dict(job.spec)
