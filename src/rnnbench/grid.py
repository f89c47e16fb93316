"""The experiment grid, planned: config sections -> trials -> Snakemake jobs, with stable ids.

An experiment's config section (rnnbench.experiments) is a grid: tasks x seq_len x hidden_size
x model variants. A model block may give a list for any field, which expands into one variant per
combination. Each grid point x variant is one *trial*: a probe (E1, `train.probe_trial`) or the
training of every lr x seed x clip setting as one ensemble (`train.train_trial`). A *job* (one
Snakemake job, `rnnbench.execute.run_job`) runs trials one after another in one process,
written under results/cells/<experiment>/<job_id>/: with `pack: grid_point` (the default) every
variant of one (task, seq_len, hidden_size), since each job's start-up (Python, `import torch`,
writing tables: seconds) would otherwise dwarf a small trial; with `pack: trial`, one trial per
job. (Tables and paths say `cell_id` and results/cells for the trial: their names from before.)
A plugin cell's trials (a cell given as module:Class) are packed apart from the built-ins', one
job per grid point and module (`adding_T50_H32_mycells`), whose input is the module's source
file (`Job.sources`): editing the plugin reruns exactly its jobs, and adding one to a grid
leaves the built-ins' jobs (and their tables) as they were.

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
import os
from dataclasses import dataclass, field

from . import cells, replications, resolve, tasks
from .config import PACKING
from .errors import SpecError, unknown
from .experiments import EXPERIMENTS
from .resources import JOB_START_S, check_memory, estimate_seconds
from .sections import expand_models
from .spec import ProbeSpec, TrialSpec, to_dict
from .tables import source_file

CELLS_DIR = "results/cells"


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

    @property
    def plugin(self) -> str | None:
        """The module of its cell when that is a plugin (module:Class), else None."""
        name = self.spec.model.cell
        return type(cells.get(name)).__module__ if ":" in name else None


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

    @property
    def sources(self) -> list[str]:
        """The source files of its plugin cells (relative to the working directory): inputs of
        the job, so that editing one reruns it."""
        plugins = {t.spec.model.cell for t in self.trials if t.plugin}
        return sorted({os.path.relpath(source_file(type(cells.get(c)))) for c in plugins})

    def params(self) -> list[dict]:
        """The trials as Snakemake params (a change to one trial's spec reruns this job only)."""
        return [
            dict(cell_id=t.trial_id, variant=t.variant, spec=to_dict(t.spec))
            | ({"after": {"cell_id": t.after, "runs": self.after[t.trial_id]}} if t.after else {})
            for t in self.trials
        ]


def jobs(config: dict) -> list[Job]:
    """The jobs of a validated config (`rnnbench.config`): its trials packed as config `pack`
    says (see the module doc)."""
    how = config.get("pack", "grid_point")
    if how not in PACKING:
        raise unknown("pack", how, PACKING)
    grouped: dict[tuple[str, str], list[Trial]] = {}
    for trial in trials(config):
        whole = how == "trial" or EXPERIMENTS[trial.experiment].kind == "replications"
        key = trial.trial_id if whole else trial.grid_point
        if trial.plugin and not whole:  # apart from the built-ins: see the module doc
            key += "_" + trial.plugin.replace(".", "-")
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
    """The experiments config `experiments` runs, in registry order (SpecError if unknown)."""
    names = config.get("experiments", list(EXPERIMENTS))
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
    kind = EXPERIMENTS[experiment].kind
    if kind == "replications":
        return replication_trials(config, experiment)
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
        if kind == "probe":
            data.update(seeds=section["seeds"], batch_size=section["batch_size"])
            spec = resolve.spec(ProbeSpec, data, experiment)
        else:
            spec = resolve.spec(TrialSpec, {**data, "train": section["train"]}, experiment)
            check_memory(spec)
        k = lengths.index(seq_len)
        after = trial_id(task, lengths[k - 1], hidden, label) if ladder and k else None
        out.append(Trial(experiment, trial_id(task, seq_len, hidden, label), label, spec, after))
    return out


def replication_trials(config: dict, experiment: str) -> list[Trial]:
    """One trial per run of the configured tier and T of the run (`replications.runs`)."""
    tier = config.get("tier", "laptop")
    if tier not in replications.TIERS:
        raise unknown("tier", tier, replications.TIERS)
    rep = replications.load(config.get(experiment), config.get("runtime", {}))
    out = []
    for name, by_length in rep.specs.items():
        if rep.trained(name, tier):
            for seq_len, spec in by_length.items():
                check_memory(spec)
                out.append(Trial(experiment, replications.trial_id(name, seq_len), name, spec))
    return out


def grid_point_id(task: str, seq_len: int, hidden_size: int) -> str:
    return f"{task}_T{seq_len}_H{hidden_size}"


def trial_id(task: str, seq_len: int, hidden_size: int, variant: str) -> str:
    """adding_T50_H32_lstm: the id of one trial."""
    return f"{grid_point_id(task, seq_len, hidden_size)}_{variant}"
