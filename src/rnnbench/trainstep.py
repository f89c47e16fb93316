"""One training step of an ensemble, as the trainer (`train`) and the benchmark (`bench`) both
run it: every model's loss and gradients (`bptt`), clipped per model (`optim.clip`), then the
optimizer step and the cell's projection (`Cell.constrain`). It comes in two halves so that the
trainer can check models (diverged, solved) and freeze them in between.
"""

from __future__ import annotations

import torch

from . import bptt
from .models import Ensemble
from .optim import EnsembleOptimizer, clip
from .spec import TrainSpec
from .tasks import Task
from .toolkit import Workspace


def optimizer(model: Ensemble, train: TrainSpec, lr: torch.Tensor | None = None):
    """The optimizer of every model, each parameter in its group (the cell's `lr_scales`); lr (E,)
    each model's learning rate (default: train.lr[0])."""
    scales = model.cell.lr_scales(model)
    params = dict(model.named_parameters())
    return EnsembleOptimizer(
        list(params.values()), train, lr, [scales.get(name, 1.0) for name in params]
    )


def gradients(
    model: Ensemble,
    task: Task,
    x: torch.Tensor,
    y: torch.Tensor,
    modes: torch.Tensor,
    thresholds: torch.Tensor,
    workspace: Workspace,
    omega: float = 0.0,
    autograd: bool = False,
):
    """x (L, E, B, D), y as `Task.example_loss` wants, per model its clip mode and threshold (E,)
    -> (loss (E,), clipped gradients aligned with model.parameters(), norm (E,) before clipping,
    clipped (E,) bool). autograd: through autograd (the reference) instead of the cell's BPTT."""
    every = torch.ones(model.n_models, dtype=torch.bool, device=x.device)
    if autograd:
        loss, grads = bptt.autograd_loss_and_grads(model, task, x, y, every)
    else:
        loss, grads = bptt.loss_and_grads(model, task, x, y, every, workspace, omega=omega)
    norm, clipped = clip(grads, modes, thresholds)
    return loss, grads, norm, clipped


def update(model: Ensemble, optimizer: EnsembleOptimizer, grads: list[torch.Tensor]) -> None:
    """Every model's optimizer step, then the cell's projection (if it has one)."""
    optimizer.step(grads, torch.ones(model.n_models, dtype=torch.bool, device=grads[0].device))
    with torch.no_grad():
        model.cell.constrain(model)
