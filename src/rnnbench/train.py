"""Training a grid cell: every seed x clip setting as one batched ensemble in one process.

Model e has its own data stream (seeded by its seed), its own clipping and its own divergence
state: a model whose loss or gradient becomes non-finite is frozen and recorded as diverged at that
step, while the others go on. Results per model equal training that model alone with its seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import bptt, runtime
from .gradients import gradient_profile
from .models import Ensemble
from .optim import CLIP_MODES, EnsembleOptimizer, clip
from .resources import EVAL_CHUNK, check_memory
from .spec import CellSpec, ProbeSpec, to_dict
from .tables import NOT_RECORDED, CorruptFileError, atomic_write, spec_columns, versions
from .tasks import TASKS, Task

DATA_STREAM, PROBE_STREAM = 1, 2  # second word of each model's numpy seed: independent streams


@dataclass
class CellResult:
    runs: pd.DataFrame  # one row per model
    curves: pd.DataFrame  # one row per model x logged step
    profiles: pd.DataFrame  # one row per model x profiled step x distance
    meta: dict  # spec, versions


def train_cell(
    spec: CellSpec,
    progress: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> CellResult:
    """Train all seeds and clip settings of one grid cell; see the module docstring.

    With `checkpoint` and `runtime.checkpoint_every > 0`, the full training state (weights,
    optimizer, data streams, logs) is saved there every that many steps; a later call with the
    same spec resumes from it and ends with exactly the numbers of an uninterrupted run. The file
    is deleted when training finishes.
    """
    device = runtime.setup(spec.runtime.threads, spec.runtime.device)
    dtype = getattr(torch, spec.runtime.dtype)
    task = TASKS[spec.task.name]
    task.check(spec.task.seq_len)
    check_memory(spec)
    tr = spec.train
    members = [(c, seed) for c in tr.clipping for seed in tr.seeds]  # model e = members[e]
    seeds = [seed for _, seed in members]
    n = len(members)
    model = Ensemble(spec.model, task.input_size, task.output_size, seeds, dtype).to(device)
    params = list(model.parameters())
    optimizer = EnsembleOptimizer(params, tr)
    modes = torch.tensor([CLIP_MODES[c.mode] for c, _ in members], device=device)
    thresholds = torch.tensor([c.threshold for c, _ in members], dtype=torch.float64, device=device)
    x_eval, y_eval = task.eval_set(spec.task.seq_len, spec.task.eval_size)
    workspace = bptt.Workspace()  # training buffers, allocated once per job
    probe_workspace = bptt.Workspace()  # and those of the gradient-through-time probes
    st = _State(
        rngs=[np.random.default_rng([seed, DATA_STREAM]) for seed in seeds],
        active=torch.ones(n, dtype=torch.bool, device=device),
        diverged_step=np.full(n, -1),
        max_norm=np.zeros(n),
    )
    if checkpoint is not None and Path(checkpoint).exists():
        st = _resume(Path(checkpoint), spec, model, optimizer, device) or st
        if progress:
            progress(f"resumed at step {st.step} from {checkpoint}" if st.step else
                     f"ignored {checkpoint}: saved for a different spec")  # fmt: skip

    clock = time.perf_counter() - st.elapsed
    for step in range(st.step, tr.steps + 1):
        x, y = _batch(task, st.rngs, tr.batch_size, spec.task.seq_len, device, dtype)
        loss, grads = bptt.loss_and_grads(model, task, x, y, st.active, workspace)
        norm, clipped = clip(grads, modes, thresholds)
        loss_np, norm_np = loss.detach().double().cpu().numpy(), norm.cpu().numpy()
        was_active = st.active.cpu().numpy()
        newly = was_active & ~(np.isfinite(loss_np) & np.isfinite(norm_np))
        st.diverged_step[newly] = step
        seen = np.fmax(st.max_norm, np.nan_to_num(norm_np, nan=np.inf))
        st.max_norm = np.where(was_active, seen, st.max_norm)
        st.active &= torch.from_numpy(~newly).to(device)

        scheduled = step % tr.log_every == 0 or step == tr.steps
        if scheduled or newly.any():
            ev_loss, ev_metric = evaluate(model, task, x_eval, y_eval, device, dtype)
            radius, sigma = (t.cpu().numpy() for t in model.spectral_stats())
            for e in np.flatnonzero(was_active if scheduled else newly):
                st.rows.append(dict(
                    model=int(e), step=step, train_loss=float(loss_np[e]),
                    eval_loss=float(ev_loss[e]), eval_metric=float(ev_metric[e]),
                    grad_norm=float(norm_np[e]), clipped=bool(clipped[e]),
                    spectral_radius=float(radius[e]), sigma_max=float(sigma[e]),
                ))  # fmt: skip
        if _profile_due(step, tr.steps, tr.profile_every):
            probe = _broadcast(x_eval[:, : tr.batch_size], y_eval[..., : tr.batch_size], n, device,
                               dtype)  # fmt: skip
            prof = gradient_profile(model, task, *probe, probe_workspace, dtype)
            for e in np.flatnonzero(st.active.cpu().numpy()):
                st.profile_rows += _profile_rows(prof, e, step=step)
        if step < tr.steps:
            optimizer.step(grads, st.active)
        st.step, st.elapsed = step + 1, time.perf_counter() - clock
        every = spec.runtime.checkpoint_every
        if checkpoint is not None and every and st.step % every == 0 and step < tr.steps:
            _save(Path(checkpoint), spec, model, optimizer, st)
        if progress and (step % max(1, tr.steps // 20) == 0 or step == tr.steps):
            left = st.elapsed / st.step * (tr.steps - step)
            progress(f"step {step}/{tr.steps} mean_loss={np.nanmean(loss_np):.4g} "
                     f"active={int(st.active.sum())}/{n} elapsed={st.elapsed:.1f}s "
                     f"left={left:.1f}s")  # fmt: skip

    final_loss, final_metric = evaluate(model, task, x_eval, y_eval, device, dtype)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return _tables(spec, task, members, st, final_loss, final_metric)


@dataclass
class _State:
    """Everything a resumed run needs besides the weights and the optimizer."""

    rngs: list[np.random.Generator]  # one data stream per model
    active: torch.Tensor  # (E,) bool: not diverged
    diverged_step: np.ndarray  # (E,) -1 while active
    max_norm: np.ndarray  # (E,) largest pre-clip gradient norm so far
    rows: list[dict] = field(default_factory=list)
    profile_rows: list[dict] = field(default_factory=list)
    step: int = 0  # next step to run
    elapsed: float = 0.0  # seconds spent so far


def _save(path: Path, spec, model, optimizer, st: _State) -> None:
    blob = dict(
        spec=_identity(spec), step=st.step, elapsed=st.elapsed, model=model.state_dict(),
        opt_t=optimizer.t, opt_state=[list(s) for s in optimizer.state],
        rngs=[r.bit_generator.state for r in st.rngs], active=st.active.cpu(),
        diverged_step=torch.from_numpy(st.diverged_step), max_norm=torch.from_numpy(st.max_norm),
        rows=st.rows, profile_rows=st.profile_rows,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(blob, tmp))


def _identity(spec: CellSpec) -> dict:
    """The spec minus the settings that never change a number (a resume may change those)."""
    out = to_dict(spec)
    out["runtime"] = {k: v for k, v in out["runtime"].items() if k not in NOT_RECORDED}
    return out


def _resume(path: Path, spec, model, optimizer, device) -> _State | None:
    try:
        blob = torch.load(path, weights_only=True, map_location=device)
        if blob["spec"] != _identity(spec):
            return None  # left by an earlier version of this cell: start over
        model.load_state_dict(blob["model"])
        optimizer.t = blob["opt_t"]
        for mine, saved in zip(optimizer.state, blob["opt_state"], strict=True):
            for a, b in zip(mine, saved, strict=True):
                a.copy_(b)
        rngs = []
        for state in blob["rngs"]:
            rng = np.random.default_rng()
            rng.bit_generator.state = state
            rngs.append(rng)
        return _State(
            rngs=rngs, active=blob["active"].to(device),
            diverged_step=blob["diverged_step"].numpy(), max_norm=blob["max_norm"].numpy(),
            rows=blob["rows"], profile_rows=blob["profile_rows"], step=blob["step"],
            elapsed=blob["elapsed"],
        )  # fmt: skip
    except Exception as err:  # truncated or garbled file: any unpickling error
        raise CorruptFileError(
            f"{path}: unreadable checkpoint ({type(err).__name__}); delete it to restart the job"
        ) from None


def evaluate(model: Ensemble, task: Task, x: np.ndarray, y: np.ndarray, device, dtype):
    """Held-out loss and metric per model, (E,) each, on the shared set x (L, N, D)."""
    n, losses, metrics = model.n_models, [], []
    with torch.no_grad():
        for lo in range(0, x.shape[1], EVAL_CHUNK):
            xc, yc = _broadcast(
                x[:, lo : lo + EVAL_CHUNK], y[..., lo : lo + EVAL_CHUNK], n, device, dtype
            )
            out = model(xc, task.every_step)
            size = xc.shape[2]
            losses.append(task.example_loss(out, yc).double().mean(1) * size)
            metrics.append(task.metric(out, yc).double() * size)
    total = x.shape[1]
    return (torch.stack(losses).sum(0) / total).cpu().numpy(), (
        torch.stack(metrics).sum(0) / total
    ).cpu().numpy()


def _batch(task: Task, rngs, batch: int, seq_len: int, device, dtype):
    """One training batch per model from its own stream: x (L, E, B, D), y (E, B) or (L, E, B)."""
    xs, ys = zip(*(task.sample(batch, seq_len, rng) for rng in rngs), strict=True)
    x = torch.from_numpy(np.stack(xs, 1)).to(device, dtype)
    y = torch.from_numpy(np.stack(ys, -2))
    return x, (y.to(device, dtype) if task.regression else y.to(device))


def _broadcast(x: np.ndarray, y: np.ndarray, n: int, device, dtype):
    """The same examples for every model: x (L, B, D) -> (L, E, B, D); y (.., B) -> (.., E, B)."""
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device, dtype)
    yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)
    yt = yt.to(dtype) if yt.is_floating_point() else yt
    return xt.unsqueeze(1).expand(-1, n, -1, -1), yt.unsqueeze(-2).expand(*yt.shape[:-1], n, -1)


def _profile_due(step: int, steps: int, every: int) -> bool:
    return step in (0, steps) or (every > 0 and step % every == 0)


def _profile_rows(prof, e: int, **extra) -> list[dict]:
    return [
        dict(
            model=int(e),
            **extra,
            distance=int(d),
            log10_grad_norm=float(g),
            log10_grad_norm_median=float(m),
            log10_bound=float(b),
        )
        for d, g, m, b in zip(
            prof.distances(),
            prof.log10_grad_norm[e],
            prof.log10_grad_norm_median[e],
            prof.log10_bound[e],
            strict=True,
        )
    ]


def _member_columns(spec, members) -> pd.DataFrame:
    """One row per model: every spec field, the seed and its clip setting."""
    base = spec_columns(spec)
    return pd.DataFrame(
        [
            dict(model=e, **base, seed=seed, clip=c.mode, clip_threshold=c.effective_threshold)
            for e, (c, seed) in enumerate(members)
        ]
    )


def _tables(spec, task, members, st: _State, final_loss, final_metric) -> CellResult:
    info = _member_columns(spec, members)
    baseline = task.baseline_loss(spec.task.seq_len)
    status = [
        "diverged"
        if st.diverged_step[e] >= 0
        else "solved"
        if task.solved(final_loss[e], final_metric[e], spec.task)
        else "unsolved"
        for e in range(len(members))
    ]
    runs = info.assign(
        status=status,
        diverged_step=pd.array([d if d >= 0 else None for d in st.diverged_step], dtype="Int64"),
        final_loss=final_loss,
        baseline_loss=baseline,
        final_metric=final_metric,
        baseline_metric=task.baseline_metric(),
        max_grad_norm=st.max_norm,
        wall_seconds=st.elapsed / len(members),
    )
    curves = info.merge(pd.DataFrame(st.rows), on="model").sort_values(
        ["model", "step"], kind="stable"
    )
    profiles = info.merge(pd.DataFrame(st.profile_rows), on="model")
    meta = dict(spec=to_dict(spec), seeds=list(spec.train.seeds), versions=versions())
    return CellResult(runs, curves.reset_index(drop=True), profiles, meta)


def probe_cell(spec: ProbeSpec) -> CellResult:
    """Gradient-through-time profiles at initialisation, one model per seed (no training)."""
    device = runtime.setup(spec.runtime.threads, spec.runtime.device)
    task = TASKS[spec.task.name]
    task.check(spec.task.seq_len)
    seeds = list(spec.seeds)  # float64 weights: the probe runs in float64 throughout
    model = Ensemble(spec.model, task.input_size, task.output_size, seeds, torch.float64).to(device)
    rngs = [np.random.default_rng([seed, PROBE_STREAM]) for seed in spec.seeds]
    x, y = _batch(task, rngs, spec.batch_size, spec.task.seq_len, device, torch.float64)
    prof = gradient_profile(model, task, x, y)
    info = pd.DataFrame(
        [dict(model=e, **spec_columns(spec), seed=s) for e, s in enumerate(spec.seeds)]
    )
    rows = [r for e in range(len(spec.seeds)) for r in _profile_rows(prof, e, step=0)]
    profiles = info.merge(pd.DataFrame(rows), on="model")
    factor = pd.DataFrame(
        {"model": range(len(spec.seeds)), "log10_bound_factor": prof.log10_bound_factor}
    )
    meta = dict(spec=to_dict(spec), seeds=list(spec.seeds), versions=versions())
    return CellResult(
        runs=info.merge(factor, on="model"), curves=pd.DataFrame(), profiles=profiles, meta=meta
    )
