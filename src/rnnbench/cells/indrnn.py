"""IndRNN (Li et al. 2018, CVPR): h_t = f(u * h_{t-1} + U x_t + b), u (H,) one recurrent weight
per unit, so that dh_t/dh_{t-1} = diag(f'(a_t) u) and ||dh_T/dh_k|| <= (gamma max|u|)^(T-k).

No hand-written backward: it trains and is probed through its reference step (autograd).
Inits of u: default U(0, 1); identity u = rho; orthogonal +-rho with random signs (a diagonal
orthogonal matrix scaled to rho); gaussian N(0, 1) scaled to max|u| = rho. The hyperparameter
u_max bounds |u| after each optimizer step, as Li et al. constrain it (off by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Cell, param


@dataclass(frozen=True)
class IndRNNParams:
    u_max: float = param(
        0.0,
        "after each optimizer step u is clamped to [-u_max, u_max] (Li et al. 2018 bound |u| "
        "so that the gradient can neither explode nor vanish over T steps); 0: no bound",
        min=0,
    )


class IndRNN(Cell):
    name, label = "indrnn", "IndRNN"
    uses = ("nonlinearity", "init", "rho")
    Params = IndRNNParams
    floats_per_unit = 12  # autograd's graph per example, step and unit

    def init_recurrent(self, spec, gen):
        h, rho = spec.hidden_size, spec.rho
        draw = {
            "default": lambda: torch.rand(h, generator=gen, dtype=torch.float64),
            "identity": lambda: torch.full((h,), rho, dtype=torch.float64),
            "orthogonal": lambda: rho * torch.randint(0, 2, (h,), generator=gen).double() * 2 - rho,
            "gaussian": lambda: _scaled(torch.randn(h, generator=gen, dtype=torch.float64), rho),
        }
        return {"u": draw[spec.init]()}  # (H,)

    def step(self, model, state, xp_t):
        return (self.nonlinearity(model).fn(xp_t + model.u[:, None] * state[0]),)  # (E, B, H)

    def constrain(self, model):
        if model.hparams.u_max:
            model.u.clamp_(-model.hparams.u_max, model.hparams.u_max)

    def recurrent_weights(self, hidden):
        return hidden

    def recurrent_matrix(self, model):
        return torch.diag_embed(model.u)  # (E, H, H)

    def bound_factor(self, model):
        return self.nonlinearity(model).gamma * model.u.detach().double().abs().amax(1)


def _scaled(u: torch.Tensor, rho: float) -> torch.Tensor:
    return u * (rho / u.abs().max())
