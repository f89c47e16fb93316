"""Per-model gradient clipping and optimizers for ensembles (every tensor has a leading model axis).

Each model is clipped with its own mode and threshold, and only the models still active (not
diverged) are updated: a NaN in one model's gradient never reaches another model's weights.
"""

from __future__ import annotations

import math

import torch

from .spec import TrainSpec

CLIP_MODES = {"none": 0, "norm": 1, "value": 2}


def grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm over all parameters, per model, in float64: (E,)."""
    norms = [torch.linalg.vector_norm(g.flatten(1), dim=1, dtype=torch.float64) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


def clip(grads: list[torch.Tensor], modes: torch.Tensor, thresholds: torch.Tensor):
    """Clip each model's gradient in place; returns (pre-clip norm (E,), clipped (E,) bool).

    norm: g <- g * threshold / ||g|| when ||g|| > threshold (Pascanu et al. 2013);
    value: each entry clamped to [-threshold, threshold]. modes holds CLIP_MODES codes, (E,).
    Work no model needs (no norm over its threshold, no value clipping) is skipped.
    """
    norm = grad_norm(grads)
    is_norm, is_value = modes == CLIP_MODES["norm"], modes == CLIP_MODES["value"]
    clip_norm = is_norm & (norm > thresholds)
    scale = torch.where(clip_norm, thresholds / norm, torch.ones_like(norm))
    clip_value = torch.zeros_like(is_value)
    any_norm, any_value = bool(clip_norm.any()), bool(is_value.any())
    for g in grads:
        shape = (-1,) + (1,) * (g.dim() - 1)
        if any_norm:
            g.mul_(scale.to(g.dtype).view(shape))
        if any_value:
            thr = thresholds.to(g.dtype).view(shape)
            clip_value |= is_value & (g.abs() > thr).flatten(1).any(1)
            g.copy_(torch.where(is_value.view(shape), torch.clamp(g, -thr, thr), g))
    return norm, clip_norm | clip_value


class EnsembleOptimizer:
    """SGD (momentum), Adam or RMSprop with PyTorch's update rules, per-model learning rates,
    per-parameter learning-rate scales (parameter groups), masked per model."""

    def __init__(
        self,
        params: list[torch.Tensor],
        spec: TrainSpec,
        lr: torch.Tensor | None = None,
        scales: list[float] | None = None,
    ):
        """lr: (E,) each model's learning rate (default: spec.lr[0] for every model); scales:
        per parameter, the factor on its learning rate (default 1: one group)."""
        self.params, self.spec, self.t = params, spec, 0
        n, device = params[0].shape[0], params[0].device
        lr = torch.full((n,), spec.lr[0], dtype=torch.float64) if lr is None else lr
        self.lr = lr.to(device, torch.float64)  # (E,)
        self.scales = [1.0] * len(params) if scales is None else list(scales)
        self.state = [[torch.zeros_like(p) for _ in range(2)] for p in params]

    def take(self, idx: torch.Tensor, params: list[torch.Tensor]) -> EnsembleOptimizer:
        """The optimizer of models idx (E',), for their parameters taken out as `params`."""
        out = EnsembleOptimizer(params, self.spec, self.lr[idx], self.scales)
        out.t = self.t
        out.state = [[s.index_select(0, idx) for s in pair] for pair in self.state]
        return out

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        """Update the parameters of models where active (E,) is True."""
        self.t += 1
        s, t = self.spec, self.t
        every = bool(active.all())  # then no masking
        for p, g, (m, v), scale in zip(self.params, grads, self.state, self.scales, strict=True):
            shape = (-1,) + (1,) * (p.dim() - 1)
            mask = active.view(shape)
            if not every:
                g = torch.where(mask, g, torch.zeros_like(g))
            if s.optimizer == "sgd":
                m.mul_(s.momentum).add_(g)
                update = m * self._lr(1.0, p, shape, scale)
            elif s.optimizer == "adam":  # torch.optim.Adam's formula
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                denom = (v.sqrt() / math.sqrt(1 - 0.999**t)).add_(1e-8)
                update = torch.div(m, denom).mul_(self._lr(1 - 0.9**t, p, shape, scale))
            else:  # rmsprop, torch.optim.RMSprop's formula
                v.mul_(s.rmsprop_decay).addcmul_(g, g, value=1 - s.rmsprop_decay)
                update = torch.div(g, v.sqrt().add_(1e-8)).mul_(self._lr(1.0, p, shape, scale))
            p.sub_(update if every else torch.where(mask, update, torch.zeros_like(update)))

    def _lr(self, divisor: float, p: torch.Tensor, shape, scale: float = 1.0) -> torch.Tensor:
        """lr x scale / divisor per model in p's dtype: computed in float64, then rounded once,
        as a Python scalar is. With lr_decay_every = k, step t uses lr x lr_decay^((t - 1) // k).
        """
        lr, every = self.lr, self.spec.lr_decay_every
        if every:
            lr = lr * self.spec.lr_decay ** ((self.t - 1) // every)
        if scale != 1.0:  # the parameter's group
            lr = lr * scale
        return (lr / divisor).to(p.dtype).view(shape)
