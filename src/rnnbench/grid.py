"""The experiment grid, planned: config sections -> trials -> Snakemake jobs, with stable ids.

A config section (e1_init ... e5_digits) is a grid: tasks x seq_len x hidden_size x model
variants. A model block may give a list for any field, which expands into one variant per
combination. Each grid point x variant is one *trial*: a probe (E1, `train.probe_trial`) or the
training of every lr x seed x clip setting as one ensemble (`train.train_trial`). A *job* (one
Snakemake job, `rnnbench.execute.run_job`) runs trials one after another in one process,
written under results/cells/<experiment>/<job_id>/: with `pack: grid_point` (the default) every
variant of one (task, seq_len, hidden_size), since each job's start-up (Python, `import torch`,
writing tables: seconds) would otherwise dwarf a small trial; with `pack: trial`, one trial per
job. (Tables and paths say `cell_id` and results/cells for the trial: their names from before.)

Ids are built from the grid values only (never from training settings), so adding or changing
one grid point adds or reruns only its own jobs. The section `replications` is not a grid: each
of its runs is one trial per T (rnnbench.replications), one job each. Config `experiments` picks
the sections that run.

Horizon ladder (`ladder: true` in a training section): the trial of a variant at T_k reads the
runs of the same variant at the next shorter T of the grid (an input of its job, so the DAG stays
static) and, when every seed failed there at its selected lr, is not trained: its rows are
written with status `skipped` and the T they failed at (`skipped_after`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from . import cells, replications, resolve, tasks
from .errors import SpecError, unknown
from .resources import JOB_START_S, check_memory, estimate_seconds
from .spec import ModelSpec, ProbeSpec, TrialSpec, read_yaml, to_dict

PROBE_EXPERIMENTS = ("e1_init",)
GRID_EXPERIMENTS = ("e2_clipping", "e3_long_range", "e4_gradient_flow", "e5_digits")
REPLICATIONS = "replications"  # not a grid: one cell per run and T (rnnbench.replications)
TRAIN_EXPERIMENTS = (*GRID_EXPERIMENTS, REPLICATIONS)
EXPERIMENTS = PROBE_EXPERIMENTS + TRAIN_EXPERIMENTS
CELLS_DIR = "results/cells"
PACKING = ("grid_point", "trial")  # config key `pack`: the trials one job runs


@dataclass(frozen=True)
class Trial:
    """One grid point x variant: its id and the validated spec that produces its tables."""

    experiment: str
    trial_id: str  # the tables' `cell_id`
    variant: str  # the model block's name, or a label built from its fields
    spec: TrialSpec | ProbeSpec
    after: str | None = None  # ladder: trial_id of this variant at the next shorter T

    @property
    def kind(self) -> str:
        return "probe" if isinstance(self.spec, ProbeSpec) else "train"

    @property
    def grid_point(self) -> str:
        """adding_T50_H32: the trial id without the variant."""
        task, model = self.spec.task, self.spec.model
        return grid_point_id(task.name, task.seq_len, model.hidden_size)


@dataclass(frozen=True)
class Job:
    """One Snakemake job: trials of one experiment, run one after another in one process."""

    experiment: str
    job_id: str
    trials: tuple[Trial, ...]
    after: dict[str, str] = field(default_factory=dict)  # ladder: trial_id -> runs table to read

    @property
    def folder(self) -> str:
        return f"{CELLS_DIR}/{self.experiment}/{self.job_id}"

    @property
    def estimated_seconds(self) -> float:
        """Upper bound on the job's time: its start-up and every training trial at full budget
        (rnnbench.resources); 0 for probe jobs."""
        train = [t for t in self.trials if t.kind == "train"]
        return JOB_START_S + sum(estimate_seconds(t.spec) for t in train) if train else 0.0

    @property
    def inputs(self) -> list[str]:
        """The runs tables of other jobs that this job's ladder reads."""
        return sorted(set(self.after.values()))

    def params(self) -> list[dict]:
        """The trials as Snakemake params (a change to one trial's spec reruns this job only)."""
        return [
            dict(cell_id=t.trial_id, variant=t.variant, spec=to_dict(t.spec))
            | ({"after": {"cell_id": t.after, "runs": self.after[t.trial_id]}} if t.after else {})
            for t in self.trials
        ]


def load_config(*configfiles: str | Path | None) -> dict:
    """config/config.yaml with each --configfile merged over it in turn, key by key, as Snakemake
    merges them (before the schema's defaults fill what none gives)."""
    config = read_yaml("config/config.yaml")
    for path in filter(None, configfiles):
        _merge(config, read_yaml(path) or {})
    return config


def _merge(config: dict, over: dict) -> None:
    """Merge over into config in place: mappings key by key, any other value replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value


def jobs(config: dict) -> list[Job]:
    """The jobs of config: its trials packed as config `pack` says (see the module doc)."""
    how = config.get("pack", "grid_point")
    if how not in PACKING:
        raise unknown("pack", how, PACKING)
    grouped: dict[tuple[str, str], list[Trial]] = {}
    for trial in trials(config):
        whole = how == "trial" or trial.experiment == REPLICATIONS
        key = trial.trial_id if whole else trial.grid_point
        grouped.setdefault((trial.experiment, key), []).append(trial)
    runs_of = {
        (experiment, t.trial_id): f"{CELLS_DIR}/{experiment}/{key}/runs.parquet"
        for (experiment, key), group in grouped.items()
        for t in group
    }
    return [
        Job(experiment, key, tuple(group),
            {t.trial_id: runs_of[experiment, t.after] for t in group if t.after})
        for (experiment, key), group in grouped.items()
    ]  # fmt: skip


def enabled(config: dict) -> list[str]:
    """The experiments config `experiments` runs, in EXPERIMENTS order (SpecError if unknown)."""
    names = config.get("experiments", EXPERIMENTS)
    bad = [name for name in names if name not in EXPERIMENTS]
    if bad:
        raise unknown("experiments", bad[0], EXPERIMENTS)
    return [name for name in EXPERIMENTS if name in names]


def trials(config: dict) -> list[Trial]:
    """Every trial of every experiment in config, each spec validated (SpecError names the key)."""
    out = [t for name in enabled(config) for t in experiment_trials(config, name)]
    keys = [f"{t.experiment}/{t.trial_id}" for t in out]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated:
        where = f"{repeated.split('/')[0]}.models"
        raise SpecError(where, f"two grid points share the id {repeated}")
    return out


def experiment_trials(config: dict, experiment: str) -> list[Trial]:
    """The trials of one config section, in grid order (task, seq_len, hidden_size, variant)."""
    if experiment == REPLICATIONS:
        return replication_trials(config)
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
            named = tasks.TASKS.get(task)
        except SpecError as err:
            raise err.at(f"{experiment}.tasks") from None
        try:
            named.check(seq_len)
        except SpecError as err:
            raise err.at(f"{experiment}.seq_len") from None
        data = {
            "task": {"name": task, "seq_len": seq_len, **section.get("task", {})},
            "model": {**model, "hidden_size": hidden},
            "runtime": runtime,
        }
        if experiment in PROBE_EXPERIMENTS:
            data.update(seeds=section["seeds"], batch_size=section["batch_size"])
            spec = resolve.spec(ProbeSpec, data, experiment)
        else:
            spec = resolve.spec(TrialSpec, {**data, "train": section["train"]}, experiment)
            check_memory(spec)
        k = lengths.index(seq_len)
        after = trial_id(task, lengths[k - 1], hidden, label) if ladder and k else None
        out.append(Trial(experiment, trial_id(task, seq_len, hidden, label), label, spec, after))
    return out


def replication_trials(config: dict) -> list[Trial]:
    """One trial per run of the configured tier and T of the run (`replications.runs`)."""
    tier = config.get("tier", "laptop")
    if tier not in replications.TIERS:
        raise unknown("tier", tier, replications.TIERS)
    rep = replications.load(config.get(REPLICATIONS), config.get("runtime", {}))
    out = []
    for name, by_length in rep.specs.items():
        if rep.trained(name, tier):
            for seq_len, spec in by_length.items():
                check_memory(spec)
                out.append(Trial(REPLICATIONS, replications.trial_id(name, seq_len), name, spec))
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
                f"{where}[{i}].name",
                f"a named block must give one variant, it expands to "
                f"{len(combos)} (give single values or drop the name)",
            )
        for fields in combos:
            model = resolve.spec(ModelSpec, {**fields, "hidden_size": 1}, f"{where}[{i}]")
            out.append((name or variant_label(model), fields))
    labels = [label for label, _ in out]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate:
        raise SpecError(where, f"two model variants are both called {duplicate!r}")
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


def trial_id(task: str, seq_len: int, hidden_size: int, variant: str) -> str:
    """adding_T50_H32_lstm: the id of one trial."""
    return f"{grid_point_id(task, seq_len, hidden_size)}_{variant}"
