"""IndRNN (Li et al. 2018, CVPR): h_t = f(u * h_{t-1} + U x_t + b), u (H,) one recurrent weight
per unit, so that dh_t/dh_{t-1} = diag(f'(a_t) u) and ||dh_T/dh_k|| <= (gamma max|u|)^(T-k).

Its inits, reference step, hand-written BPTT (compiled where `kernels` builds: elementwise
loops, at any H) and probe. Inits of u: default U(0, 1); identity u = rho; orthogonal +-rho with
random signs (a diagonal orthogonal matrix scaled to rho); gaussian N(0, 1) scaled to
max|u| = rho.

The paper's regime, as hyperparameters (off by default): `mag` bounds |u| by r = MAG^(1/L)
after each optimizer step, L the task's sequence length (Section 3.1: |u| below the (T-t)-th
root of the largest tolerable gradient growth; Section 5.1: |u| in (0, 2^(1/T)) on adding);
`u_init: paper` draws u ~ U(1/r, r) and `input_std` U ~ N(0, input_std^2) with b = 0, as the
authors' adding code (github.com/Sunnydreamrain/IndRNN_Theano_Lasagne @ d0892679,
adding/adding.py: MAG = 2 line 32, r lines 48-49, the last layer's u line 83, input weights
N(0, 0.001^2) line 35, the clip of u before every step line 154; b = 0: adding/IndRNN.py line
53). `u_max` is a fixed bound; with `mag` too, the smaller bound holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import kernels, toolkit
from ..toolkit import Workspace
from .base import Cell, param
from .rnn import RNN_F, RNN_F_GRAD, TRANSCENDENTALS

# --- IndRNN: h_t = f(a_t), a_t = u * h_{t-1} + U x_t + b ---------------------------------------


def _forward(model, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    (u_b,) = toolkit.input_weights(model)  # (E, D+1, H)
    h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.U)  # (E, L+1, B, H)
    h[:, 0].zero_()
    if ops := kernels.loops(x.device):  # the loop below, compiled: reads x itself (no x1)
        x = x.to(model.U.dtype).contiguous()
        ops.indrnn_forward(x, u_b, model.u, h, model.spec.nonlinearity)
        return {"x": x, "h": h, "small": True}
    x1, x1_steps = toolkit.inputs(model, x, ws)
    a_t = ws.get("a_t", (n_models, batch, hid), model.U)  # (E, B, H)
    f, u = RNN_F[model.spec.nonlinearity], model.u[:, None]  # u (E, 1, H)
    steps = zip(x1_steps, h[:, :n_steps].unbind(1), h[:, 1:].unbind(1), strict=True)
    for x1_t, h_prev, h_next in steps:
        torch.bmm(x1_t, u_b, out=a_t)  # U x_t + b
        f(a_t.addcmul_(u, h_prev), h_next)
    return {"x1": x1, "h": h}


def _backward(model, cache, dh_out: torch.Tensor, ws: Workspace, probe=None):
    """As the vanilla RNN's backward, with dLoss/dh_t = (read-out term) + da_{t+1} u."""
    h, x1 = cache["h"], cache.get("x1")
    n_models, _, batch, hid = h.shape
    f = model.spec.nonlinearity
    if not probe and cache.get("small"):  # as the forward: the loop below, compiled
        x = cache["x"]
        d_u, d_ub = h.new_empty((n_models, hid)), h.new_empty((n_models, x.shape[-1] + 1, hid))
        kernels.loops(h.device).indrnn_backward(h, x, model.u, dh_out, d_u, d_ub, f)
        return _grads(d_u, d_ub)
    da = ws.get("da", (n_models, toolkit.CHUNK, batch, hid), h)  # dLoss/da_t of one chunk of steps
    every = dh_out.dim() == 4  # (E, L, B, H) for h_1..h_L, else (E, B, H) for h_L
    dh, bufs = dh_out[:, -1] if every else dh_out, toolkit.dh_bufs(dh_out, ws)
    f_grad, u, hs = RNN_F_GRAD[f], model.u[:, None], h.unbind(1)
    d_u, sums = torch.zeros_like(model.u), []
    for start, stop in toolkit.chunks(len(hs) - 1):
        for t in range(stop - 1, start - 1, -1):
            if probe:
                probe(t + 1, (dh,))
            da_t = da[:, t - start]
            f_grad(dh, hs[t + 1], da_t)  # da_{t+1} = dh_{t+1} * f'(a_{t+1}), from h = f(a)
            if every and t > 0:
                dh = torch.addcmul(dh_out[:, t - 1], da_t, u, out=bufs[t % 2])
            elif t > 0 or probe:
                dh = torch.mul(da_t, u, out=bufs[t % 2])
        if not probe:
            n = stop - start
            d_u += (h[:, start:stop] * da[:, :n]).sum((1, 2))
            toolkit.add_products(sums, [(x1[:, start:stop], da[:, :n])])
    if probe:
        return probe(0, (dh,))
    return _grads(d_u, sums[0])


def _grads(d_u: torch.Tensor, d_ub: torch.Tensor) -> dict[str, torch.Tensor]:
    """d_u (E, H), d_ub = [dU, db]^T (E, D+1, H) -> the gradients by weight name."""
    return {
        "u": d_u,
        "U": d_ub[:, :-1].transpose(1, 2).contiguous(),
        "b": d_ub[:, -1].contiguous(),
    }


def band(hparams, seq_len: int | None) -> float:
    """r = MAG^(1/L), the bound on |u| over L steps (hparams.mag = MAG); 1 without a bound or a
    task (the limit L -> inf: the authors' README bounds |u| by 1 and sets the last layer's u to
    1 there)."""
    return hparams.mag ** (1 / seq_len) if hparams.mag and seq_len else 1.0


def clamp(model, limit: float, names: tuple[str, ...]) -> None:
    """Each named weight clamped to [-limit, limit] in place (inf: unchanged)."""
    if math.isfinite(limit):
        for name in names:
            getattr(model, name).clamp_(-limit, limit)


def paper_input(spec, gen: torch.Generator, std: float) -> dict[str, torch.Tensor]:
    """The authors' input weights: U ~ N(0, std^2) (H, D), b = 0 (Lasagne's default bias)."""
    h, d = spec.hidden_size, spec.input_size
    return {
        "U": torch.randn(h, d, generator=gen, dtype=torch.float64) * std,
        "b": torch.zeros(h, dtype=torch.float64),
    }


def between(low: float, high: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """U(low, high) (n,) float64."""
    return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)


MAG_HELP = (
    "Li et al.'s MAG: after each optimizer step |u| <= r = MAG^(1/L), L the task's sequence "
    "length (the gradient through the recurrence grows at most MAG-fold over the sequence; the "
    "authors' adding code: 2); without a task r = 1"
)
INPUT_STD_HELP = (
    "> 0: input weights U ~ N(0, input_std^2) and biases b = 0, the authors' init (their adding "
    "code: 0.001)"
)


@dataclass(frozen=True)
class IndRNNParams:
    u_max: float = param(
        0.0,
        "after each optimizer step u is clamped to [-u_max, u_max] (Li et al. 2018 bound |u| "
        "so that the gradient can neither explode nor vanish over T steps); 0: no bound",
        min=0,
    )
    mag: float = param(0.0, f"{MAG_HELP}; 0: no such bound", min=0)
    u_init: str = param(
        "model",
        "u's init: model (model.init and model.rho), or paper: U(1/r, r) with r = MAG^(1/L), "
        "the authors' init of the layer read out (r = 1 when mag is 0: u = 1)",
        choices=("model", "paper"),
    )
    input_std: float = param(
        0.0, f"{INPUT_STD_HELP}; 0: U, b ~ U(-1/sqrt(H), 1/sqrt(H)), PyTorch's", min=0
    )


class IndRNN(Cell):
    name, label = "indrnn", "IndRNN"
    uses = ("nonlinearity", "init", "rho")
    inits = ("default", "orthogonal", "gaussian", "identity")  # its own draws of u, below
    Params = IndRNNParams
    compiled_loops = True
    floats_per_unit = 5  # the hand-written BPTT keeps what the RNN's keeps (h, x1, a chunk of da)

    def init_recurrent(self, spec, gen):
        h, rho = spec.hidden_size, spec.rho
        draw = {
            "default": lambda: torch.rand(h, generator=gen, dtype=torch.float64),
            "identity": lambda: torch.full((h,), rho, dtype=torch.float64),
            "orthogonal": lambda: rho * torch.randint(0, 2, (h,), generator=gen).double() * 2 - rho,
            "gaussian": lambda: _scaled(torch.randn(h, generator=gen, dtype=torch.float64), rho),
        }
        if spec.hparams.u_init == "paper":
            r = band(spec.hparams, spec.seq_len)
            return {"u": between(1 / r, r, h, gen)}  # (H,)
        return {"u": draw[spec.init]()}  # (H,)

    def init_input(self, spec, gen):
        if spec.hparams.input_std:
            return paper_input(spec, gen, spec.hparams.input_std)
        return super().init_input(spec, gen)

    def step(self, model, state, xp_t):
        return (self.nonlinearity(model).fn(xp_t + model.u[:, None] * state[0]),)  # (E, B, H)

    def constrain(self, model):
        p = model.hparams
        bound = band(p, model.seq_len) if p.mag else math.inf
        clamp(model, min(bound, p.u_max or math.inf), ("u",))

    def recurrent_weights(self, hidden):
        return hidden

    def recurrent_matrix(self, model):
        return torch.diag_embed(model.u)  # (E, H, H)

    def bound_factor(self, model):
        return self.nonlinearity(model).gamma * model.u.detach().double().abs().amax(1)

    def transcendentals(self, spec):
        return TRANSCENDENTALS[spec.nonlinearity]

    forward, backward = staticmethod(_forward), staticmethod(_backward)

    def compiled_probe(self, ops, model, cache, dh_last, ws, stats):
        ops.indrnn_probe(cache["h"], model.u, dh_last, *stats, model.spec.nonlinearity)
        return True


def _scaled(u: torch.Tensor, rho: float) -> torch.Tensor:
    return u * (rho / u.abs().max())
