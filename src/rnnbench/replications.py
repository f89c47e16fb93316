"""Replications: published results of the anchor papers beside ours, in the papers' settings.

The config section `replications` (config/replications.yaml) names `runs` (one training cell
each: a TrialSpec plus its tier and the ways it departs from the source's setting) and `targets`
(one published number each: its source and place, the run it is read from, the measure, the
published value and unit, and the tolerance that decides agreement). A run is trained in the
tier `laptop` (minutes on a laptop) or only in `full` (a cluster or a GPU); config key `tier`
picks which. Every target gets one row of results/tables/replications: ours with its 95%
interval and n beside the published value, and a verdict (`verdict`):

  agrees        our interval lies inside the published value's tolerance band,
  disagrees     our interval and the band do not overlap,
  inconclusive  they overlap, but our interval is wider than the band allows,
  not run       the target's run is not in this tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import cells, resolve, tasks
from .errors import SpecError, unknown
from .measures import MEASURES, TARGET_MEASURES, Sample
from .spec import TIERS, TrialSpec, opt
from .verdicts import NOT_RUN, band_verdict


@dataclass(frozen=True)
class Run:
    """One trial of a replication per T: the setting, as close to the source's as we can."""

    tier: str = opt("full", "the first tier that trains it: laptop or full", choices=TIERS)
    task: dict = opt(None, "the task (a TrialSpec task block; seq_len may be a list of T)")
    model: dict = opt(None, "the model (a TrialSpec model block)")
    train: dict = opt(None, "optimisation, budget and seeds (one clip setting; a train block)")
    deviations: list[str] = opt(["none"], "how this setting departs from the source's")


@dataclass(frozen=True)
class Tolerance:
    """The band around a published value inside which ours agrees with it: [p / factor,
    p x factor] or [p - abs, p + abs] (cut at 0: no measure is negative)."""

    factor: float = opt(0.0, "multiplicative: the band is [p / factor, p x factor]", min=0)
    abs: float = opt(0.0, "additive: the band is [p - abs, p + abs]", min=0)

    def band(self, published: float) -> tuple[float, float]:
        if self.factor:
            return published / self.factor, published * self.factor
        return max(published - self.abs, 0.0), published + self.abs  # every measure is >= 0


@dataclass(frozen=True)
class Target:
    """One published number and how ours is measured against it."""

    source: str = opt("", "key of `replications.sources`")
    place: str = opt("", "where the value is printed: section, table or figure, or a path")
    run: str = opt("", "key of `replications.runs` whose seeds are measured")
    seq_len: int = opt(0, "the run's T this value is for (0: the run's only T)", min=0)
    measure: str = opt(
        "solved_fraction",
        "what of our runs is compared (rnnbench.measures.MEASURES)",
        names="measure",
    )
    threshold: float = opt(
        0.04,
        "fraction_below: the final test loss counted as below; fraction_below_baseline: that "
        "fraction of the task's baseline loss",
        gt=0,
    )
    published: float = opt(0.0, "the published value, in `unit`")
    unit: str = opt("", "the published value's unit")
    approximate: bool = opt(False, "true when the value was read off a plot")
    tolerance: Tolerance = opt(Tolerance(), "the band of agreement around `published`")
    note: str = opt("", "what the published value is, exactly (e.g. mean of 10 trials)")


# ------------------------------------------------------------------------------------- measures


# ---------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Replications:
    """The validated `replications` section: sources, runs (each with its TrialSpec per T) and
    targets."""

    sources: dict[str, str]
    runs: dict[str, Run]
    specs: dict[str, dict[int, TrialSpec]]  # run -> T -> its cell
    targets: dict[str, Target]

    def lengths(self, name: str) -> list[int]:
        """The T values run `name` trains at."""
        return list(self.specs[name])

    def trained(self, name: str, tier: str) -> bool:
        """Whether run `name` trains in `tier` (a tier trains its runs and every smaller tier's)."""
        return TIERS.index(self.runs[name].tier) <= TIERS.index(tier)


def load(section: dict | None, runtime: dict | None = None) -> Replications:
    """Parse `replications`: every run's cell at every T is checked, whatever the tier, and
    every target against its run (SpecError names the key)."""
    section = section or {}
    extra = sorted(set(section) - {"sources", "runs", "targets"})
    if extra:
        raise SpecError(f"replications.{extra[0]}", "unknown key (expected sources, runs, targets)")
    sources = dict(section.get("sources") or {})
    runs, specs = {}, {}
    for name, data in (section.get("runs") or {}).items():
        runs[name] = resolve.spec(Run, data, f"replications.runs.{name}")
        specs[name] = _trials(name, runs[name], runtime or {})
    out = Replications(sources, runs, specs, {})
    for tid, data in (section.get("targets") or {}).items():
        out.targets[tid] = _target(out, tid, data)
    return out


def _trials(name: str, run: Run, runtime: dict) -> dict[int, TrialSpec]:
    """Run `name`'s TrialSpec at each of its T."""
    where = f"replications.runs.{name}"
    task, model, train = (getattr(run, key) or {} for key in ("task", "model", "train"))
    missing = next((key for key in ("name", "seq_len") if key not in task), None)
    if missing:
        raise SpecError(f"{where}.task.{missing}", "required (a run names its task and T)")
    lengths = task["seq_len"]
    lengths = lengths if isinstance(lengths, list) else [lengths]
    if not lengths or len(set(map(str, lengths))) < len(lengths):
        where_t = f"{where}.task.seq_len"
        raise SpecError(where_t, f"give one T or a list of distinct T, got {lengths}")
    out = {}
    for seq_len in lengths:
        data = dict(task={**task, "seq_len": seq_len}, model=model, train=train)
        spec = resolve.spec(TrialSpec, {**data, "runtime": runtime}, where)
        try:
            tasks.get(spec.task).check(seq_len)
        except SpecError as err:
            raise err.at(f"{where}.task.seq_len") from None
        out[seq_len] = spec
    if len(spec.train.clipping) > 1:  # a target reads one setting's seeds
        raise SpecError(f"{where}.train.clipping", "a replication run has one clip setting")
    return out


def _target(rep: Replications, tid: str, data: dict) -> Target:
    where = f"replications.targets.{tid}"
    target = resolve.spec(Target, data, where)
    for key, known in (("source", rep.sources), ("run", rep.runs), ("measure", TARGET_MEASURES)):
        if getattr(target, key) not in known:
            raise unknown(f"{where}.{key}", getattr(target, key), known)
    if not target.place:
        raise SpecError(f"{where}.place", "every published value cites its place")
    tol = target.tolerance
    if bool(tol.factor) == bool(tol.abs) or 0 < tol.factor <= 1:
        raise SpecError(
            f"{where}.tolerance",
            "give one of factor (> 1: the band [p / f, p x f]) or abs (the band [p - a, p + a])",
        )
    if target.published < 0:
        raise SpecError(f"{where}.published", f"no measure is negative, got {target.published}")
    lengths = rep.lengths(target.run)
    if target.seq_len not in (0, *lengths) or (target.seq_len == 0 and len(lengths) > 1):
        raise SpecError(
            f"{where}.seq_len", f"run {target.run!r} trains at T in {lengths}; name one of them"
        )
    spec = rep.specs[target.run][target.seq_len or lengths[0]]
    if MEASURES[target.measure].accuracy and not tasks.get(spec.task).metric_is_accuracy:
        raise SpecError(
            f"{where}.measure",
            f"{target.measure} reads an accuracy; {spec.task.name}'s metric is its MSE",
        )
    return target


def trial_id(run: str, seq_len: int) -> str:
    """hs97_adding_T100: the trial of run `run` at T."""
    return f"{run}_T{seq_len}"


# ----------------------------------------------------------------------------------------- table

COLUMNS = [
    "target",
    "source",
    "citation",
    "place",
    "run",
    "tier",
    "cell_id",
    "task",
    "seq_len",
    "cell_label",
    "lr",
    "setting",
    "deviations",
    "measure",
    "measure_text",
    "published",
    "unit",
    "approximate",
    "band_low",
    "band_high",
    "ours",
    "low",
    "high",
    "n",
    "interval",
    "verdict",
    "note",
]


def setting_text(spec: TrialSpec) -> str:
    """One line of the setting: task, T, cell, H, optimizer, lr, batch, budget, clipping, seeds."""
    task, model, train = spec.task, spec.model, spec.train
    lr = ", ".join(f"{x:g}" for x in train.lr)
    decay = f" x{train.lr_decay:g} every {train.lr_decay_every}" if train.lr_decay_every else ""
    return (
        f"{task.name} T={task.seq_len}, {cells.get(model.cell).label} H={model.hidden_size}, "
        f"{train.optimizer} lr {lr}{decay}, batch {train.batch_size}, {train.steps} steps, "
        f"clip {train.clipping[0].label}, {len(train.seeds)} seeds"
    )


def table(runs: pd.DataFrame, section: dict | None, tier: str) -> pd.DataFrame:
    """One row per target: published beside ours (selected lr of its run), the verdict."""
    rep = load(section)
    rows = []
    for tid, t in rep.targets.items():
        run = rep.runs[t.run]
        seq_len = t.seq_len or rep.lengths(t.run)[0]
        spec = rep.specs[t.run][seq_len]
        cid = trial_id(t.run, seq_len)
        mine = runs[(runs["experiment"] == "replications") & (runs["cell_id"] == cid)]
        mine = mine[mine["selected"]]
        measure = MEASURES[t.measure]
        band = t.tolerance.band(t.published)
        ours = low = high = math.nan
        if rep.trained(t.run, tier) and len(mine):
            m = measure.compute(Sample(mine, threshold=t.threshold))
            ours, low, high = m.effect, m.low, m.high
            decided = band_verdict(low, high, band)
        else:
            decided = NOT_RUN
        rows.append(
            dict(
                target=tid,
                source=t.source,
                citation=rep.sources[t.source],
                place=t.place,
                run=t.run,
                tier=run.tier,
                cell_id=cid,
                task=spec.task.name,
                seq_len=seq_len,
                cell_label=cells.get(spec.model.cell).label,
                lr=mine["lr"].iloc[0] if len(mine) else math.nan,
                setting=setting_text(spec),
                deviations="; ".join(run.deviations),
                measure=t.measure,
                measure_text=measure.text,
                published=t.published,
                unit=t.unit,
                approximate=t.approximate,
                band_low=band[0],
                band_high=band[1],
                ours=ours,
                low=low,
                high=high,
                n=len(mine),
                interval=measure.interval,
                verdict=decided,
                note=t.note,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)
