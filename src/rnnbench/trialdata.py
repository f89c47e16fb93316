"""What a trial reads and writes besides the model: its batches (one stream per model, or one set
shared by every model), the held-out evaluation, and the rows of its profiles and logs.

Shapes: L steps, E models, B examples, D inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .models import Ensemble
from .resources import EVAL_CHUNK
from .tasks import Task


def evaluate(model: Ensemble, task: Task, x: np.ndarray, y: np.ndarray, device, dtype):
    """Held-out loss and metric per model, (E,) each, on the shared set x (L, N, D)."""
    n, losses, metrics = model.n_models, [], []
    with torch.no_grad():
        for lo in range(0, x.shape[1], EVAL_CHUNK):
            xc, yc = broadcast(
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


def sample_batch(task: Task, rngs, batch: int, seq_len: int, device, dtype):
    """One training batch per model from its own stream: x (L, E, B, D), y (E, B) or (L, E, B)."""
    xs, ys = zip(*(task.sample(batch, seq_len, rng) for rng in rngs), strict=True)
    x = torch.from_numpy(np.stack(xs, 1)).to(device, dtype)
    y = torch.from_numpy(np.stack(ys, -2))
    return x, (y.to(device, dtype) if task.regression else y.to(device))


def broadcast(x: np.ndarray, y: np.ndarray, n: int, device, dtype):
    """The same examples for every model: x (L, B, D) -> (L, E, B, D); y (.., B) -> (.., E, B)."""
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device, dtype)
    yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)
    yt = yt.to(dtype) if yt.is_floating_point() else yt
    return xt.unsqueeze(1).expand(-1, n, -1, -1), yt.unsqueeze(-2).expand(*yt.shape[:-1], n, -1)


def profile_due(step: int, steps: int, every: int) -> bool:
    return step in (0, steps) or (every > 0 and step % every == 0)


def profile_rows(prof, i: int, model: int, **extra) -> list[dict]:
    """Rows of model i of the profile, recorded as model `model` (its index in the trial)."""
    return [
        dict(
            model=model,
            **extra,
            distance=int(d),
            log10_grad_norm=float(g),
            log10_grad_norm_median=float(m),
            log10_bound=float(b),
        )
        for d, g, m, b in zip(
            prof.distances(),
            prof.log10_grad_norm[i],
            prof.log10_grad_norm_median[i],
            prof.log10_bound[i],
            strict=True,
        )
    ]


PROFILE_ROW = {"model": int, "step": int, "distance": int, "log10_grad_norm": float,
               "log10_grad_norm_median": float, "log10_bound": float}  # fmt: skip


def table_of(rows: list[dict], columns: dict[str, type]) -> pd.DataFrame:
    """Logged rows as a table; no rows (every model diverged at step 0): an empty table with
    the columns."""
    if rows:
        return pd.DataFrame(rows)
    return pd.DataFrame({name: pd.Series([], dtype=t) for name, t in columns.items()})
