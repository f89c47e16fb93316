"""Gradient-through-time probes: log10 ||dE_T/dh_k|| for every step k, exact at any magnitude.

BPTT multiplies the gradient by one Jacobian per step, prod_j W^T diag(f'(a_j)), so its norm moves
by orders of magnitude over a few hundred steps; in float32 it underflows to 0 (or overflows to
inf). The probe runs in float64 and renormalises the backward recursion every step, accumulating
the scale as a log, so 1e-300 or 1e+300 norms are reported as exactly as norms near 1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from . import bptt
from .models import Ensemble
from .tasks import Task


@dataclass
class Profile:
    """Per model and step k = 0..L (k = 0 is the initial state); distance = L - k."""

    log10_grad_norm: np.ndarray  # (E, L+1) ||batch-mean of dE_T/dh_k||
    log10_grad_norm_median: np.ndarray  # (E, L+1) median over examples of ||dE_T/dh_k||
    log10_bound: np.ndarray  # (E, L+1) log10 mean_b ||dE_T/dh_T|| + d log10(gamma sigma_max)
    log10_bound_factor: np.ndarray  # (E,) log10(gamma sigma_max(W)); NaN for gated cells

    def distances(self) -> np.ndarray:
        return np.arange(self.log10_grad_norm.shape[1])[::-1]


def gradient_profile(model: Ensemble, task: Task, x: torch.Tensor, y: torch.Tensor) -> Profile:
    """Profile of E_T, the loss at the last step, for x (L, E, B, D) and matching targets y."""
    model = copy.deepcopy(model).double().requires_grad_(False)
    x = x.to(model.W.device, torch.float64)
    y = y.to(model.W.device)
    y = y.double() if task.regression else y
    last, vjp = _forward(model, x)

    last = tuple(s.clone().requires_grad_(True) for s in last)
    loss = task.last_step_loss(model.readout(last[0]), y)  # (E, B)
    grad = torch.autograd.grad(loss.sum(), last, allow_unused=True)
    grad = tuple(torch.zeros_like(s) if g is None else g for s, g in zip(last, grad, strict=True))

    n_models, steps = model.n_models, x.shape[0]
    log_scale = torch.zeros(n_models, dtype=torch.float64, device=x.device)  # (E,)
    mean_norm = torch.empty(n_models, steps + 1, dtype=torch.float64, device=x.device)
    median_norm = torch.empty_like(mean_norm)
    start_mean = None
    for k in range(steps, -1, -1):
        grad, log_scale = _renormalise(grad, log_scale)
        gh = grad[0]  # (E, B, H): the h-part of dE_T/d state_k, divided by 10^log_scale
        mean_norm[:, k] = log_scale + torch.log10(gh.mean(1).norm(dim=-1))
        per_example = torch.log10(gh.norm(dim=-1)) + log_scale[:, None]  # (E, B)
        median_norm[:, k] = per_example.median(1).values
        if k == steps:
            top = per_example.amax(1)  # log10 mean_b 10^v, computed without overflow
            start_mean = top + torch.log10((10 ** (per_example - top[:, None])).mean(1))
        if k > 0:
            with torch.no_grad():
                grad = vjp(k, grad)

    factor = torch.log10(model.bound_factor())  # (E,)
    distance = torch.arange(steps, -1, -1, dtype=torch.float64, device=x.device)
    bound = start_mean[:, None] + distance[None] * factor[:, None]
    return Profile(
        log10_grad_norm=mean_norm.cpu().numpy(),
        log10_grad_norm_median=median_norm.cpu().numpy(),
        log10_bound=bound.cpu().numpy(),
        log10_bound_factor=factor.cpu().numpy(),
    )


def _forward(model: Ensemble, x: torch.Tensor):
    """Run x (L, E, B, D) forward, keeping every state; -> (last state, vjp(k, grad_k))."""
    with torch.no_grad():
        if model.spec.cell in bptt.FORWARD:  # hand-written VJP on the stored states: one bmm
            cache = bptt.FORWARD[model.spec.cell](model, x, bptt.Workspace())
            last = tuple(cache[k][:, -1] for k in ("h", "c") if k in cache)
            return last, lambda k, grad: bptt.step_vjp(model, cache, k, grad)
        xp = model.input_projection(x).unbind(0)  # L x (E, B, G*H)
        states = [model.initial_state(x.shape[2])]
        for xp_t in xp:
            states.append(model.step(states[-1], xp_t))
    return states[-1], lambda k, grad: _vjp_step(model, states[k - 1], xp[k - 1], grad)


def _renormalise(grad: tuple[torch.Tensor, ...], log_scale: torch.Tensor):
    """Divide each model's gradient by its largest entry and add log10 of it to its log scale."""
    peak = torch.stack([g.abs().flatten(1).amax(1) for g in grad]).amax(0)  # (E,)
    dead = (peak == 0) | ~torch.isfinite(peak)
    # A gradient that is exactly 0 stays 0 (log10 -> -inf); a non-finite one stays non-finite.
    log_scale = log_scale + torch.log10(peak)
    peak = torch.where(dead, torch.ones_like(peak), peak)
    return tuple(g / peak[:, None, None] for g in grad), log_scale


def _vjp_step(model: Ensemble, state_prev, xp_t, grad_next):
    """grad wrt state_{k-1} of <grad_next, state_k>: one step of the BPTT recursion."""
    prev = tuple(s.clone().requires_grad_(True) for s in state_prev)
    with torch.enable_grad():
        nxt = model.step(prev, xp_t)
        grads = torch.autograd.grad(nxt, prev, grad_outputs=grad_next, allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(prev, grads, strict=True))
