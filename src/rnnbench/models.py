"""Ensembles of recurrent models: E independent models with weights stacked on a leading axis.

The cell (`cells.get(spec.cell)`) owns the recurrent weights, the init of the input weights, its
hyperparameters (`hparams`) and the step; the init scheme (`cells.INITS[spec.init]`) draws what
the cell asks it for and the read-out; the ensemble owns what every cell shares: the input
projection U x_t + b (G gate blocks), the linear read-out, and the stacking. Model e
is initialised from its own generator seeded with seeds[e], so a model in an ensemble starts
exactly where it would start alone.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gate blocks, O outputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import cells
from .cells import INITS, InitSpec
from .spec import ModelSpec


class Ensemble(nn.Module):
    """E recurrent models of one architecture, model e initialised from seeds[e]."""

    def __init__(
        self,
        spec: ModelSpec,
        input_size: int,
        output_size: int,
        seeds: list[int],
        dtype: torch.dtype = torch.float32,
        seq_len: int | None = None,
    ):
        """seq_len: L, the steps of the task's sequences (the cell's init and `constrain` may
        depend on it, as IndRNN's bound on |u|); None: built without a task."""
        super().__init__()
        self.spec, self.cell, self.seq_len = spec, cells.get(spec.cell), seq_len
        self.hparams = self.cell.hparams(spec)  # the cell's hyperparameters, defaults filled
        weights = [self._init_one(seed, input_size, output_size) for seed in seeds]
        for name in weights[0]:  # the cell's recurrent weights, U (E, G*H, D), b (E, G*H),
            # V (E, O, H), c (E, O), then the cell's extra weights
            setattr(self, name, nn.Parameter(torch.stack([w[name] for w in weights]).to(dtype)))

    def _init_one(self, seed: int, input_size: int, output_size: int) -> dict[str, torch.Tensor]:
        """One model's weights in float64, drawn in a fixed order from its own generator."""
        gen = torch.Generator().manual_seed(seed)
        s = InitSpec.of(self.spec, input_size=input_size, output_size=output_size,
                        hparams=self.hparams, seq_len=self.seq_len)  # fmt: skip
        scheme = INITS[s.init]
        w = {**self.cell.init_recurrent(s, gen), **self.cell.init_input(s, gen)}
        w |= scheme.readout(output_size, s.hidden_size, gen)  # V (O, H), c (O,)
        w |= self.cell.init_extra(s, gen)
        if scheme.zero_input_bias:
            w["b"].zero_()
        self.cell.init_biases(s, w["b"])
        return w

    def take(self, idx: torch.Tensor) -> Ensemble:
        """Models idx (E',) as a new ensemble, with copies of their weights."""
        out = Ensemble.__new__(Ensemble)
        nn.Module.__init__(out)
        out.spec, out.cell, out.hparams = self.spec, self.cell, self.hparams
        out.seq_len = self.seq_len
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
        return self.U.shape[0]

    def initial_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        return self.cell.initial_state(self, batch)

    def input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """x (L, E, B, D) -> U x_t + b for every step, (L, E, B, G*H)."""
        return torch.einsum("lebd,egd->lebg", x, self.U) + self.b[:, None]

    def context(self):
        """The cell's once-per-pass `prepare` result (None for a cell without one)."""
        return self.cell.prepare(self) if self.cell.prepares else None

    def step(
        self, state: tuple[torch.Tensor, ...], xp_t: torch.Tensor, context=None
    ) -> tuple[torch.Tensor, ...]:
        """One time step: state (E, B, H)-tensors, xp_t (E, B, G*H) -> next state. context: the
        pass's `context()`, computed here when not given (once per step: slower, the same)."""
        if not self.cell.prepares:
            return self.cell.step(self, state, xp_t)
        return self.cell.step(self, state, xp_t, self.context() if context is None else context)

    def forward(self, x: torch.Tensor, every_step: bool = False) -> torch.Tensor:
        """x (L, E, B, D) -> outputs at every step (L, E, B, O), or at the last step (E, B, O)."""
        state, context = self.initial_state(x.shape[2]), self.context()
        outs = []
        for xp_t in self.input_projection(x).unbind(0):  # unbind: indexing makes backward O(L^2)
            state = self.step(state, xp_t, context)
            if every_step:
                outs.append(self.readout(state[0]))
        return torch.stack(outs) if every_step else self.readout(state[0])

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., E, B, H) -> outputs (..., E, B, O)."""
        return torch.einsum("...ebh,eoh->...ebo", h, self.V) + self.c[:, None]

    @torch.no_grad()
    def spectral_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per model: spectral radius of the cell's recurrent matrix and the largest singular
        value of its weights (NaN where the cell has none, or a model's weights are not finite)."""
        nan = torch.full((self.n_models,), math.nan, dtype=torch.float64, device=self.U.device)
        block, weights = self.cell.recurrent_matrix(self), self.cell.sigma_weights(self)
        if block is None or weights is None:
            return nan, nan.clone()
        block, weights = block.double(), weights.double()
        radius = torch.linalg.eigvals(torch.nan_to_num(block)).abs().amax(-1)
        sigma = torch.linalg.matrix_norm(torch.nan_to_num(weights), ord=2)
        finite = torch.isfinite(weights).flatten(1).all(1)
        return torch.where(finite, radius, nan), torch.where(finite, sigma, nan)

    def bound_factor(self) -> torch.Tensor:
        """The cell's per-step gradient bound factor (e.g. gamma * sigma_max(W)) per model, (E,);
        NaN for a cell without one."""
        factor = self.cell.bound_factor(self)
        if factor is None:
            return torch.full((self.n_models,), math.nan, dtype=torch.float64, device=self.U.device)
        return factor
