"""Weight-init schemes, chosen by name (`model.init`, `INITS`): each owns every weight it draws.

A scheme draws one model's weights in float64 from that model's generator, in this order: each
(H, H) block of the recurrent matrix W (`matrix`: `MatrixCell` and any cell that asks for it),
the input weights U (G*H, D) and biases b (G*H,) (`input`: the default `Cell.init_input`), the
read-out V (O, H) and c (O,) (`readout`: `models.Ensemble`), and a cell's other biases (`bias`,
e.g. the GRU's b_hn, asked for by the cell). `zero_input_bias` sets b to 0 after every draw,
whoever drew it. A cell that draws a weight itself (its own `init_input`, IndRNN's u) owns that
weight instead; a cell that draws only some schemes declares which (`Cell.inits`).

Shapes: H hidden units, D inputs, O outputs, G gate blocks (rows = G*H).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..registry import Registry

Tensor = torch.Tensor


def uniform(shape, bound: float, gen: torch.Generator) -> Tensor:
    """U(-bound, bound) in float64, drawn from gen."""
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def normal(shape, std: float, gen: torch.Generator) -> Tensor:
    """N(0, std^2) in float64, drawn from gen."""
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std


def _orthogonal(h: int, rho: float, gen: torch.Generator) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(h, h, generator=gen, dtype=torch.float64))
    return rho * q * torch.sign(torch.diagonal(r))  # Haar-distributed, every |eigenvalue| = rho


def _gaussian(h: int, rho: float, gen: torch.Generator) -> Tensor:
    w = torch.randn(h, h, generator=gen, dtype=torch.float64) / math.sqrt(h)  # N(0, 1/H)
    return w * (rho / torch.linalg.eigvals(w).abs().max())


def _pytorch_input(rows: int, d: int, h: int, gen) -> dict[str, Tensor]:
    k = 1 / math.sqrt(h)  # PyTorch's bound for every weight of nn.RNN/LSTM/GRU: 1/sqrt(H)
    return {"U": uniform((rows, d), k, gen), "b": uniform((rows,), k, gen)}


def _pytorch_readout(o: int, h: int, gen) -> dict[str, Tensor]:
    k = 1 / math.sqrt(h)  # nn.Linear(H, O)'s bound
    return {"V": uniform((o, h), k, gen), "c": uniform((o,), k, gen)}


def _pytorch_bias(shape, h: int, gen) -> Tensor:
    return uniform(shape, 1 / math.sqrt(h), gen)


@dataclass(frozen=True)
class Init:
    """A weight-init scheme: what it draws for each kind of weight (defaults: PyTorch's)."""

    name: str
    help: str  # one line: what it draws, and whose it is
    matrix: Callable[[int, float, torch.Generator], Tensor]  # (H, rho, gen) -> (H, H) block of W
    input: Callable[..., dict[str, Tensor]] = _pytorch_input  # (G*H, D, H, gen) -> U, b
    readout: Callable[..., dict[str, Tensor]] = _pytorch_readout  # (O, H, gen) -> V, c
    bias: Callable[..., Tensor] = _pytorch_bias  # (shape, H, gen) -> a cell's other bias
    zero_input_bias: bool = False  # b := 0 after every draw (also a cell's own init_input's)
    scales_rho: bool = False  # whether W depends on model.rho (variant labels show rho then)


def _cai_input(rows: int, d: int, h: int, gen) -> dict[str, Tensor]:
    return {"U": normal((rows, d), 0.5 / math.sqrt(d), gen), "b": torch.zeros(rows).double()}


def _cai_readout(o: int, h: int, gen) -> dict[str, Tensor]:
    return {"V": normal((o, h), 1 / math.sqrt(h), gen), "c": torch.zeros(o).double()}


HS97 = 0.1  # Hochreiter & Schmidhuber (1997): every weight, biases included, U(-0.1, 0.1)


def _hs97_input(rows: int, d: int, h: int, gen) -> dict[str, Tensor]:
    return {"U": uniform((rows, d), HS97, gen), "b": uniform((rows,), HS97, gen)}


def _hs97_readout(o: int, h: int, gen) -> dict[str, Tensor]:
    return {"V": uniform((o, h), HS97, gen), "c": uniform((o,), HS97, gen)}


INITS: Registry[Init] = Registry(
    "model.init",
    {
        i.name: i
        for i in (
            Init(
                "default",
                "PyTorch's: every weight U(-1/sqrt(H), 1/sqrt(H))",
                lambda h, rho, gen: uniform((h, h), 1 / math.sqrt(h), gen),
            ),
            Init(
                "orthogonal",
                "W blocks Haar-orthogonal x rho; the rest PyTorch's",
                _orthogonal,
                scales_rho=True,
            ),
            Init(
                "gaussian",
                "W blocks N(0, 1/H) rescaled to spectral radius rho; the rest PyTorch's",
                _gaussian,
                scales_rho=True,
            ),
            Init(
                "identity",
                "the IRNN's (Le et al. 2015): W = rho x I, b = 0; the rest PyTorch's",
                lambda h, rho, gen: rho * torch.eye(h, dtype=torch.float64),
                zero_input_bias=True,
                scales_rho=True,
            ),
            Init(
                "cai",
                "cybertronai/schmidhuber-problems' (adding_problem.py init_rnn, "
                "init_lstm): W blocks and U N(0, 1) x 0.5/sqrt(fan-in), V N(0, 1)/sqrt(H), "
                "every bias 0 (an LSTM's forget bias: model.forget_bias)",
                lambda h, rho, gen: normal((h, h), 0.5 / math.sqrt(h), gen),
                _cai_input,
                _cai_readout,
                lambda shape, h, gen: torch.zeros(shape).double(),
                zero_input_bias=True,
            ),
            Init(
                "hs97",
                "Hochreiter & Schmidhuber's (1997, Section 5): every weight, biases "
                "included, U(-0.1, 0.1) (Tables 10 and 11)",
                lambda h, rho, gen: uniform((h, h), HS97, gen),
                _hs97_input,
                _hs97_readout,
                lambda shape, h, gen: uniform(shape, HS97, gen),
            ),
        )  # fmt: skip
    },
)

MATRIX_INITS: dict[str, Callable[[int, float, torch.Generator], Tensor]] = {
    name: init.matrix for name, init in INITS.items()
}  # each scheme's draw of one (H, H) block of W: (H, rho, gen) -> (H, H) float64
