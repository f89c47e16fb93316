"""The vanilla (Elman) RNN, h_t = f(W h_{t-1} + U x_t + b), f any of `NONLINEARITIES`: its inits,
reference step, hand-written BPTT (compiled where `kernels` builds), probe and gradient bound."""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels, toolkit
from ..omega import omega as regulariser
from ..toolkit import Workspace
from .base import MatrixCell, load_baseline

aten = torch.ops.aten


# --- vanilla RNN: h_t = f(a_t), a_t = W h_{t-1} + U x_t + b -----------------------------------


def _forward(model, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    (u_b,), (w_t,) = toolkit.gate_weights(model)
    h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.W)  # (E, L+1, B, H)
    h[:, 0].zero_()
    ops = kernels.loops(x.device)
    if ops and kernels.small(hid):  # the small-size loop: reads x itself (no x1), its backward too
        x = x.to(model.W.dtype).contiguous()
        ops.rnn_forward_small(x, u_b, w_t, h, model.spec.nonlinearity)
        return {"x": x, "h": h, "small": True}
    x1, x1_steps = toolkit.inputs(model, x, ws)
    a_t = ws.get("a_t", (n_models, batch, hid), model.W)  # (E, B, H)
    if ops:  # the loop below, compiled
        ops.rnn_forward(x1, u_b, w_t, h, a_t, model.spec.nonlinearity)
        return {"x1": x1, "h": h}
    f = RNN_F[model.spec.nonlinearity]
    steps = zip(x1_steps, h[:, :n_steps].unbind(1), h[:, 1:].unbind(1), strict=True)
    for x1_t, h_prev, h_next in steps:
        torch.bmm(x1_t, u_b, out=a_t)  # U x_t + b
        a_t.baddbmm_(h_prev, w_t)  # in place into a contiguous buffer: no copy
        f(a_t, h_next)
    return {"x1": x1, "h": h}


def _backward(model, cache, dh_out: torch.Tensor, ws: Workspace, probe=None):
    """dh_out: dLoss/dh_L (E, B, H), or dLoss/dh_1..h_L (E, L, B, H) for every-step tasks.

    probe(k, (dh_k,)) sees the gradient of every state k = L..0 (and may rescale it in place);
    with a probe the weight gradients are skipped (`gradients.gradient_profile`).
    """
    h, x1 = cache["h"], cache.get("x1")
    n_models, _, batch, hid = h.shape
    f = model.spec.nonlinearity
    if not probe and cache.get("small"):  # as the forward: the small-size loop
        d_w = h.new_empty((n_models, hid, hid))  # dW^T
        d_ub = h.new_empty((n_models, cache["x"].shape[-1] + 1, hid))  # [dU; db]^T
        kernels.loops(h.device).rnn_backward_small(h, cache["x"], model.W, dh_out, d_w, d_ub, f)
        return toolkit.weight_grads([d_w], [d_ub])
    da = ws.get("da", (n_models, toolkit.CHUNK, batch, hid), h)  # dLoss/da_t of one chunk of steps
    if not probe and (ops := kernels.loops(h.device)):  # the loop below, compiled
        d_w, d_ub = h.new_empty((n_models, hid, hid)), h.new_empty((n_models, x1.shape[-1], hid))
        ops.rnn_backward(h, x1, model.W, dh_out, *toolkit.dh_bufs(dh_out, ws), da, d_w, d_ub, f)
        return toolkit.weight_grads([d_w], [d_ub])
    f_grad = RNN_F_GRAD[f]
    dh, back = toolkit.dh_steps(dh_out, ws, [model.W])
    hs, sums = h.unbind(1), []
    for start, stop in toolkit.chunks(len(hs) - 1):
        for t in range(stop - 1, start - 1, -1):
            if probe:
                probe(t + 1, (dh,))
            da_t = da[:, t - start]
            f_grad(dh, hs[t + 1], da_t)  # da_{t+1} = dh_{t+1} * f'(a_{t+1}), from h = f(a)
            if t > 0 or probe:
                dh = back(t, [da_t])
        if not probe:
            n = stop - start
            toolkit.add_products(
                sums, [(h[:, start:stop], da[:, :n]), (x1[:, start:stop], da[:, :n])]
            )
    if probe:
        return probe(0, (dh,))
    return toolkit.weight_grads(sums[:1], sums[1:])


RNN_F = {  # f(a, out): out = f(a)
    "linear": lambda a, out: out.copy_(a),
    "tanh": kernels.tanh,
    "sigmoid": lambda a, out: torch.sigmoid(a, out=out),
    "relu": lambda a, out: torch.clamp_min(a, 0, out=out),
}

TRANSCENDENTALS = {"linear": (0, 0), "tanh": (1, 0), "sigmoid": (0, 1), "relu": (0, 0)}  # (tanh,
# sigmoid) evaluations of f per unit and step

RNN_F_GRAD = {  # (dh, h, out): out = dh * f'(a) computed from h = f(a), as autograd does
    "linear": lambda dh, h, out: out.copy_(dh),
    "tanh": lambda dh, h, out: aten.tanh_backward.grad_input(dh, h, grad_input=out),
    "sigmoid": lambda dh, h, out: aten.sigmoid_backward.grad_input(dh, h, grad_input=out),
    "relu": lambda dh, h, out: aten.threshold_backward.grad_input(dh, h, 0, grad_input=out),
}


class RNN(MatrixCell):
    name, label = "rnn", "RNN"
    uses = ("nonlinearity", "init", "rho")
    floats_per_unit = 5  # peak RSS per example, step and unit, measured with autograd (torch 2.13)
    torch_baseline = nn.RNN

    def step(self, model, state, xp_t):
        wh = torch.bmm(state[0], model.W.transpose(1, 2))  # (E, B, H)
        return (self.nonlinearity(model).fn(xp_t + wh),)

    def baseline_module(self, model, e):
        f = model.spec.nonlinearity
        if f not in ("tanh", "relu"):  # nn.RNN has no other
            return None
        net = nn.RNN(model.U.shape[-1], model.spec.hidden_size, nonlinearity=f)
        b = model.b[e]
        return load_baseline(net, U=model.U[e], W=model.W[e], b=b, b_hh=torch.zeros_like(b))

    def bound_factor(self, model):
        return self.nonlinearity(model).gamma * torch.linalg.matrix_norm(
            model.W.detach().double(), ord=2
        )

    def transcendentals(self, spec):
        return TRANSCENDENTALS[spec.nonlinearity]  # f in the forward; f' from h in the backward

    def omega(self, model, h, state_grads):
        """Pascanu et al.'s (2013) Omega as their code computes it (`rnnbench.omega`): W only."""
        return {"W": regulariser(h, state_grads, model.W, model.spec.nonlinearity).grad_W}

    forward, backward = staticmethod(_forward), staticmethod(_backward)
    compiled_loops = True

    def compiled_probe(self, ops, model, cache, dh_last, ws, stats):
        da = ws.get("da_probe", dh_last.shape, dh_last)
        bufs = toolkit.dh_bufs(dh_last, ws)
        ops.rnn_probe(cache["h"], model.W, dh_last, *bufs, da, *stats, model.spec.nonlinearity)
        return True
