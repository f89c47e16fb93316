"""Training a grid cell: every seed x clip setting as one batched ensemble in one process.

Model e has its own data stream (seeded by its seed), its own clipping and its own divergence
state: a model whose loss or gradient becomes non-finite is frozen and recorded as diverged at that
step, while the others go on. Results per model equal training that model alone with its seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import runtime
from .gradients import gradient_profile
from .models import Ensemble
from .optim import CLIP_MODES, EnsembleOptimizer, clip
from .spec import CellSpec, ProbeSpec, to_dict
from .tables import spec_columns
from .tasks import TASKS, Task

DATA_STREAM, PROBE_STREAM = 1, 2  # second word of each model's numpy seed: independent streams
EVAL_CHUNK = 256  # held-out examples per forward pass: bounds evaluation memory


@dataclass
class CellResult:
    runs: pd.DataFrame  # one row per model
    curves: pd.DataFrame  # one row per model x logged step
    profiles: pd.DataFrame  # one row per model x profiled step x distance
    meta: dict  # spec, versions


def train_cell(spec: CellSpec, progress: Callable[[str], None] | None = None) -> CellResult:
    """Train all seeds and clip settings of one grid cell; see the module docstring."""
    device = runtime.setup(spec.runtime.threads, spec.runtime.device)
    dtype = getattr(torch, spec.runtime.dtype)
    task = TASKS[spec.task.name]
    task.check(spec.task.seq_len)
    tr = spec.train
    members = [(c, seed) for c in tr.clipping for seed in tr.seeds]  # model e = members[e]
    seeds = [seed for _, seed in members]
    model = Ensemble(spec.model, task.input_size, task.output_size, seeds, dtype).to(device)
    params = list(model.parameters())
    optimizer = EnsembleOptimizer(params, tr)
    modes = torch.tensor([CLIP_MODES[c.mode] for c, _ in members], device=device)
    thresholds = torch.tensor([c.threshold for c, _ in members], dtype=torch.float64, device=device)
    rngs = [np.random.default_rng([seed, DATA_STREAM]) for seed in seeds]
    x_eval, y_eval = task.eval_set(spec.task.seq_len, spec.task.eval_size)

    n = len(members)
    active = torch.ones(n, dtype=torch.bool, device=device)
    diverged_step = np.full(n, -1)
    max_norm = np.zeros(n)
    rows, profile_rows = [], []
    start = time.perf_counter()
    for step in range(tr.steps + 1):
        x, y = _batch(task, rngs, tr.batch_size, spec.task.seq_len, device, dtype)
        loss = task.example_loss(model(x, task.every_step), y).mean(1)  # (E,)
        grads = torch.autograd.grad(torch.where(active, loss, 0).sum(), params)
        grads = [g.clone() for g in grads]
        norm, clipped = clip(grads, modes, thresholds)
        loss_np, norm_np = loss.detach().double().cpu().numpy(), norm.cpu().numpy()
        was_active = active.cpu().numpy()
        newly = was_active & ~(np.isfinite(loss_np) & np.isfinite(norm_np))
        diverged_step[newly] = step
        max_norm = np.where(
            was_active, np.fmax(max_norm, np.nan_to_num(norm_np, nan=np.inf)), max_norm
        )
        active &= torch.from_numpy(~newly).to(device)

        if step % tr.log_every == 0 or step == tr.steps or newly.any():
            logged = was_active if (step % tr.log_every == 0 or step == tr.steps) else newly
            ev_loss, ev_metric = evaluate(model, task, x_eval, y_eval, device, dtype)
            radius, sigma = (t.cpu().numpy() for t in model.spectral_stats())
            for e in np.flatnonzero(logged):
                rows.append(
                    dict(
                        model=e,
                        step=step,
                        train_loss=loss_np[e],
                        eval_loss=ev_loss[e],
                        eval_metric=ev_metric[e],
                        grad_norm=norm_np[e],
                        clipped=bool(clipped[e]),
                        spectral_radius=radius[e],
                        sigma_max=sigma[e],
                    )
                )
        if _profile_due(step, tr.steps, tr.profile_every):
            probe_x, probe_y = x_eval[:, : tr.batch_size], y_eval[..., : tr.batch_size]
            px, py = _broadcast(probe_x, probe_y, n, device, dtype)
            prof = gradient_profile(model, task, px, py)
            for e in np.flatnonzero(active.cpu().numpy()):
                profile_rows += _profile_rows(prof, e, step=step)
        if step < tr.steps:
            optimizer.step(grads, active)
        if progress and (step % max(1, tr.steps // 20) == 0 or step == tr.steps):
            elapsed = time.perf_counter() - start
            left = elapsed / (step + 1) * (tr.steps - step)
            progress(
                f"step {step}/{tr.steps} mean_loss={np.nanmean(loss_np):.4g} "
                f"active={int(active.sum())}/{n} elapsed={elapsed:.1f}s left={left:.1f}s"
            )

    wall = time.perf_counter() - start
    final_loss, final_metric = evaluate(model, task, x_eval, y_eval, device, dtype)
    return _tables(
        spec,
        task,
        members,
        rows,
        profile_rows,
        diverged_step,
        max_norm,
        final_loss,
        final_metric,
        wall,
    )


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
            model=e,
            **extra,
            distance=int(d),
            log10_grad_norm=g,
            log10_grad_norm_median=m,
            log10_bound=b,
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


def _tables(
    spec, task, members, rows, profile_rows, diverged_step, max_norm, final_loss, final_metric, wall
) -> CellResult:
    info = _member_columns(spec, members)
    baseline = task.baseline_loss(spec.task.seq_len)
    status = [
        "diverged"
        if diverged_step[e] >= 0
        else "solved"
        if task.solved(final_loss[e], final_metric[e], spec.task)
        else "unsolved"
        for e in range(len(members))
    ]
    runs = info.assign(
        status=status,
        diverged_step=pd.array([d if d >= 0 else None for d in diverged_step], dtype="Int64"),
        final_loss=final_loss,
        baseline_loss=baseline,
        final_metric=final_metric,
        baseline_metric=task.baseline_metric(),
        max_grad_norm=max_norm,
        wall_seconds=wall / len(members),
    )
    curves = info.merge(pd.DataFrame(rows), on="model").sort_values(
        ["model", "step"], kind="stable"
    )
    profiles = info.merge(pd.DataFrame(profile_rows), on="model")
    meta = dict(spec=to_dict(spec), seeds=list(spec.train.seeds), versions=runtime.versions())
    return CellResult(runs, curves.reset_index(drop=True), profiles, meta)


def probe_cell(spec: ProbeSpec) -> CellResult:
    """Gradient-through-time profiles at initialisation, one model per seed (no training)."""
    device = runtime.setup(spec.runtime.threads, spec.runtime.device)
    task = TASKS[spec.task.name]
    task.check(spec.task.seq_len)
    model = Ensemble(spec.model, task.input_size, task.output_size, list(spec.seeds)).to(device)
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
    meta = dict(spec=to_dict(spec), seeds=list(spec.seeds), versions=runtime.versions())
    return CellResult(
        runs=info.merge(factor, on="model"), curves=pd.DataFrame(), profiles=profiles, meta=meta
    )
