"""The training loss and its gradients for an ensemble: the cell's hand-written BPTT, or autograd.

`loss_and_grads` returns what `autograd_loss_and_grads` returns (per model the batch mean of
`Task.example_loss`, and the gradients of the sum of the active models' losses), computed by the
cell's `forward` and `backward` (`rnnbench.cells`, built from `rnnbench.toolkit`) without an
autograd graph over the time loop: the forward under no_grad into buffers, the read-out and the
loss through autograd on the detached hidden states, then the cell's backward recursion. The
cells' loops run compiled where `kernels` builds (one call per pass). Everything is batched over
the model axis only, so a model whose states overflow to inf/NaN never touches another model's
numbers; models that are not active get exactly zero gradients. A cell without a hand-written
backward (`Cell.backward` None) is differentiated by autograd through its reference step.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gates, O outputs.
"""

from __future__ import annotations

import torch

from . import kernels
from .models import Ensemble
from .tasks import Task
from .toolkit import Workspace


def loss_and_grads(
    model: Ensemble,
    task: Task,
    x: torch.Tensor,
    y: torch.Tensor,
    active: torch.Tensor,
    workspace: Workspace | None = None,
    omega: float = 0.0,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x (L, E, B, D), y as `Task.example_loss` wants, active (E,) bool ->
    (loss (E,) detached, grads aligned with list(model.parameters())).

    A cell without a hand-written backward (`Cell.backward`) goes through autograd instead.
    omega > 0 adds omega x the gradient of the cell's regulariser Omega (`Cell.omega`, Pascanu
    et al. 2013), computed from every state and its loss gradient (a second backward pass)."""
    cell = model.cell
    if cell.backward is None:
        return autograd_loss_and_grads(model, task, x, y, active)
    ws = workspace or Workspace()
    with torch.no_grad():
        cache = cell.forward(model, x, ws)
        h = cache["h"]  # (E, L+1, B, H), h[:, 0] the initial state
    loss, dh_out, d_v, d_c = _readout_grads(model, task, h, y, active)
    with torch.no_grad():
        grads = {**cell.backward(model, cache, dh_out, ws), "V": d_v, "c": d_c}
        if omega:
            state_grads = _state_grads(model, cache, dh_out, ws)  # (E, L+1, B, H)
            for name, g in cell.omega(model, h, state_grads).items():
                grads[name] = grads[name] + omega * g
        return loss, [_masked(grads[name], active) for name, _ in model.named_parameters()]


def _state_grads(model: Ensemble, cache, dh_out: torch.Tensor, ws: Workspace) -> torch.Tensor:
    """dLoss/dh_k for every state k = 0..L, (E, L+1, B, H): the backward again, with a probe."""
    out = torch.empty_like(cache["h"])

    def keep(k: int, grads: tuple[torch.Tensor, ...]) -> None:
        out[:, k] = grads[0]

    model.cell.backward(model, cache, dh_out, ws, keep)
    return out


def path(model: Ensemble) -> str:
    """Which code computes this model's gradients: 'compiled' (the hand-written BPTT's compiled
    loops), 'python' (its Python loops) or 'autograd' (the cell's reference step)."""
    if model.cell.backward is None:
        return "autograd"
    return "compiled" if model.cell.compiled_loops and kernels.loops(model.U.device) else "python"


def autograd_loss_and_grads(model: Ensemble, task: Task, x, y, active):
    """The reference: autograd through the whole time loop of `Ensemble.forward`."""
    params = list(model.parameters())
    with torch.enable_grad():
        loss = task.example_loss(model(x, task.every_step), y).mean(1)  # (E,)
        grads = torch.autograd.grad(torch.where(active, loss, 0).sum(), params)
    return loss.detach(), [_masked(g, active) for g in grads]


def _masked(g: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Zero the gradient of inactive models (their states may hold NaN times a zero seed)."""
    if bool(active.all()):
        return g
    return torch.where(active.view((-1,) + (1,) * (g.dim() - 1)), g, g.new_zeros(()))


def _readout_grads(model: Ensemble, task: Task, h: torch.Tensor, y, active):
    """Loss (E,) and its gradients wrt the hidden states read out, V and c, through autograd.

    h (E, L+1, B, H) -> dh_out (E, B, H) for the last step only, or (E, L, B, H) for h_1..h_L.
    """
    read = h[:, -1] if not task.every_step else h[:, 1:].transpose(0, 1)  # (E,B,H) | (L,E,B,H)
    read = read.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = task.example_loss(model.readout(read), y).mean(1)  # (E,)
        dh, d_v, d_c = torch.autograd.grad(
            torch.where(active, loss, 0).sum(), [read, model.V, model.c]
        )
    return loss.detach(), (dh.transpose(0, 1) if task.every_step else dh), d_v, d_c
