"""Li et al.'s (2018, CVPR, Section 5.1) adding network: a two-layer IndRNN, read out from the
second layer.

    h1_t = relu(u1 * h1_{t-1} + U x_t + b)        (U, b: the ensemble's input projection)
    h_t  = relu(u2 * h_{t-1} + W h1_t + b2)       (h: the state read out)

One layer does not learn adding here (E3's report says why): no unit reads another's state, so
a unit that lets only the marked values through its ReLU also wipes its own memory at every
unmarked step; here the first layer selects and the second accumulates. Both |u| are bounded
by r = MAG^(1/L) after every optimizer step (L the task's sequence length), and the inits are
the authors' (github.com/Sunnydreamrain/IndRNN_Theano_Lasagne @ d0892679, adding/adding.py:
MAG = 2 line 32, input weights N(0, 0.001^2) line 35, r lines 48-49, the layers' u lines 82-83,
the clip of u line 154; biases 0, adding/IndRNN.py line 53): u1 ~ U(0, r), u2 ~ U(1/r, r), U
and W ~ N(0, input_std^2), b = b2 = 0. Without a task r = 1 (their README's bound for any
length). The read-out V, c is the ensemble's (PyTorch's init, not Lasagne's Glorot and 0).

Its hand-written BPTT runs layer by layer: each layer's time loop is elementwise (two or three
ops per step), and what couples the layers (W h1_t, W^T da_t, dW) is one batched matmul over
every step. The probe runs both states together, step by step (`_probe_backward`).

Shapes: E models, B examples, L steps, D inputs, H hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import toolkit
from ..toolkit import Workspace
from .base import Cell, param
from .indrnn import INPUT_STD_HELP, MAG_HELP, band, between, clamp, paper_input
from .rnn import RNN_F, RNN_F_GRAD

relu, relu_grad = RNN_F["relu"], RNN_F_GRAD["relu"]  # (a, out); (dh, h, out) from h = relu(a)


def _layer(p: torch.Tensor, u: torch.Tensor, h: torch.Tensor) -> None:
    """h[:, t+1] = relu(p[:, t] + u * h[:, t]) for every t, p (E, L, B, H) overwritten, u (E, H),
    h (E, L+1, B, H) with h[:, 0] set."""
    u = u[:, None]  # (E, 1, H)
    for t, p_t in enumerate(p.unbind(1)):
        relu(p_t.addcmul_(u, h[:, t]), h[:, t + 1])


def _forward(model, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    shape, hid = (n_models, n_steps + 1, batch, model.spec.hidden_size), model.spec.hidden_size
    x1, _ = toolkit.inputs(model, x, ws)  # [x, 1] (E, L, B, D+1)
    (u_b,) = toolkit.input_weights(model)  # (E, D+1, H)
    h1, h = ws.get("h1", shape, model.U), ws.get("h", shape, model.U)  # (E, L+1, B, H)
    p = ws.get("p", (n_models, n_steps, batch, hid), model.U)  # pre-activations of one layer
    h1[:, 0].zero_()
    h[:, 0].zero_()
    torch.bmm(toolkit.flat(x1), u_b, out=toolkit.flat(p))  # U x_t + b, every step
    _layer(p, model.u1, h1)
    w_t = model.W.transpose(1, 2)
    torch.baddbmm(model.b2[:, None], toolkit.flat(h1[:, 1:]), w_t, out=toolkit.flat(p))
    _layer(p, model.u2, h)  # p: W h1_t + b2
    return {"x1": x1, "h1": h1, "h": h}


def _layer_backward(dh_out: torch.Tensor, h: torch.Tensor, u: torch.Tensor, da: torch.Tensor,
                    ws: Workspace) -> torch.Tensor:  # fmt: skip
    """One layer's recursion: da (E, L, B, H) <- dLoss/da_t for t = 1..L, given dh_out, dLoss/dh
    from outside the layer: at h_L (E, B, H), or at h_1..h_L (E, L, B, H); -> d_u (E, H)."""
    every = dh_out.dim() == 4
    dh, bufs, u = dh_out[:, -1] if every else dh_out, toolkit.dh_bufs(dh_out, ws), u[:, None]
    n_steps = h.shape[1] - 1
    for t in range(n_steps - 1, -1, -1):
        relu_grad(dh, h[:, t + 1], da[:, t])  # da_{t+1}
        if t > 0:
            out = bufs[t % 2]
            dh = torch.addcmul(dh_out[:, t - 1], da[:, t], u, out=out) if every else \
                torch.mul(da[:, t], u, out=out)  # fmt: skip
    return (h[:, :n_steps] * da).sum((1, 2))


def _backward(model, cache, dh_out: torch.Tensor, ws: Workspace, probe=None):
    """Layer 2 from dh_out, then layer 1 from W^T da2_t at every step."""
    if probe:
        return _probe_backward(model, cache, dh_out, probe)
    x1, h1, h = cache["x1"], cache["h1"], cache["h"]
    da = ws.get("da", h1[:, 1:].shape, h)  # (E, L, B, H): layer 2's, then layer 1's
    d_u2 = _layer_backward(dh_out, h, model.u2, da, ws)
    d_w = torch.bmm(toolkit.flat(da).transpose(1, 2), toolkit.flat(h1[:, 1:]))  # (E, H, H)
    d_b2 = da.sum((1, 2))
    dh1 = ws.get("p", da.shape, h)  # dLoss/dh1_t through layer 2 (the forward's buffer)
    torch.bmm(toolkit.flat(da), model.W, out=toolkit.flat(dh1))
    d_u1 = _layer_backward(dh1, h1, model.u1, da, ws)
    d_ub = torch.bmm(toolkit.flat(x1).transpose(1, 2), toolkit.flat(da))  # (E, D+1, H)
    return {
        "u1": d_u1,
        "u2": d_u2,
        "U": d_ub[:, :-1].transpose(1, 2).contiguous(),
        "b": d_ub[:, -1].contiguous(),
        "W": d_w,
        "b2": d_b2,
    }


def _probe_backward(model, cache, dh_out: torch.Tensor, probe) -> None:
    """probe(k, (dh_k, dh1_k)) for k = L..0, each state's gradient as the next step's input,
    both layers' recursions step by step so that the probe can rescale them together."""
    h1, h = cache["h1"], cache["h"]
    every = dh_out.dim() == 4
    dh = (dh_out[:, -1] if every else dh_out).clone()
    dh1 = torch.zeros_like(dh)  # h1_L is read by no step
    u1, u2 = model.u1[:, None], model.u2[:, None]
    for t in range(h.shape[1] - 1, 0, -1):
        probe(t, (dh, dh1))
        da2 = relu_grad(dh, h[:, t], torch.empty_like(dh))
        da1 = relu_grad(torch.baddbmm(dh1, da2, model.W), h1[:, t], torch.empty_like(dh))
        dh, dh1 = da2 * u2, da1 * u1
        if every and t > 1:
            dh += dh_out[:, t - 2]
    probe(0, (dh, dh1))


@dataclass(frozen=True)
class IndRNN2Params:
    mag: float = param(2.0, f"{MAG_HELP}; also the inits u1 ~ U(0, r), u2 ~ U(1/r, r)", gt=0)
    input_std: float = param(0.001, f"{INPUT_STD_HELP}; for U and W, b = b2 = 0", gt=0)


class IndRNN2(Cell):
    name, label = "indrnn2", "IndRNN (2 layers)"
    uses = ()  # ReLU and the authors' inits: no model.* field changes it
    inits = ("default",)  # draws its own weights (the read-out: PyTorch's)
    n_states, states = 2, ("h", "h1")  # h: the second layer's, read out
    Params = IndRNN2Params
    floats_per_unit = 5  # h, h1, one layer's pre-activations and one layer's da (and x1)

    def init_recurrent(self, spec, gen):
        r, h = band(spec.hparams, spec.seq_len), spec.hidden_size
        return {"u1": between(0.0, r, h, gen), "u2": between(1 / r, r, h, gen)}  # (H,) each

    def init_input(self, spec, gen):
        return paper_input(spec, gen, spec.hparams.input_std)

    def init_extra(self, spec, gen):
        h, std = spec.hidden_size, spec.hparams.input_std
        w = torch.randn(h, h, generator=gen, dtype=torch.float64) * std  # (H, H)
        return {"W": w, "b2": torch.zeros(h, dtype=torch.float64)}

    def step(self, model, state, xp_t):
        h, h1 = state  # (E, B, H) each
        h1 = torch.relu(xp_t + model.u1[:, None] * h1)
        a2 = torch.baddbmm(model.b2[:, None], h1, model.W.transpose(1, 2))  # W h1_t + b2
        return (torch.relu(a2 + model.u2[:, None] * h), h1)

    def constrain(self, model):
        clamp(model, band(model.hparams, model.seq_len), ("u1", "u2"))

    def recurrent_weights(self, hidden):
        return hidden * hidden + 2 * hidden  # W, u1, u2

    def recurrent_matrix(self, model):
        return torch.diag_embed(model.u2)  # dh_k/dh_{k-1} = diag(relu' u2): h1 does not read h

    def bound_factor(self, model):
        """max|u2| for the probe of h (||dh_T/dh_k|| <= max|u2|^(T-k)); none for h1, whose
        path to h_T runs through W."""
        if model.spec.probe_state != "h":
            return None
        return model.u2.detach().double().abs().amax(1)

    forward, backward = staticmethod(_forward), staticmethod(_backward)
