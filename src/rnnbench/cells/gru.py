"""The GRU (Cho et al. 2014), as nn.GRU: r, z = sigmoid(a_r), sigmoid(a_z);
n = tanh(U_n x + b_n + r (W_n h + b_hn)); h_t = (1 - z) n + z h_{t-1}. Its inits, reference step
and hand-written BPTT (compiled where `kernels` builds). Gated: no vanilla-RNN bound."""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels, toolkit
from ..toolkit import Workspace
from .base import MatrixCell, load_baseline
from .inits import INITS

aten = torch.ops.aten


# --- GRU: r, z = sigmoid(a_r), sigmoid(a_z); n = tanh(U_n x + b_n + r (W_n h + b_hn));
# h_t = (1 - z) n + z h_{t-1}. Gate-major buffers (4, E, L, B, H), slots r, z, n, W_n h + b_hn:
# an eager op on one gate of a (B, 4H) row is much slower than on a contiguous block.


def _forward(model, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    u_bs, w_ts = toolkit.gate_weights(model)
    z = ws.get("z", (4, n_models, n_steps, batch, hid), model.W)  # r, z, n, W_n h + b_hn
    h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.W)  # (E, L+1, B, H)
    h[:, 0].zero_()
    b_hn = model.b_hn[:, None]  # (E, 1, H)
    ops = kernels.loops(x.device)
    if ops and kernels.small(hid):  # the small-size loop, the gates' products merged; reads x
        x = x.to(model.W.dtype).contiguous()  # itself (no x1), its backward too
        ops.gru_forward_small(x, u_bs, w_ts, b_hn, z, h)
        return {"x": x, "h": h, "z": z, "small": True}
    x1, x1_steps = toolkit.inputs(model, x, ws)
    a = ws.get("a_t", (3, n_models, batch, hid), model.W)  # a_r, a_z, U_n x + b_n of one step
    if ops:  # the loop below, compiled
        ops.gru_forward(x1, u_bs, w_ts, b_hn, z, h, a)
        return {"x1": x1, "h": h, "z": z}
    steps = zip(
        x1_steps, z.unbind(2),
        h[:, :n_steps].unbind(1), h[:, 1:].unbind(1), strict=True,
    )  # fmt: skip
    for x1_t, z_t, h_prev, h_next in steps:
        for a_g, u_g in zip(a, u_bs, strict=True):
            torch.bmm(x1_t, u_g, out=a_g)
        a[0].baddbmm_(h_prev, w_ts[0])
        a[1].baddbmm_(h_prev, w_ts[1])
        r, zg, n, hn = z_t
        torch.sigmoid(a[:2], out=z_t[:2])
        torch.baddbmm(b_hn, h_prev, w_ts[2], out=hn)
        kernels.tanh(torch.addcmul(a[2], r, hn, out=n), n)
        torch.sub(h_prev, n, out=h_next).mul_(zg).add_(n)  # n + z (h - n)
    return {"x1": x1, "h": h, "z": z}


def _backward(model, cache, dh_out: torch.Tensor, ws: Workspace, probe=None):
    """As the vanilla RNN's backward."""
    z, h = cache["z"], cache["h"]  # z is overwritten: da_r, da_z, da_n, d(W_n h + b_hn)
    if not probe and cache.get("small"):  # as the forward: the small-size loop
        (_, n_models, _, _, hid), d = z.shape, cache["x"].shape[-1] + 1
        d_w = [h.new_empty((n_models, hid, hid)) for _ in range(3)]  # per gate r, z, n: dW_g^T
        d_ub = [h.new_empty((n_models, d, hid)) for _ in range(3)]  # [dU_g; db_g]^T
        kernels.loops(h.device).gru_backward_small(z, h, cache["x"], model.W, dh_out, d_w, d_ub)
        return {**toolkit.weight_grads(d_w, d_ub), "b_hn": z[3].sum((1, 2))}
    dh, back = toolkit.dh_steps(dh_out, ws, model.W.split(model.spec.hidden_size, 1))
    direct = ws.get("direct", dh.shape, dh)  # dh_t z: the path through h_t = ... + z h_{t-1}
    tmp = ws.get("tmp", dh.shape, dh)
    if not probe and (ops := kernels.loops(h.device)):  # the loop below, compiled
        x1, (_, n_models, _, _, hid) = cache["x1"], z.shape
        d_w = [h.new_empty((n_models, hid, hid)) for _ in range(3)]  # per gate r, z, n: dW_g^T
        d_ub = [h.new_empty((n_models, x1.shape[-1], hid)) for _ in range(3)]  # [dU_g; db_g]^T
        bufs = toolkit.dh_bufs(dh_out, ws)
        ops.gru_backward(z, h, x1, model.W, dh_out, direct, tmp, *bufs, d_w, d_ub, toolkit.CHUNK)
        return {**toolkit.weight_grads(d_w, d_ub), "b_hn": z[3].sum((1, 2))}
    zs, hs, sums = z.unbind(2), h.unbind(1), []
    for start, stop in toolkit.chunks(len(zs)):
        for t in range(stop - 1, start - 1, -1):
            if probe:
                probe(t + 1, (dh,))
            r, zg, n, hn = zs[t]
            torch.sub(hs[t], n, out=tmp).mul_(dh)  # dLoss/dz
            torch.mul(dh, zg, out=direct)
            aten.sigmoid_backward.grad_input(tmp, zg, grad_input=zg)
            torch.sub(dh, direct, out=tmp)  # dLoss/dn = dh (1 - z)
            aten.tanh_backward.grad_input(tmp, n, grad_input=n)
            torch.mul(n, hn, out=tmp)  # dLoss/dr
            torch.mul(n, r, out=hn)
            aten.sigmoid_backward.grad_input(tmp, r, grad_input=r)
            if t > 0 or probe:
                dh = back(t, [r, zg, hn]).add_(direct)
        if not probe:  # W_r, W_z, W_n (through W_n h + b_hn); U_r, U_z, U_n (through n)
            h_prev, x1, da = h[:, start:stop], cache["x1"][:, start:stop], z[:, :, start:stop]
            toolkit.add_products(
                sums, [(h_prev, da[g]) for g in (0, 1, 3)] + [(x1, da[g]) for g in range(3)]
            )
    if probe:
        return probe(0, (dh,))
    return {**toolkit.weight_grads(sums[:3], sums[3:]), "b_hn": z[3].sum((1, 2))}


class GRU(MatrixCell):
    name, label = "gru", "GRU"
    gates = 3
    candidate = 2  # the block of n, in gate order r, z, n
    floats_per_unit = 13
    torch_baseline = nn.GRU

    def init_extra(self, spec, gen):
        h = spec.hidden_size
        return {"b_hn": INITS[spec.init].bias((h,), h, gen)}  # inside r * (W_hn h + b_hn)

    def transcendentals(self, spec):
        return 1, 2  # tanh(n); sigmoid(r, z)

    def step(self, model, state, xp_t):
        h = state[0]
        xr, xz, xn = xp_t.chunk(3, -1)
        hr, hz, hn = torch.bmm(h, model.W.transpose(1, 2)).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * (hn + model.b_hn[:, None]))
        return ((1 - z) * n + z * h,)

    def baseline_module(self, model, e):
        zeros = torch.zeros(2 * model.spec.hidden_size, dtype=model.b.dtype)
        b_hh = torch.cat([zeros, model.b_hn[e]])  # r, z: no second bias; n: b_hn
        net = nn.GRU(model.U.shape[-1], model.spec.hidden_size)
        return load_baseline(net, U=model.U[e], W=model.W[e], b=model.b[e], b_hh=b_hh)

    forward, backward = staticmethod(_forward), staticmethod(_backward)
    compiled_loops = True

    def compiled_probe(self, ops, model, cache, dh_last, ws, stats):
        direct, tmp = (ws.get(name, dh_last.shape, dh_last) for name in ("direct", "tmp"))
        bufs = toolkit.dh_bufs(dh_last, ws)
        ops.gru_probe(cache["z"], cache["h"], model.W, dh_last, direct, tmp, *bufs, *stats)
        return True
