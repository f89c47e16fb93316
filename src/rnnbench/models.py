"""Ensembles of recurrent models: E independent models with weights stacked on a leading axis.

Cells (vanilla RNN, LSTM, GRU), nonlinearities and recurrent-weight inits are chosen by name from
the lookup tables below. Model e is initialised from its own generator seeded with seeds[e], so a
model in an ensemble starts exactly where it would start alone.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gates (1, 4 or 3), O outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .spec import GATES, ModelSpec


@dataclass(frozen=True)
class Nonlinearity:
    fn: Callable[[torch.Tensor], torch.Tensor]
    gamma: float  # sup |f'|: the factor in the BPTT bound (gamma * sigma_max(W))^(T-k)


NONLINEARITIES = {
    "linear": Nonlinearity(lambda a: a, 1.0),
    "tanh": Nonlinearity(torch.tanh, 1.0),
    "sigmoid": Nonlinearity(torch.sigmoid, 0.25),
    "relu": Nonlinearity(torch.relu, 1.0),
}


def _uniform(shape, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def _orthogonal(h: int, rho: float, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(h, h, generator=gen, dtype=torch.float64))
    return rho * q * torch.sign(torch.diagonal(r))  # Haar-distributed, every |eigenvalue| = rho


def _gaussian(h: int, rho: float, gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(h, h, generator=gen, dtype=torch.float64) / math.sqrt(h)  # N(0, 1/H)
    return w * (rho / torch.linalg.eigvals(w).abs().max())


INITS: dict[str, Callable[[int, float, torch.Generator], torch.Tensor]] = {
    "default": lambda h, rho, gen: _uniform((h, h), 1 / math.sqrt(h), gen),  # PyTorch's
    "orthogonal": _orthogonal,
    "gaussian": _gaussian,
    "identity": lambda h, rho, gen: rho * torch.eye(h, dtype=torch.float64),  # IRNN (Le et al.)
}

CANDIDATE_BLOCK = {"rnn": 0, "lstm": 2, "gru": 2}  # the block acting like W in h = f(W h + ...)


class Ensemble(nn.Module):
    """E recurrent models of one architecture, model e initialised from seeds[e]."""

    def __init__(
        self,
        spec: ModelSpec,
        input_size: int,
        output_size: int,
        seeds: list[int],
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.spec = spec
        self.gates = GATES[spec.cell]
        self.f = NONLINEARITIES[spec.nonlinearity]
        h, g = spec.hidden_size, GATES[spec.cell]
        weights = [self._init_one(seed, input_size, output_size) for seed in seeds]
        stacked = {k: torch.stack([w[k] for w in weights]).to(dtype) for k in weights[0]}
        self.W = nn.Parameter(stacked["W"])  # (E, G*H, H) recurrent
        self.U = nn.Parameter(stacked["U"])  # (E, G*H, D) input
        self.b = nn.Parameter(stacked["b"])  # (E, G*H)
        self.V = nn.Parameter(stacked["V"])  # (E, O, H) read-out
        self.c = nn.Parameter(stacked["c"])  # (E, O)
        if spec.cell == "gru":
            self.b_hn = nn.Parameter(stacked["b_hn"])  # (E, H) inside r * (W_hn h + b_hn)
        assert self.W.shape[1:] == (g * h, h)

    def _init_one(self, seed: int, input_size: int, output_size: int) -> dict[str, torch.Tensor]:
        """One model's weights in float64, drawn in a fixed order from its own generator."""
        gen = torch.Generator().manual_seed(seed)
        s, h, g = self.spec, self.spec.hidden_size, GATES[self.spec.cell]
        k = 1 / math.sqrt(h)
        w = {
            "W": torch.cat([INITS[s.init](h, s.rho, gen) for _ in range(g)]),
            "U": _uniform((g * h, input_size), k, gen),
            "b": _uniform((g * h,), k, gen),
            "V": _uniform((output_size, h), k, gen),
            "c": _uniform((output_size,), k, gen),
        }
        if s.cell == "gru":
            w["b_hn"] = _uniform((h,), k, gen)
        if s.init == "identity":
            w["b"].zero_()  # IRNN: zero biases (Le et al. 2015)
        if s.cell == "lstm":
            w["b"][h : 2 * h] = s.forget_bias  # gate order i, f, g, o
        return w

    def take(self, idx: torch.Tensor) -> Ensemble:
        """Models idx (E',) as a new ensemble, with copies of their weights."""
        out = Ensemble.__new__(Ensemble)
        nn.Module.__init__(out)
        out.spec, out.gates, out.f = self.spec, self.gates, self.f
        for name, p in self.named_parameters():
            setattr(out, name, nn.Parameter(p.detach().index_select(0, idx)))
        return out

    @torch.no_grad()
    def put(self, idx: torch.Tensor, part: Ensemble) -> None:
        """Write the weights of `part` (taken as models idx) back into this ensemble."""
        for p, q in zip(self.parameters(), part.parameters(), strict=True):
            p.index_copy_(0, idx, q)

    @property
    def n_models(self) -> int:
        return self.W.shape[0]

    def initial_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        zeros = self.W.new_zeros(self.n_models, batch, self.spec.hidden_size)  # (E, B, H)
        return (zeros, zeros.clone()) if self.spec.cell == "lstm" else (zeros,)

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """x (L, E, B, D) -> U x_t + b for every step, (L, E, B, G*H)."""
        return torch.einsum("lebd,egd->lebg", x, self.U) + self.b[:, None]

    def step(self, state: tuple[torch.Tensor, ...], xp_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One time step: state (E, B, H)-tensors, xp_t (E, B, G*H) -> next state."""
        h = state[0]
        wh = torch.bmm(h, self.W.transpose(1, 2))  # (E, B, G*H)
        if self.spec.cell == "rnn":
            return (self.f.fn(xp_t + wh),)
        if self.spec.cell == "lstm":
            i, f, g, o = (xp_t + wh).chunk(4, -1)
            c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
            return (torch.sigmoid(o) * torch.tanh(c), c)
        xr, xz, xn = xp_t.chunk(3, -1)
        hr, hz, hn = wh.chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * (hn + self.b_hn[:, None]))
        return ((1 - z) * n + z * h,)

    def forward(self, x: torch.Tensor, every_step: bool = False) -> torch.Tensor:
        """x (L, E, B, D) -> outputs at every step (L, E, B, O), or at the last step (E, B, O)."""
        state = self.initial_state(x.shape[2])
        outs = []
        for xp_t in self.input_projection(x).unbind(0):  # unbind: indexing makes backward O(L^2)
            state = self.step(state, xp_t)
            if every_step:
                outs.append(self.readout(state[0]))
        return torch.stack(outs) if every_step else self.readout(state[0])

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., E, B, H) -> outputs (..., E, B, O)."""
        return torch.einsum("...ebh,eoh->...ebo", h, self.V) + self.c[:, None]

    def recurrent_block(self) -> torch.Tensor:
        """The square block acting as W in the BPTT product (candidate block for gated cells)."""
        h, k = self.spec.hidden_size, CANDIDATE_BLOCK[self.spec.cell]
        return self.W[:, k * h : (k + 1) * h]  # (E, H, H)

    @torch.no_grad()
    def spectral_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per model: spectral radius of the recurrent block and largest singular value of W."""
        block = self.recurrent_block().double()
        radius = torch.linalg.eigvals(torch.nan_to_num(block)).abs().amax(-1)
        sigma = torch.linalg.matrix_norm(torch.nan_to_num(self.W.double()), ord=2)
        finite = torch.isfinite(self.W.double()).flatten(1).all(1)
        nan = torch.full_like(radius, math.nan)
        return torch.where(finite, radius, nan), torch.where(finite, sigma, nan)

    def bound_factor(self) -> torch.Tensor:
        """gamma * sigma_max(W) per model (vanilla RNN only; NaN for gated cells), (E,)."""
        if self.spec.cell != "rnn":
            return torch.full((self.n_models,), math.nan, dtype=torch.float64, device=self.W.device)
        return self.f.gamma * torch.linalg.matrix_norm(self.W.detach().double(), ord=2)
