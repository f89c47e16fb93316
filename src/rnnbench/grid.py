"""The experiment grid: config sections -> grid cells -> Snakemake jobs, with stable, readable ids.

A config section (e1_init ... e5_digits) is a grid: tasks x seq_len x hidden_size x model
variants. A model block may give a list for any field, which expands into one variant per
combination. Each grid cell is a probe (E1, `probe_cell`) or a training run of every seed x clip
setting (`train_cell`). A job runs a pack of cells one after another in one process, written
under results/cells/<experiment>/<pack_id>/: with `pack: grid_point` (the default) every variant
of one (task, seq_len, hidden_size), since each job's start-up (Python, `import torch`, writing
tables: seconds) would otherwise dwarf a small cell; with `pack: cell`, one cell per job.

Ids are built from the grid values only (never from training settings), so adding or changing
one grid point adds or reruns only its own jobs. The section `replications` is not a grid: each
of its runs is one cell per T (rnnbench.replications), one job each. Config `experiments` picks
the sections that run.

Horizon ladder (`ladder: true` in a training section): the cell of a variant at T_k reads the
runs of the same variant at the next shorter T of the grid (an input of its job, so the DAG stays
static) and, when every seed failed there at its selected lr, is not trained: its rows are
written with status `skipped` and the T they failed at (`skipped_after`).
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from . import cells, replications, tasks
from .resources import JOB_START_S, check_memory, estimate_seconds
from .spec import CellSpec, ModelSpec, ProbeSpec, SpecError, parse, to_dict
from .tables import CorruptFileError, read_table, with_lstm_cells, write_table

PROBE_EXPERIMENTS = ("e1_init",)
GRID_EXPERIMENTS = ("e2_clipping", "e3_long_range", "e4_gradient_flow", "e5_digits")
REPLICATIONS = "replications"  # not a grid: one cell per run and T (rnnbench.replications)
TRAIN_EXPERIMENTS = (*GRID_EXPERIMENTS, REPLICATIONS)
EXPERIMENTS = PROBE_EXPERIMENTS + TRAIN_EXPERIMENTS
CELLS_DIR = "results/cells"
TABLES = ("runs", "curves", "profiles")  # what a training job writes; a probe job: runs, profiles
PACKING = ("grid_point", "cell")  # config key `pack`: the cells one job runs


@dataclass(frozen=True)
class Job:
    """One grid cell: where its tables go and the validated spec that produces them."""

    experiment: str
    cell_id: str
    variant: str  # the model block's name, or a label built from its fields
    spec: CellSpec | ProbeSpec
    after: str | None = None  # ladder: cell_id of this variant at the next shorter T

    @property
    def kind(self) -> str:
        return "probe" if isinstance(self.spec, ProbeSpec) else "train"

    @property
    def grid_point(self) -> str:
        """adding_T50_H32: the cell id without the variant."""
        task, model = self.spec.task, self.spec.model
        return grid_point_id(task.name, task.seq_len, model.hidden_size)


@dataclass(frozen=True)
class Pack:
    """One Snakemake job: grid cells of one experiment, run one after another in one process."""

    experiment: str
    pack_id: str
    cells: tuple[Job, ...]
    after: dict[str, str] = field(default_factory=dict)  # ladder: cell_id -> runs table to read

    @property
    def folder(self) -> str:
        return f"{CELLS_DIR}/{self.experiment}/{self.pack_id}"

    @property
    def estimated_seconds(self) -> float:
        """Upper bound on the job's time: its start-up and every training cell at full budget
        (rnnbench.resources); 0 for probe jobs."""
        train = [c for c in self.cells if c.kind == "train"]
        return JOB_START_S + sum(estimate_seconds(c.spec) for c in train) if train else 0.0

    @property
    def inputs(self) -> list[str]:
        """The runs tables of other jobs that this job's ladder reads."""
        return sorted(set(self.after.values()))

    def params(self) -> list[dict]:
        """The cells as Snakemake params (a change to one cell's spec reruns this job only)."""
        return [
            dict(cell_id=c.cell_id, variant=c.variant, spec=to_dict(c.spec))
            | ({"after": {"cell_id": c.after, "runs": self.after[c.cell_id]}} if c.after else {})
            for c in self.cells
        ]


def load_config(*configfiles: str | Path | None) -> dict:
    """config/config.yaml with each --configfile merged over it in turn, key by key, as Snakemake
    merges them (before the schema's defaults fill what none gives)."""
    config = yaml.safe_load(Path("config/config.yaml").read_text())
    for path in filter(None, configfiles):
        _merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def _merge(config: dict, over: dict) -> None:
    """Merge over into config in place: mappings key by key, any other value replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value


def packs(config: dict) -> list[Pack]:
    """The jobs of config: its grid cells packed as config `pack` says (see the module doc)."""
    how = config.get("pack", "grid_point")
    if how not in PACKING:
        raise SpecError(f"pack: {how!r} is not one of {', '.join(PACKING)}")
    grouped: dict[tuple[str, str], list[Job]] = {}
    for job in jobs(config):
        key = job.cell_id if how == "cell" or job.experiment == REPLICATIONS else job.grid_point
        grouped.setdefault((job.experiment, key), []).append(job)
    runs_of = {
        (experiment, job.cell_id): f"{CELLS_DIR}/{experiment}/{key}/runs.parquet"
        for (experiment, key), cells in grouped.items()
        for job in cells
    }
    return [
        Pack(experiment, key, tuple(cells),
             {c.cell_id: runs_of[experiment, c.after] for c in cells if c.after})
        for (experiment, key), cells in grouped.items()
    ]  # fmt: skip


def enabled(config: dict) -> list[str]:
    """The experiments config `experiments` runs, in EXPERIMENTS order (SpecError if unknown)."""
    names = config.get("experiments", EXPERIMENTS)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise SpecError(
            f"experiments: unknown experiment {unknown[0]!r} (expected: {', '.join(EXPERIMENTS)})"
        )
    return [name for name in EXPERIMENTS if name in names]


def jobs(config: dict) -> list[Job]:
    """Every job of every experiment in config, each spec validated (SpecError names the key)."""
    out = [job for name in enabled(config) for job in experiment_jobs(config, name)]
    keys = [f"{job.experiment}/{job.cell_id}" for job in out]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated:
        raise SpecError(f"{repeated.split('/')[0]}.models: two grid points share the id {repeated}")
    return out


def experiment_jobs(config: dict, experiment: str) -> list[Job]:
    """The jobs of one config section, in grid order (task, seq_len, hidden_size, variant)."""
    if experiment == REPLICATIONS:
        return replication_jobs(config)
    section = config[experiment]
    variants = expand_models(section["models"], f"{experiment}.models")
    runtime = config.get("runtime", {})
    lengths = sorted(section["seq_len"])
    ladder = section.get("ladder", False)
    out = []
    for task, seq_len, hidden, (label, model) in itertools.product(
        section["tasks"], section["seq_len"], section["hidden_size"], variants
    ):
        try:
            named = tasks.named(task)
        except SpecError as err:
            raise SpecError(f"{experiment}.tasks: {str(err).split(': ', 1)[1]}") from None
        try:
            named.check(seq_len)
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
        k = lengths.index(seq_len)
        after = cell_id(task, lengths[k - 1], hidden, label) if ladder and k else None
        out.append(Job(experiment, cell_id(task, seq_len, hidden, label), label, spec, after))
    return out


def replication_jobs(config: dict) -> list[Job]:
    """One job per run of the configured tier and T of the run (`replications.runs`)."""
    tier = config.get("tier", "laptop")
    if tier not in replications.TIERS:
        raise SpecError(f"tier: {tier!r} is not one of {', '.join(replications.TIERS)}")
    rep = replications.load(config.get(REPLICATIONS), config.get("runtime", {}))
    out = []
    for name, by_length in rep.specs.items():
        if rep.trained(name, tier):
            for seq_len, spec in by_length.items():
                check_memory(spec)
                out.append(Job(REPLICATIONS, replications.cell_id(name, seq_len), name, spec))
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
    """A readable label from the fields that matter to the cell, e.g. rnn-tanh-orthogonal-rho1.1."""
    cell = cells.get(model.cell)
    parts = [cell.name]
    if "nonlinearity" in cell.uses:
        parts.append(model.nonlinearity)
    if "init" in cell.uses:
        parts.append(model.init)
    if "rho" in cell.uses and model.init != "default":
        parts.append(f"rho{model.rho:g}")
    if "forget_bias" in cell.uses:
        parts.append(f"fb{model.forget_bias:g}")
    return "-".join(parts)


def grid_point_id(task: str, seq_len: int, hidden_size: int) -> str:
    return f"{task}_T{seq_len}_H{hidden_size}"


def cell_id(task: str, seq_len: int, hidden_size: int, variant: str) -> str:
    """adding_T50_H32_lstm: the id of one grid cell."""
    return f"{grid_point_id(task, seq_len, hidden_size)}_{variant}"


def run_cells(experiment: str, pack_id: str, cells: list[dict], folder: str | Path, log) -> None:
    """Run one job's cells (`Pack.params`) one after another; write their tables into folder.

    A finished cell's tables wait in folder/done/<cell_id>/ until the job's tables are written,
    so a killed job redoes only its unfinished cells (a training cell resumes from its checkpoint,
    folder/<cell_id>.checkpoint.pt). The seconds this run spent in probe_cell / train_cell (not in
    imports, spec parsing, writing or kept cells) go into the metadata as `compute_seconds`
    (rnnbench.overhead).
    """
    import torch

    from . import kernels

    folder = Path(folder)
    if any(c["spec"]["runtime"]["device"] != "cuda" for c in cells):  # before the first cell:
        # a build (or a wait for another job's) is announced in the job's log
        kernels.prepare(torch.device("cpu"), lambda line: print(line, file=log, flush=True))
    names = ("runs", "profiles") if experiment in PROBE_EXPERIMENTS else TABLES
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    compute = 0.0
    for cell in cells:
        tables, seconds = _cell_tables(experiment, cell, names, folder, log)
        compute += seconds
        for name in names:
            parts[name].append(tables[name])
    meta = dict(
        experiment=experiment,
        pack_id=pack_id,
        cells=cells,
        versions=with_lstm_cells(  # cells kept from an interrupted run ran in another process
            json.loads((folder / "done" / c["cell_id"] / "runs.meta.json").read_text())
            for c in cells
        ),
        compute_seconds=compute,
    )
    for name in names:
        frames = [t for t in parts[name] if len(t)] or parts[name][:1]  # concat drops no columns
        write_table(pd.concat(frames, ignore_index=True), folder / name, meta)
    shutil.rmtree(folder / "done", ignore_errors=True)


def _cell_tables(experiment: str, cell: dict, names, folder: Path, log):
    """One cell's tables (with its ids as the first columns) and its compute seconds."""
    from .train import probe_cell, skip_cell, train_cell  # imports torch

    def progress(line: str) -> None:
        print(f"[{experiment}/{cell['cell_id']}] {line}", file=log, flush=True)

    done = folder / "done" / cell["cell_id"]
    kept = _read_done(done, names, cell["spec"])
    if kept is not None:
        progress("finished by an earlier, interrupted run of this job: kept")
        return kept, 0.0
    start = time.perf_counter()
    if experiment in PROBE_EXPERIMENTS:
        result = probe_cell(parse(ProbeSpec, cell["spec"]))
        compute = time.perf_counter() - start
        progress(f"probed {len(result.runs)} seeds in {compute:.2f}s")
    elif (failed := ladder_failed_at(shorter := _read_after(cell))) is not None:
        result = skip_cell(parse(CellSpec, cell["spec"]), failed, shorter)
        compute = time.perf_counter() - start
        progress(f"skipped: every seed failed at T = {failed} (horizon ladder)")
    else:
        checkpoint = folder / f"{cell['cell_id']}.checkpoint.pt"
        result = train_cell(parse(CellSpec, cell["spec"]), progress, checkpoint=checkpoint)
        compute = time.perf_counter() - start
        progress(f"done: {result.runs['status'].value_counts().to_dict()} in {compute:.2f}s")
    ids = {"experiment": experiment, "cell_id": cell["cell_id"], "variant": cell["variant"]}
    tables = {}
    for name in names:
        table = getattr(result, name).drop(columns="model", errors="ignore")
        for i, (key, value) in enumerate(ids.items()):
            table.insert(i, key, value)
        tables[name] = table
    partial = done.with_name(f".{done.name}.partial")  # renamed to done/<cell_id> when complete
    shutil.rmtree(partial, ignore_errors=True)
    for name in names:
        write_table(tables[name], partial / name, {**result.meta, **ids})
    shutil.rmtree(done, ignore_errors=True)
    partial.rename(done)
    return tables, compute


def _read_after(cell: dict) -> pd.DataFrame | None:
    """The runs of this cell's variant at the next shorter T (the ladder's input), if any."""
    if "after" not in cell:
        return None
    where, cell_id = cell["after"]["runs"], cell["after"]["cell_id"]
    runs = read_table(where)
    if not (runs["cell_id"] == cell_id).any():
        raise CorruptFileError(f"{where}: no runs of {cell_id}; rerun the job that writes it")
    return runs[runs["cell_id"] == cell_id]


def ladder_failed_at(shorter: pd.DataFrame | None) -> int | None:
    """The T at which every seed of this variant failed at its selected lr, given its runs at
    the next shorter T, when the ladder skips this cell; None when it is trained."""
    if shorter is None:
        return None
    chosen = shorter[shorter["selected"]]
    if (chosen["status"] == "solved").any():
        return None
    skipped = chosen["skipped_after"].dropna()
    return int(skipped.iloc[0]) if len(skipped) else int(chosen["seq_len"].iloc[0])


def _read_done(done: Path, names, spec: dict):
    """The tables kept in done/ (complete: renamed there when written) for this spec, or None."""
    try:
        meta = json.loads((done / "runs.meta.json").read_text())
        if meta["spec"] != json.loads(json.dumps(spec)):
            return None
        return {name: read_table(done / f"{name}.parquet") for name in names}
    except (OSError, ValueError, KeyError, CorruptFileError):
        return None
