"""The LSTM (Hochreiter & Schmidhuber 1997, with a forget gate: Gers et al. 2000), as nn.LSTM:
gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t). Its inits (each gate block of W from
the named init, the forget-gate bias), reference step and hand-written BPTT (compiled where
`kernels` builds). Gated: no gradient bound of the vanilla RNN's form."""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels, toolkit
from ..toolkit import Workspace
from .base import MatrixCell

# --- LSTM: gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t) -------------------------
# Gates in row order (E, ., B, 4H), as nn.LSTM: one matmul per step for all four (faster than
# four), and the elementwise step is one fused pass where `kernels` can build it.


def _forward(model, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    x = x.to(model.W.dtype)
    hx, wx = toolkit.joint_inputs(model, x, ws)
    h = hx[..., :hid]  # (E, L+1, B, H)
    cell_forward, _ = kernels.lstm_cell(x.device)
    z = ws.get("z", (n_models, n_steps, batch, 4 * hid), model.W)  # gate values i, f, g, o
    c = ws.get("c", (n_models, n_steps + 1, batch, hid), model.W)
    a = ws.get("a_t", (n_models, batch, 4 * hid), model.W)  # pre-activations of one step
    c[:, 0].zero_()
    if ops := kernels.loops(x.device):  # the loop below, compiled
        if kernels.small(hid):  # the small-size loop, tanh(c_t) kept for its backward
            tc = ws.get("tc", (n_models, n_steps, batch, hid), model.W)  # (E, L, B, H)
            ops.lstm_forward_small(hx, wx, x.contiguous(), z, c, tc)
            return {"hx": hx, "h": h, "z": z, "c": c, "tc": tc, "small": True}
        ops.lstm_forward_loop(hx, wx, x, z, c, a)
        return {"hx": hx, "h": h, "z": z, "c": c}
    x_next = [*x[1:].unbind(0), x[-1]]  # x_{t+2} beside h_{t+1}; x_{L+1} (never read) := x_L
    steps = zip(
        hx[:, :n_steps].unbind(1), z.unbind(1), h[:, 1:].unbind(1),
        c[:, :n_steps].unbind(1), c[:, 1:].unbind(1), x_next, hx[:, 1:, :, hid:-1].unbind(1),
        strict=True,
    )  # fmt: skip
    for hx_prev, z_t, h_next, c_prev, c_next, x_t, x_out in steps:
        torch.bmm(hx_prev, wx, out=a)  # a contiguous buffer: a strided z_t as out is slower
        cell_forward(a, z_t, c_prev, c_next, h_next, x_t, x_out)
    return {"hx": hx, "h": h, "z": z, "c": c}


def _backward(model, cache, dh_out: torch.Tensor, ws: Workspace, probe=None):
    """As the vanilla RNN's backward; the probe sees (dh_k, dc_k), dc_k the part through c_{k+1}."""
    z, c = cache["z"], cache["c"]  # z is overwritten with dLoss/da
    if not probe and cache.get("small"):  # as the forward: the small-size loop, which also sums
        hx, hid = cache["hx"], model.spec.hidden_size  # the weight gradients
        d_wx = z.new_empty((z.shape[0], hx.shape[-1], 4 * hid))  # [dW^T; dU^T; db]
        kernels.loops(z.device).lstm_backward_small(z, c, cache["tc"], hx, model.W, dh_out, d_wx)
        return toolkit.joint_split(d_wx, hid)
    _, cell_backward = kernels.lstm_cell(z.device)
    bufs = toolkit.dh_bufs(dh_out, ws)
    dc = ws.get("dc", bufs[0].shape, dh_out).zero_()  # dLoss/dc_t through c_{t+1}
    if not probe and (ops := kernels.loops(z.device)):  # the loop below, compiled
        ops.lstm_backward_loop(z, c, model.W, dh_out, dc, *bufs)
        return toolkit.joint_weight_grads(z, cache["hx"], model.spec.hidden_size)
    dh, back = toolkit.dh_steps(dh_out, ws, [model.W])
    zs, cs = z.unbind(1), c.unbind(1)  # views per step, made once
    for t in range(len(zs) - 1, -1, -1):
        if probe:
            probe(t + 1, (dh, dc))
        cell_backward(dh, dc, zs[t], cs[t + 1], cs[t])
        if t > 0 or probe:
            dh = back(t, [zs[t]])
    if probe:
        return probe(0, (dh, dc))
    return toolkit.joint_weight_grads(z, cache["hx"], model.spec.hidden_size)


class LSTM(MatrixCell):
    name, label = "lstm", "LSTM"
    gates, n_states = 4, 2
    states = ("h", "c")  # c: the cell state
    candidate = 2  # the block of g, in gate order i, f, g, o
    uses = ("init", "rho", "forget_bias")
    floats_per_unit = 17
    torch_baseline = nn.LSTM

    def init_biases(self, spec, b):
        h = spec.hidden_size
        b[h : 2 * h] = spec.forget_bias  # gate order i, f, g, o

    def transcendentals(self, spec):
        return 2, 3  # tanh(g), tanh(c); sigmoid(i, f, o); the backward reuses them

    def step(self, model, state, xp_t):
        i, f, g, o = (xp_t + torch.bmm(state[0], model.W.transpose(1, 2))).chunk(4, -1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return (torch.sigmoid(o) * torch.tanh(c), c)

    forward, backward = staticmethod(_forward), staticmethod(_backward)
    compiled_loops = True

    def compiled_probe(self, ops, model, cache, dh_last, ws, stats):
        dc = torch.zeros_like(dh_last)
        bufs = toolkit.dh_bufs(dh_last, ws)
        ops.lstm_probe(cache["z"], cache["c"], model.W, dh_last, dc, *bufs, *stats)
        return True
