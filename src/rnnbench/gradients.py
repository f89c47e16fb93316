"""Gradient-through-time probes: log10 ||dE_T/dh_k|| for every step k, exact at any magnitude.

The state measured is the model's `probe_state` (h, the state read out, by default; for a cell
with several states any of them, by name, e.g. the LSTM's c): dE_T/ds_k is the gradient of the
state s_k as an input of step k+1 (the other states held fixed), so the LSTM's c is followed
through c_{k+1} only, and is 0 at k = T, where only h is read out.

BPTT multiplies the gradient by one Jacobian per step, prod_j W^T diag(f'(a_j)), so its norm moves
by orders of magnitude over a few hundred steps; in plain float32 it underflows to 0 (or overflows
to inf). The probe renormalises the backward recursion whenever a model's gradient leaves
[1e-100, 1e100] (float64; [1e-10, 1e10] in float32), accumulating the scale as a log, so 1e-300
or 1e+300 norms are reported as exactly as norms near 1. Per step it keeps only the batch mean
and the per-example norms; logs, norms of the mean and medians are taken for all steps at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import kernels
from .cells import Cell
from .models import Ensemble
from .tasks import Task
from .toolkit import Workspace


@dataclass
class Profile:
    """Per model and step k = 0..L (k = 0 is the initial state); distance = L - k."""

    log10_grad_norm: np.ndarray  # (E, L+1) ||batch-mean of dE_T/dh_k||
    log10_grad_norm_median: np.ndarray  # (E, L+1) median over examples of ||dE_T/dh_k||
    log10_bound: np.ndarray  # (E, L+1) log10 mean_b ||dE_T/dh_T|| + d log10(gamma sigma_max)
    log10_bound_factor: np.ndarray  # (E,) log10(gamma sigma_max(W)); NaN for gated cells

    def distances(self) -> np.ndarray:
        return np.arange(self.log10_grad_norm.shape[1])[::-1]


def gradient_profile(
    model: Ensemble,
    task: Task,
    x: torch.Tensor,
    y: torch.Tensor,
    workspace: Workspace | None = None,
    dtype: torch.dtype = torch.float64,
) -> Profile:
    """Profile of E_T, the loss at the last step, for x (L, E, B, D) and matching targets y.

    dtype: float64 (probes at initialisation), or float32 (training-time probes, as training
    runs): half the cost, renormalised within [1e-10, 1e10], log10 norms within ~1e-5 of float64's.
    workspace: forward buffers kept between calls of the same shape (a fresh buffer is
    page-faulted in as the forward first writes it, which costs as much as the arithmetic).
    """
    every = torch.arange(model.n_models, device=model.U.device)
    model = model.take(every).to(dtype).requires_grad_(False)  # copies of the weights only
    x = x.to(model.U.device, dtype)
    y = y.to(model.U.device)
    y = y.to(dtype) if task.regression else y
    ws = workspace or Workspace()
    with torch.no_grad():
        cache = (model.cell.forward or _reference_forward)(model, x, ws)  # every state, kept
    last = cache["h"][:, -1].clone().requires_grad_(True)  # (E, B, H)
    loss = task.last_step_loss(model.readout(last), y)  # (E, B)
    (dh_last,) = torch.autograd.grad(loss.sum(), [last])

    steps, limit = x.shape[0], 1e100 if dtype == torch.float64 else 1e10
    with torch.no_grad():
        norms, sums, log_scale = _probe(model, cache, dh_last, ws, limit)
    means = sums.div_(dh_last.shape[1])  # (E, L+1, H)
    mean_norm = log_scale + torch.log10(torch.linalg.vector_norm(means, dim=-1)).double()
    per_example = torch.log10(norms).double() + log_scale[..., None]  # (E, L+1, B)
    median_norm = per_example.median(2).values
    top = per_example[:, -1].amax(1)  # log10 mean_b 10^v at k = L, computed without overflow
    start_mean = top + torch.log10((10 ** (per_example[:, -1] - top[:, None])).mean(1))

    factor = torch.log10(model.bound_factor())  # (E,)
    distance = torch.arange(steps, -1, -1, dtype=torch.float64, device=x.device)
    bound = start_mean[:, None] + distance[None] * factor[:, None]
    return Profile(
        log10_grad_norm=mean_norm.cpu().numpy(),
        log10_grad_norm_median=median_norm.cpu().numpy(),
        log10_bound=bound.cpu().numpy(),
        log10_bound_factor=factor.cpu().numpy(),
    )


def _probe(model: Ensemble, cache, dh_last: torch.Tensor, ws: Workspace, limit: float):
    """The backward from dh_last (E, B, H) with every state's statistics -> per-example norms
    (E, L+1, B), batch sums (E, L+1, H) and log10 of what they were divided by (E, L+1),
    renormalised where a model's gradient leaves [1/limit, limit] (`_renormalise`).

    Compiled where `kernels` builds and the cell has a compiled probe (the same steps, each
    state's statistics in one pass; h only); else the cell's Python backward, or the backward
    through its reference step, with a callback per state.
    """
    n_models, steps = model.n_models, cache["h"].shape[1] - 1  # h (E, L+1, B, H)
    which = model.cell.state_names.index(model.spec.probe_state)  # the measured state
    if not which and model.cell.forward and (ops := kernels.loops(dh_last.device)):
        shape = (n_models, steps + 1)
        norms = dh_last.new_empty(shape + dh_last.shape[1:2])
        sums = dh_last.new_empty(shape + dh_last.shape[2:])
        log_scale = torch.zeros(shape, dtype=torch.float64, device=dh_last.device)
        stats = (norms, sums, log_scale, limit)
        if model.cell.compiled_probe(ops, model, cache, dh_last.contiguous(), ws, stats):
            return norms, sums, log_scale

    norm_at = [None] * (steps + 1)  # per step k: per-example norms (E, B)
    sum_at = [None] * (steps + 1)  # and the batch sum (E, H); stacked once at the end
    scales = [torch.zeros(n_models, dtype=torch.float64, device=dh_last.device)] * (steps + 1)

    def probe(k: int, grads: tuple[torch.Tensor, ...]) -> None:
        """State k's gradients (h first): the measured one's statistics, every one rescaled when
        out of range."""
        norm_at[k] = torch.linalg.vector_norm(grads[which], dim=-1)  # (E, B), no out=: no fill
        scale = scales[min(k + 1, steps)]  # (E,) log10 of what it was divided by so far
        scales[k] = _renormalise(grads, which, norm_at[k], scale, limit)
        sum_at[k] = grads[which].sum(1)

    (model.cell.backward or _reference_backward)(model, cache, dh_last, ws, probe)
    return torch.stack(norm_at, 1), torch.stack(sum_at, 1), torch.stack(scales, 1)


def probe_path(model: Ensemble) -> str:
    """Which code computes this model's probe: 'compiled' (the cell's compiled probe), 'python'
    (its hand-written backward's Python loop) or 'autograd' (its reference step)."""
    if model.cell.forward is None:
        return "autograd"
    has_compiled = type(model.cell).compiled_probe is not Cell.compiled_probe
    of_h = model.spec.probe_state == model.cell.state_names[0]  # a compiled probe measures h
    return "compiled" if has_compiled and of_h and kernels.loops(model.U.device) else "python"


def _reference_forward(model: Ensemble, x: torch.Tensor, ws=None) -> dict:
    """Every state of the cell's reference step, for a cell without a hand-written forward:
    "h" (E, L+1, B, H), "states" (L+1 state tuples), "xp" (L, E, B, G*H) and the pass's
    "context" (the cell's `prepare`, computed once)."""
    xp, context = model.input_projection(x), model.context()
    states = [model.initial_state(x.shape[2])]
    for xp_t in xp.unbind(0):
        states.append(model.step(states[-1], xp_t, context))
    h = torch.stack([s[0] for s in states], 1)
    return {"h": h, "states": states, "xp": xp, "context": context}


def _reference_backward(model: Ensemble, cache, dh_last: torch.Tensor, ws, probe) -> None:
    """The probe's backward through the reference step: per step k = L..1 one vector-Jacobian
    product by autograd of that step alone, so that `probe` can rescale every state's gradient
    (a whole-sequence autograd backward would under- or overflow)."""
    states, xp, context = cache["states"], cache["xp"].unbind(0), cache["context"]
    grads = (dh_last.clone(), *(torch.zeros_like(s) for s in states[-1][1:]))
    for k in range(len(xp), 0, -1):
        probe(k, grads)
        prev = tuple(s.detach().requires_grad_(True) for s in states[k - 1])
        with torch.enable_grad():
            out = model.step(prev, xp[k - 1], context)
            back = torch.autograd.grad(out, prev, grads, allow_unused=True)
        grads = tuple(
            torch.zeros_like(p) if g is None else g for g, p in zip(back, prev, strict=True)
        )
    probe(0, grads)


def _renormalise(grads: tuple[torch.Tensor, ...], which: int, norms: torch.Tensor, log_scale,
                 limit: float):  # fmt: skip
    """Rescale, in place, the models' gradients (and norms (E, B), those of grads[which]'s
    examples) when one model's size leaves [1/limit, limit]; -> the log scale (E,) with log10 of
    the divisor added.

    The size of a model's gradient is its largest per-example norm over every state; each model
    is divided by its own size. All models are rescaled together, so that they stay in step: at
    PyTorch's default init (float32, T = 500) 16 models then need 12 rescales, not 130. A
    gradient that is 0 or non-finite stays as it is (and never stops another model's rescaling).
    """
    peak = norms.amax(1)  # (E,)
    for g in grads[:which] + grads[which + 1 :]:
        peak = torch.maximum(peak, torch.linalg.vector_norm(g, dim=-1).amax(1))
    low, high = (v.item() for v in torch.aminmax(peak))
    if 1 / limit <= low and high <= limit:  # the common case: every model in range (not NaN)
        return log_scale
    ok = torch.isfinite(peak) & (peak > 0)
    if not bool((ok & ((peak > limit) | (peak < 1 / limit))).any()):  # zero or non-finite only
        return log_scale
    peak = torch.where(ok, peak, torch.ones_like(peak))
    for g in (*grads, norms):
        g.div_(peak.view((-1,) + (1,) * (g.dim() - 1)))
    return log_scale + torch.log10(peak.double())
