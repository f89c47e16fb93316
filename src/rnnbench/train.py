"""Training a trial: every lr x clip setting x seed as one batched ensemble in one process.

Model e has its own data stream (seeded by its seed), its own learning rate, its own clipping and
its own fate: a model whose loss or gradient becomes non-finite is frozen and recorded as
diverged at that step; with `train.stop_when_solved`, a model that meets its task's solved
criterion on the validation set at a check is frozen as solved (its numbers are then those of a
run of that many steps). Frozen models leave the batched compute: the live ensemble is rebuilt
without them, so a trial gets cheaper as its models finish. Results per model equal training that
model alone with its seed. Validation results drive stopping and the choice of lr (`selected`);
every reported result (`final_loss`, `final_metric`, `status`) is on the separate test set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import bptt, cells, runtime, tasks, trainstep
from .errors import CorruptFileError
from .gradients import gradient_profile, probe_path
from .models import Ensemble
from .optim import CLIP_MODES, EnsembleOptimizer
from .resources import check_memory
from .spec import ProbeSpec, TrialSpec, to_dict
from .tables import NOT_RECORDED, atomic_write, spec_columns, versions
from .tasks import Task
from .toolkit import Workspace
from .trialdata import (
    PROFILE_ROW,
    broadcast,
    evaluate,
    profile_due,
    profile_rows,
    sample_batch,
    table_of,
)

DATA_STREAM, PROBE_STREAM = 1, 2  # second word of each model's numpy seed: independent streams
ETA_AFTER_S = 10.0  # no estimate of the time left before this much time (or 5% of the budget)


@dataclass
class TrialResult:
    runs: pd.DataFrame  # one row per model
    curves: pd.DataFrame  # one row per model x logged step
    profiles: pd.DataFrame  # one row per model x profiled step x distance
    meta: dict  # spec, versions


def train_trial(
    spec: TrialSpec,
    progress: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> TrialResult:
    """Train every lr, clip setting and seed of one trial; see the module docstring.

    With `checkpoint` and `runtime.checkpoint_every > 0`, the full training state (weights,
    optimizer, data streams, logs) is saved there every that many steps; a later call with the
    same spec resumes from it and ends with exactly the numbers of an uninterrupted run. The file
    is deleted when training finishes.
    """
    run = _Run(spec, progress)
    if checkpoint is not None and Path(checkpoint).exists():
        run.resume(Path(checkpoint))
    clock = time.perf_counter() - run.st.elapsed
    while run.st.step <= spec.train.steps and len(run.st.live):
        run.step()
        run.st.elapsed = time.perf_counter() - clock
        run.save_if_due(checkpoint)
        run.report_progress()
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return run.tables()


def members(spec: TrialSpec) -> list[tuple]:
    """(lr, clip setting, seed) of model e = members[e]; with one lr, the order of a trial
    without a sweep."""
    tr = spec.train
    return [(lr, c, seed) for lr in tr.lr for c in tr.clipping for seed in tr.seeds]


@dataclass
class _State:
    """Everything a resumed run needs besides the weights and the optimizer; arrays are (E,)."""

    rngs: list[np.random.Generator]  # one data stream per model
    live: np.ndarray  # the models still training (ascending): the rows of the live ensemble
    diverged_step: np.ndarray  # -1 unless diverged
    solved_step: np.ndarray  # first check that met the solved criterion on validation, or -1
    frozen_step: np.ndarray  # the step a model left the training (diverged or solved), or -1
    max_norm: np.ndarray  # largest pre-clip gradient norm so far
    rows: list[dict] = field(default_factory=list)
    profile_rows: list[dict] = field(default_factory=list)
    step: int = 0  # next step to run
    elapsed: float = 0.0  # seconds spent so far


class _Run:
    """One trial's training: `step` is one optimizer step of the live models, each concern in a
    method of its own (`_diverged`, `_solved`, `_log`, `_profile`, `_compact`)."""

    def __init__(self, spec: TrialSpec, progress: Callable[[str], None] | None):
        self.spec, self.tr, self.progress = spec, spec.train, progress
        self.device = runtime.setup(spec.runtime.threads, spec.runtime.device)
        self.dtype = getattr(torch, spec.runtime.dtype)
        self.task = tasks.get(spec.task)
        self.task.check(spec.task.seq_len)
        check_memory(spec, machine=True)
        self.members = members(spec)
        n = len(self.members)
        seeds = [seed for _, _, seed in self.members]
        task, device = self.task, self.device
        self.full = Ensemble(spec.model, task.input_size, task.output_size, seeds, self.dtype,
                             task.length(spec.task.seq_len))  # fmt: skip
        self.full = self.full.to(device)  # every model; frozen ones keep their last weights
        self.lr = torch.tensor([lr for lr, _, _ in self.members], dtype=torch.float64)
        self.modes = torch.tensor([CLIP_MODES[c.mode] for _, c, _ in self.members])
        self.thresholds = torch.tensor(
            [c.threshold for _, c, _ in self.members], dtype=torch.float64
        )  # exact: not rounded through float32
        self.val = task.fixed_set("val", spec.task.seq_len, spec.task.val_size)
        self.test = task.fixed_set("test", spec.task.seq_len, spec.task.test_size)
        self.workspace = Workspace()  # training buffers, kept between steps
        self.probe_workspace = Workspace()  # and those of the gradient-through-time probes
        self.st = _State(
            rngs=[np.random.default_rng([seed, DATA_STREAM]) for seed in seeds],
            live=np.arange(n),
            diverged_step=np.full(n, -1),
            solved_step=np.full(n, -1),
            frozen_step=np.full(n, -1),
            max_norm=np.zeros(n),
        )
        self._take(self.st.live, trainstep.optimizer(self.full, self.tr, self.lr))
        self._timed_from: tuple[int, float] | None = None  # (step, elapsed) of the first report

    def _take(self, live: np.ndarray, optimizer: EnsembleOptimizer, rows=None) -> None:
        """Make models `live` the live ensemble (their rows `rows` of `optimizer`)."""
        rows = torch.arange(len(live)) if rows is None else torch.from_numpy(rows)
        idx = torch.from_numpy(live).to(self.device)
        self.model = self.full.take(idx)  # (E',) models trained together from here on
        self.optimizer = optimizer.take(rows.to(self.device), list(self.model.parameters()))
        self.live_modes, self.live_thresholds = (
            t[torch.from_numpy(live)].to(self.device) for t in (self.modes, self.thresholds)
        )
        self.st.live = live

    def step(self) -> None:
        """Step st.step for every live model: gradient, clipping, checks, logs, profiles, update."""
        st, tr, step = self.st, self.tr, self.st.step
        x, y = sample_batch(self.task, [st.rngs[e] for e in st.live], tr.batch_size,
                      self.spec.task.seq_len, self.device, self.dtype)  # fmt: skip
        loss, grads, norm, clipped = trainstep.gradients(
            self.model, self.task, x, y, self.live_modes, self.live_thresholds, self.workspace,
            omega=tr.omega,
        )  # fmt: skip
        train = dict(
            train_loss=loss.detach().double().cpu().numpy(),
            grad_norm=norm.cpu().numpy(),
            clipped=clipped.cpu().numpy(),
        )  # (E',) each
        diverged = self._diverged(train["train_loss"], train["grad_norm"])
        self._val = None  # validation results of this step, computed once when needed
        solved = self._solved() & ~diverged
        frozen = diverged | (solved & tr.stop_when_solved)
        scheduled = step % tr.log_every == 0 or step == tr.steps
        self._log(np.ones_like(frozen) if scheduled else frozen, train)
        due = profile_due(step, tr.steps, tr.profile_every)
        self._profile((np.ones_like(frozen) if due else frozen) & ~diverged)
        keep = np.flatnonzero(~frozen)
        st.frozen_step[st.live[frozen]] = step
        if frozen.any():
            grads = [g[torch.from_numpy(keep).to(self.device)] for g in grads]
            self._compact(keep)
        if step < tr.steps and len(keep):
            trainstep.update(self.model, self.optimizer, grads)
        st.step = step + 1

    def _diverged(self, loss: np.ndarray, norm: np.ndarray) -> np.ndarray:
        """Live models whose loss or gradient is not finite: recorded as diverged now, (E',)."""
        st = self.st
        bad = ~(np.isfinite(loss) & np.isfinite(norm))
        st.diverged_step[st.live[bad]] = st.step
        seen = np.fmax(st.max_norm[st.live], np.nan_to_num(norm, nan=np.inf))
        st.max_norm[st.live] = seen
        return bad

    def _solved(self) -> np.ndarray:
        """At a check: live models meeting the solved criterion on the validation set by
        train.freeze_margin (E',); the first check meeting it at all is their solved_step."""
        st, tr = self.st, self.tr
        if not (st.step % tr.check_every == 0 or st.step == tr.steps):
            return np.zeros(len(st.live), dtype=bool)
        loss, metric = self._validation()
        met = self.task.solved(loss, metric, self.spec.task)  # (E',) bool
        first = met & (st.solved_step[st.live] < 0)
        st.solved_step[st.live[first]] = st.step
        if tr.freeze_margin == 1:
            return met
        return self.task.solved(loss, metric, self.spec.task, tr.freeze_margin)

    def _validation(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss and metric of the live models on the validation set at this step, (E',) each."""
        if self._val is None:
            self._val = evaluate(self.model, self.task, *self.val, self.device, self.dtype)
        return self._val

    def _log(self, who: np.ndarray, train: dict) -> None:
        """A curves row at this step for the live models where who (E',) is True."""
        if not who.any():
            return
        val_loss, val_metric = self._validation()
        radius, sigma = (t.cpu().numpy() for t in self.model.spectral_stats())
        for i in np.flatnonzero(who):
            self.st.rows.append(dict(
                model=int(self.st.live[i]), step=self.st.step,
                train_loss=float(train["train_loss"][i]), val_loss=float(val_loss[i]),
                val_metric=float(val_metric[i]), grad_norm=float(train["grad_norm"][i]),
                clipped=bool(train["clipped"][i]), spectral_radius=float(radius[i]),
                sigma_max=float(sigma[i]),
            ))  # fmt: skip

    def _profile(self, who: np.ndarray) -> None:
        """Gradient-through-time profiles at this step of the live models where who is True."""
        if not who.any():
            return
        idx = np.flatnonzero(who)
        part = self.model if who.all() else self.model.take(torch.from_numpy(idx).to(self.device))
        b = self.tr.batch_size
        x, y = self.val
        probe = broadcast(x[:, :b], y[..., :b], len(idx), self.device, self.dtype)
        prof = gradient_profile(part, self.task, *probe, self.probe_workspace, self.dtype)
        for i, e in enumerate(self.st.live[idx]):
            self.st.profile_rows += profile_rows(prof, i, model=int(e), step=self.st.step)

    def _compact(self, keep: np.ndarray) -> None:
        """Drop the frozen models from the live ensemble: keep (E',) are the rows that stay."""
        self._sync()
        self._take(self.st.live[keep], self.optimizer, keep)

    def _sync(self) -> None:
        """Copy the live models' weights back into the full ensemble."""
        if len(self.st.live):
            self.full.put(torch.from_numpy(self.st.live).to(self.device), self.model)

    def save_if_due(self, checkpoint: str | Path | None) -> None:
        every, st = self.spec.runtime.checkpoint_every, self.st
        if checkpoint is None or not every or st.step % every or st.step > self.tr.steps:
            return
        if not len(st.live):  # the trial has ended
            return
        self._sync()
        opt = self.optimizer
        blob = dict(
            spec=_identity(self.spec), step=st.step, elapsed=st.elapsed,
            model=self.full.state_dict(), opt_t=opt.t, opt_state=[list(s) for s in opt.state],
            rngs=[r.bit_generator.state for r in st.rngs], live=torch.from_numpy(st.live),
            diverged_step=torch.from_numpy(st.diverged_step),
            solved_step=torch.from_numpy(st.solved_step), max_norm=torch.from_numpy(st.max_norm),
            frozen_step=torch.from_numpy(st.frozen_step),
            rows=st.rows, profile_rows=st.profile_rows,
        )  # fmt: skip
        _save(Path(checkpoint), blob)

    def resume(self, path: Path) -> None:
        """Continue from the checkpoint at path (ignored if saved for another spec)."""
        try:
            blob = torch.load(path, weights_only=True, map_location=self.device)
            if blob["spec"] != _identity(self.spec):
                if self.progress:
                    self.progress(f"ignored {path}: saved for a different spec")
                return
            self.full.load_state_dict(blob["model"])
            rngs = []
            for state in blob["rngs"]:
                rng = np.random.default_rng()
                rng.bit_generator.state = state
                rngs.append(rng)
            self.st = _State(
                rngs=rngs, live=blob["live"].numpy(), diverged_step=blob["diverged_step"].numpy(),
                solved_step=blob["solved_step"].numpy(), max_norm=blob["max_norm"].numpy(),
                frozen_step=blob["frozen_step"].numpy(),
                rows=blob["rows"], profile_rows=blob["profile_rows"], step=blob["step"],
                elapsed=blob["elapsed"],
            )  # fmt: skip
            live = self.st.live
            self._take(live, trainstep.optimizer(self.full, self.tr, self.lr), live)
            self.optimizer.t = blob["opt_t"]
            for mine, saved in zip(self.optimizer.state, blob["opt_state"], strict=True):
                for a, b in zip(mine, saved, strict=True):
                    a.copy_(b)
        except Exception as err:  # truncated or garbled file: any unpickling error
            raise CorruptFileError(
                f"{path}: unreadable checkpoint ({type(err).__name__}); "
                "delete it to restart the job"
            ) from None
        if self.progress:
            self.progress(f"resumed at step {self.st.step} from {path}")

    def report_progress(self) -> None:
        """A progress line every 5% of the budget; the time left (an upper bound: models may
        stop early) once ETA_AFTER_S seconds or 5% of the budget have been timed, from the rate
        of the steps after this process's first (which pays for warming up)."""
        st, steps = self.st, self.tr.steps
        done = st.step - 1
        if self._timed_from is None:
            self._timed_from = (done, st.elapsed)
        if not self.progress or not (done % max(1, steps // 20) == 0 or done == steps or
                                     not len(st.live)):  # fmt: skip
            return
        line = (f"step {done}/{steps} live={len(st.live)}/{len(self.members)} "
                f"solved={int((st.solved_step >= 0).sum())} elapsed={st.elapsed:.1f}s")  # fmt: skip
        first, since = self._timed_from
        timed = st.elapsed - since >= ETA_AFTER_S or done - first >= max(2, steps // 20)
        if timed and done > first and len(st.live) and done < steps:
            rate = (st.elapsed - since) / (done - first)
            line += f" left<={rate * (steps - done):.0f}s"
        self.progress(line)

    def tables(self) -> TrialResult:
        """The runs, curves and profiles tables: every model on the validation and test sets."""
        self._sync()
        val = evaluate(self.full, self.task, *self.val, self.device, self.dtype)
        test = evaluate(self.full, self.task, *self.test, self.device, self.dtype)
        result = _tables(self.spec, self.task, self.members, self.st, val, test)
        path = bptt.path(self.full)  # which code computed the gradients
        return replace(result, runs=result.runs.assign(gradient_path=path))


def _save(path: Path, blob: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(blob, tmp))


def _identity(spec: TrialSpec) -> dict:
    """The spec minus the settings that never change a number (a resume may change those)."""
    out = to_dict(spec)
    out["runtime"] = {k: v for k, v in out["runtime"].items() if k not in NOT_RECORDED}
    return out


def model_columns(spec) -> dict:
    """Every scalar spec field, the cell's label and its hyperparameters (param_<name>, every
    one, defaults filled): the columns that say which model a row is of."""
    cell = cells.get(spec.model.cell)
    params = {f"param_{k}": v for k, v in to_dict(cell.hparams(spec.model)).items()}
    return {**spec_columns(spec), "cell_label": cell.label, **params}


def _meta(spec, seeds, cell) -> dict:
    """A trial's provenance: its spec, seeds, versions and where and from what it ran."""
    return dict(spec=to_dict(spec), seeds=list(seeds), versions=versions(cell))


def _member_columns(spec, members) -> pd.DataFrame:
    """One row per model: every spec field, the cell's label, its lr, clip setting and seed."""
    base = model_columns(spec)
    return pd.DataFrame(
        [
            dict(
                model=e,
                **base,
                lr=lr,
                seed=seed,
                clip=c.mode,
                clip_threshold=c.effective_threshold,
                clip_setting=c.label,
            )
            for e, (lr, c, seed) in enumerate(members)
        ]
    )


def _tables(spec, task: Task, members, st: _State, val, test) -> TrialResult:
    """val, test: (loss (E,), metric (E,)) of every model's final weights on those sets."""
    info = _member_columns(spec, members)
    tspec, steps = spec.task, spec.train.steps
    stopped = np.where(st.frozen_step >= 0, st.frozen_step, steps)
    status = np.where(
        st.diverged_step >= 0,
        "diverged",
        np.where(task.solved(test[0], test[1], tspec), "solved", "unsolved"),
    )
    solved_step = pd.array([s if s >= 0 else None for s in st.solved_step], dtype="Int64")
    runs = info.assign(
        status=status,
        diverged_step=pd.array([d if d >= 0 else None for d in st.diverged_step], dtype="Int64"),
        solved_step=solved_step,
        sequences_to_solve=solved_step * spec.train.batch_size,
        steps_trained=stopped,
        skipped_after=pd.array([None] * len(members), dtype="Int64"),
        val_loss=val[0],
        val_metric=val[1],
        final_loss=test[0],
        baseline_loss=task.baseline_loss(tspec.seq_len),
        final_metric=test[1],
        baseline_metric=task.baseline_metric(),
        baseline_solved=bool(
            task.solved(task.baseline_loss(spec.task.seq_len), task.baseline_metric(), spec.task)
        ),
        max_grad_norm=st.max_norm,
        wall_seconds=st.elapsed / len(members),
    )
    runs["selected"] = selected_lr(runs, task, tspec)
    curves = info.merge(pd.DataFrame(st.rows), on="model")  # step 0 is logged: never empty
    curves = curves.sort_values(["model", "step"], kind="stable")
    profiles = info.merge(table_of(st.profile_rows, PROFILE_ROW), on="model")  # none: all diverged
    profiles = profiles.sort_values(["model", "step"], kind="stable").reset_index(drop=True)
    meta = _meta(spec, spec.train.seeds, cells.get(spec.model.cell))
    return TrialResult(runs, curves.reset_index(drop=True), profiles, meta)


def selected_lr(runs: pd.DataFrame, task: Task, tspec) -> pd.Series:
    """Per clip setting, True for the runs of the lr with the most seeds solved on the
    validation set, ties broken by the lowest median validation loss, then by list order."""
    solved = task.solved(runs["val_loss"].to_numpy(), runs["val_metric"].to_numpy(), tspec)
    df = runs.assign(val_solved=solved, val_loss=runs["val_loss"].fillna(np.inf))
    out = pd.Series(False, index=runs.index)
    for _, group in df.groupby(["clip", "clip_threshold"], sort=False):
        score = group.groupby("lr", sort=False).agg(
            n=("val_solved", "sum"), loss=("val_loss", "median")
        )
        best = score.sort_values(["n", "loss"], ascending=[False, True], kind="stable").index[0]
        out[group.index[group["lr"] == best]] = True
    return out


def skip_trial(spec: TrialSpec, failed_at: int, shorter: pd.DataFrame) -> TrialResult:
    """The rows of a trial the horizon ladder does not train (every seed failed at T = failed_at):
    one per model, status `skipped`, no numbers; its selected lr is that of the shorter trial."""
    task = tasks.get(spec.task)
    info = _member_columns(spec, members(spec))
    chosen = shorter[shorter["selected"]][["lr", "clip", "clip_threshold"]].drop_duplicates()
    selected = info.merge(chosen.assign(selected=True), how="left", on=list(chosen.columns))
    nan, na = np.full(len(info), np.nan), pd.array([None] * len(info), dtype="Int64")
    runs = info.assign(
        status="skipped",
        gradient_path="none",
        skipped_after=failed_at,
        diverged_step=na,
        solved_step=na,
        sequences_to_solve=na,
        steps_trained=0,
        val_loss=nan,
        val_metric=nan,
        final_loss=nan,
        baseline_loss=task.baseline_loss(spec.task.seq_len),
        final_metric=nan,
        baseline_metric=task.baseline_metric(),
        baseline_solved=bool(
            task.solved(task.baseline_loss(spec.task.seq_len), task.baseline_metric(), spec.task)
        ),
        max_grad_norm=nan,
        wall_seconds=0.0,
        selected=selected["selected"].fillna(False).astype(bool).to_numpy(),
    )
    meta = _meta(spec, spec.train.seeds, cells.get(spec.model.cell))
    return TrialResult(runs, pd.DataFrame(), pd.DataFrame(), meta)


def probe_trial(spec: ProbeSpec) -> TrialResult:
    """Gradient-through-time profiles at initialisation, one model per seed (no training)."""
    device = runtime.setup(spec.runtime.threads, spec.runtime.device)
    task = tasks.get(spec.task)
    task.check(spec.task.seq_len)
    seeds = list(spec.seeds)  # float64 weights: the probe runs in float64 throughout
    length = task.length(spec.task.seq_len)
    model = Ensemble(spec.model, task.input_size, task.output_size, seeds, torch.float64, length)
    model = model.to(device)
    rngs = [np.random.default_rng([seed, PROBE_STREAM]) for seed in spec.seeds]
    x, y = sample_batch(task, rngs, spec.batch_size, spec.task.seq_len, device, torch.float64)
    prof = gradient_profile(model, task, x, y)
    base = dict(model_columns(spec), gradient_path=probe_path(model))
    info = pd.DataFrame([dict(model=e, **base, seed=s) for e, s in enumerate(spec.seeds)])
    rows = [r for e in range(len(spec.seeds)) for r in profile_rows(prof, e, e, step=0)]
    profiles = info.merge(pd.DataFrame(rows), on="model")
    factor = pd.DataFrame(
        {"model": range(len(spec.seeds)), "log10_bound_factor": prof.log10_bound_factor}
    )
    return TrialResult(
        runs=info.merge(factor, on="model"), curves=pd.DataFrame(), profiles=profiles,
        meta=_meta(spec, spec.seeds, model.cell),
    )  # fmt: skip
