"""Hand-written backpropagation through time for ensembles: the training loss and its gradients.

`loss_and_grads` returns what `autograd_loss_and_grads` returns (per model the batch
mean of `Task.example_loss`, and the gradients of the sum of the active models' losses), computed
without building an autograd graph over the time loop:

1. the input projection U x_t + b for every step is one matmul (a column of ones carries b);
2. forward, under no_grad, into buffers laid out model-major (E, L, B, .), allocated once per call
   or kept in a `Workspace` between calls: per step one `baddbmm` into a contiguous buffer (in
   place into a strided slice falls back to one addmm per model) plus elementwise ops with out=;
3. the read-out and the loss go through autograd on the detached hidden states (no time loop);
4. the backward recursion walks the buffers back in time with one `bmm` per step, writing the
   pre-activation gradients da_t over the forward buffer that no longer needs them;
5. dW, dU and db for all steps at once: (E, G*H, L*B) x (E, L*B, H) and a thin matmul.

Every loop walks `unbind` views (indexing x[t] inside an autograd loop costs O(L^2) in the
backward); threads and denormal flushing are the caller's (`runtime.setup`).
Everything is batched over the model axis only, so a model whose states overflow to inf/NaN never
touches another model's numbers. Models that are not active get exactly zero gradients.
Vanilla RNN (every nonlinearity) and LSTM have a hand-written backward; GRU uses autograd.
`step_vjp` reuses the forward buffers for the gradient-through-time probe
(`gradients.gradient_profile`): one bmm per step back, no per-step autograd graph.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gates, O outputs.
"""

from __future__ import annotations

import torch

from .models import Ensemble
from .tasks import Task

aten = torch.ops.aten


class Workspace:
    """Buffers kept between calls: a fresh large buffer is page-faulted again at every call."""

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buf = self._buffers.get(name)
        if (
            buf is None
            or buf.shape != shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._buffers[name] = like.new_empty(shape)
        return buf


def loss_and_grads(
    model: Ensemble,
    task: Task,
    x: torch.Tensor,
    y: torch.Tensor,
    active: torch.Tensor,
    workspace: Workspace | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x (L, E, B, D), y as `Task.example_loss` wants, active (E,) bool ->
    (loss (E,) detached, grads aligned with list(model.parameters()))."""
    cell = model.spec.cell
    if cell not in FORWARD:
        return autograd_loss_and_grads(model, task, x, y, active)
    ws = workspace or Workspace()
    with torch.no_grad():
        cache = FORWARD[cell](model, x, ws)
        h = cache["h"]  # (E, L+1, B, H), h[:, 0] the initial state
    loss, dh_out, d_v, d_c = _readout_grads(model, task, h, y, active)
    with torch.no_grad():
        d_w, d_u, d_b = BACKWARD[cell](model, cache, dh_out, ws)
        grads = {"W": d_w, "U": d_u, "b": d_b, "V": d_v, "c": d_c}
        return loss, [_masked(grads[name], active) for name, _ in model.named_parameters()]


def autograd_loss_and_grads(model: Ensemble, task: Task, x, y, active):
    """The reference: autograd through the whole time loop (what train.py does)."""
    params = list(model.parameters())
    with torch.enable_grad():
        loss = task.example_loss(model(x, task.every_step), y).mean(1)  # (E,)
        grads = torch.autograd.grad(torch.where(active, loss, 0).sum(), params)
    return loss.detach(), [_masked(g, active) for g in grads]


def _masked(g: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Zero the gradient of inactive models (their states may hold NaN times a zero seed)."""
    return torch.where(active.view((-1,) + (1,) * (g.dim() - 1)), g, g.new_zeros(()))


def _readout_grads(model: Ensemble, task: Task, h: torch.Tensor, y, active):
    """Loss (E,) and its gradients wrt the hidden states read out, V and c, through autograd.

    h (E, L+1, B, H) -> dh_out (E, B, H) for the last step only, or (E, L, B, H) for h_1..h_L.
    """
    read = h[:, -1] if not task.every_step else h[:, 1:].transpose(0, 1)  # (E,B,H) | (L,E,B,H)
    read = read.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = task.example_loss(model.readout(read), y).mean(1)  # (E,)
        dh, d_v, d_c = torch.autograd.grad(
            torch.where(active, loss, 0).sum(), [read, model.V, model.c]
        )
    return loss.detach(), (dh.transpose(0, 1) if task.every_step else dh), d_v, d_c


def _input_projection(model: Ensemble, x: torch.Tensor, ws: Workspace):
    """U x_t + b for every step, xp (E, L, B, G*H), by one matmul of x1 = [x, 1] (E, L*B, D+1).

    A column of ones carries b (a broadcast bias would cost a copy), and da^T x1 gives [dU, db].
    """
    n_steps, n_models, batch, d = x.shape
    x1 = ws.get("x1", (n_models, n_steps * batch, d + 1), model.W)
    x1[..., :d].copy_(x.transpose(0, 1).reshape(n_models, n_steps * batch, d))
    x1[..., d].fill_(1)
    xp = ws.get("xp", (n_models, n_steps, batch, model.W.shape[1]), model.W)
    u_b = torch.cat([model.U, model.b[..., None]], 2)  # (E, G*H, D+1)
    torch.bmm(x1, u_b.transpose(1, 2), out=xp.view(n_models, n_steps * batch, -1))
    return xp, x1


def _weight_grads(da: torch.Tensor, h: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """dW, dU, db summed over every step: one (E, G*H, L*B) x (E, L*B, H) matmul and a thin one.

    da (E, L, B, G*H) pre-activation gradients, h (E, L+1, B, H) states, x1 as in
    `_input_projection`.
    """
    n_models, n_steps, batch, gh = da.shape
    da_flat = da.view(n_models, n_steps * batch, gh).transpose(1, 2)  # (E, G*H, L*B)
    h_prev = h[:, :n_steps].reshape(n_models, n_steps * batch, -1)  # (E, L*B, H), a view
    d_ub = torch.bmm(x1.transpose(1, 2), da_flat.transpose(1, 2))  # (E, D+1, G*H): 2x faster
    d_ub = d_ub.transpose(1, 2)  # than (E, G*H, L*B) x (E, L*B, D+1), a thin output
    return torch.bmm(da_flat, h_prev), d_ub[..., :-1].contiguous(), d_ub[..., -1].contiguous()


def _dh_steps(model: Ensemble, dh_out: torch.Tensor, ws: Workspace):
    """dLoss/dh at the last step, and a function giving dLoss/dh_{t} from da_{t+1}."""
    every = dh_out.dim() == 4  # (E, L, B, H) for h_1..h_L, else (E, B, H) for h_L
    last = dh_out[:, -1] if every else dh_out
    bufs = [ws.get("dh0", last.shape, last), ws.get("dh1", last.shape, last)]

    def back(t: int, da_next: torch.Tensor) -> torch.Tensor:
        """t >= 1: dLoss/dh_t = (read-out term at t) + da_{t+1} W."""
        out = bufs[t % 2]
        if every:
            return torch.baddbmm(dh_out[:, t - 1], da_next, model.W, out=out)
        return torch.bmm(da_next, model.W, out=out)

    return last, back


# --- vanilla RNN: h_t = f(a_t), a_t = W h_{t-1} + U x_t + b -----------------------------------


def _rnn_forward(model: Ensemble, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    xp, x1 = _input_projection(model, x, ws)  # xp is overwritten with dLoss/da by the backward
    h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.W)  # (E, L+1, B, H)
    h[:, 0].zero_()
    a_t = ws.get("a_t", (n_models, batch, hid), model.W)  # (E, B, H)
    f = RNN_F[model.spec.nonlinearity]
    w_t = model.W.transpose(1, 2)  # (E, H, H)
    for xp_t, h_prev, h_next in zip(
        xp.unbind(1), h[:, :n_steps].unbind(1), h[:, 1:].unbind(1), strict=True
    ):
        # out= a contiguous buffer: in place into the strided xp_t falls back to one addmm per model
        torch.baddbmm(xp_t, h_prev, w_t, out=a_t)
        f(a_t, h_next)
    return {"x1": x1, "h": h, "da": xp}


def _rnn_backward(model: Ensemble, cache, dh_out: torch.Tensor, ws: Workspace):
    """dh_out: dLoss/dh_L (E, B, H), or dLoss/dh_1..h_L (E, L, B, H) for every-step tasks."""
    h, da = cache["h"], cache["da"]
    f_grad = RNN_F_GRAD[model.spec.nonlinearity]
    dh, back = _dh_steps(model, dh_out, ws)
    das, hs = da.unbind(1), h.unbind(1)
    for t in range(len(das) - 1, -1, -1):
        f_grad(dh, hs[t + 1], das[t])  # da_{t+1} = dh_{t+1} * f'(a_{t+1}), from h = f(a)
        if t > 0:
            dh = back(t, das[t])
    return _weight_grads(da, h, cache["x1"])


RNN_F = {  # f(a, out): out = f(a)
    "linear": lambda a, out: out.copy_(a),
    "tanh": lambda a, out: torch.tanh(a, out=out),
    "sigmoid": lambda a, out: torch.sigmoid(a, out=out),
    "relu": lambda a, out: torch.clamp_min(a, 0, out=out),
}

RNN_F_GRAD = {  # (dh, h, out): out = dh * f'(a) computed from h = f(a), as autograd does
    "linear": lambda dh, h, out: out.copy_(dh),
    "tanh": lambda dh, h, out: aten.tanh_backward.grad_input(dh, h, grad_input=out),
    "sigmoid": lambda dh, h, out: aten.sigmoid_backward.grad_input(dh, h, grad_input=out),
    "relu": lambda dh, h, out: aten.threshold_backward.grad_input(dh, h, 0, grad_input=out),
}


# --- LSTM: gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t) -------------------------


def _lstm_forward(model: Ensemble, x: torch.Tensor, ws: Workspace) -> dict[str, torch.Tensor]:
    n_steps, n_models, batch, _ = x.shape
    hid = model.spec.hidden_size
    z, x1 = _input_projection(model, x, ws)  # (E, L, B, 4H): U x + b, then the gate values
    h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.W)  # (E, L+1, B, H)
    c = ws.get("c", (n_models, n_steps + 1, batch, hid), model.W)
    tc = ws.get("tc", (n_models, n_steps, batch, hid), model.W)  # tanh(c_t), t = 1..L
    a_t = ws.get("a_t", (n_models, batch, 4 * hid), model.W)  # (E, B, 4H) pre-activations
    h[:, 0].zero_()
    c[:, 0].zero_()
    w_t = model.W.transpose(1, 2)  # (E, H, 4H)
    steps = zip(
        z.unbind(1), h[:, :n_steps].unbind(1), h[:, 1:].unbind(1),
        c[:, :n_steps].unbind(1), c[:, 1:].unbind(1), tc.unbind(1), strict=True,
    )  # fmt: skip
    for z_t, h_prev, h_next, c_prev, c_next, tc_t in steps:
        torch.baddbmm(z_t, h_prev, w_t, out=a_t)
        torch.sigmoid(a_t[..., : 2 * hid], out=z_t[..., : 2 * hid])  # i, f
        torch.tanh(a_t[..., 2 * hid : 3 * hid], out=z_t[..., 2 * hid : 3 * hid])  # g
        torch.sigmoid(a_t[..., 3 * hid :], out=z_t[..., 3 * hid :])  # o
        i, f, g, o = z_t.chunk(4, -1)
        torch.mul(f, c_prev, out=c_next).addcmul_(i, g)
        torch.tanh(c_next, out=tc_t)
        torch.mul(o, tc_t, out=h_next)
    return {"x1": x1, "h": h, "z": z, "c": c, "tc": tc}


def _lstm_backward(model: Ensemble, cache, dh_out: torch.Tensor, ws: Workspace):
    z, c, tc = cache["z"], cache["c"], cache["tc"]  # z is overwritten with dLoss/da
    hid = model.spec.hidden_size
    dh, back = _dh_steps(model, dh_out, ws)
    # out= buffers throughout: a fresh (E, B, H) temporary per op is page-faulted every time
    dc = ws.get("dc", dh.shape, dh).zero_()  # dLoss/dc_t through c_{t+1}
    tmp = ws.get("tmp", dh.shape, dh)
    d_gates = ws.get("d_gates", (*dh.shape[:2], 4 * hid), dh)  # dLoss/d(gate value)
    d_i, d_f, d_g, d_o = d_gates.chunk(4, -1)
    zs, ifs = z.unbind(1), z[..., : 2 * hid].unbind(1)  # views per step, made once
    i_s, f_s = z[..., :hid].unbind(1), z[..., hid : 2 * hid].unbind(1)
    gs, os_ = z[..., 2 * hid : 3 * hid].unbind(1), z[..., 3 * hid :].unbind(1)
    c_prevs, tcs = c.unbind(1), tc.unbind(1)
    for t in range(len(zs) - 1, -1, -1):
        i, f, g, o, tc_t = i_s[t], f_s[t], gs[t], os_[t], tcs[t]  # overwritten by gradients
        torch.mul(dh, o, out=tmp)
        dc.add_(aten.tanh_backward.grad_input(tmp, tc_t, grad_input=tmp))
        torch.mul(dc, g, out=d_i)
        torch.mul(dc, c_prevs[t], out=d_f)
        torch.mul(dc, i, out=d_g)
        torch.mul(dh, tc_t, out=d_o)
        dc.mul_(f)  # now dLoss/dc_{t-1}
        aten.sigmoid_backward.grad_input(d_gates[..., : 2 * hid], ifs[t], grad_input=ifs[t])
        aten.tanh_backward.grad_input(d_g, g, grad_input=g)
        aten.sigmoid_backward.grad_input(d_o, o, grad_input=o)
        if t > 0:
            dh = back(t, zs[t])
    return _weight_grads(z, cache["h"], cache["x1"])


FORWARD = {"rnn": _rnn_forward, "lstm": _lstm_forward}
BACKWARD = {"rnn": _rnn_backward, "lstm": _lstm_backward}


# --- gradient-through-time probes: dE_T/dh_k for every k, without autograd's per-step graph ------


def step_vjp(model: Ensemble, cache: dict, t: int, grad: tuple[torch.Tensor, ...]):
    """One step back: grad wrt state_t (h_t[, c_t]) -> grad wrt state_{t-1}, for t = 1..L.

    Uses the states stored by the forward (FORWARD[cell]), so nothing is recomputed: one bmm.
    """
    if model.spec.cell == "rnn":
        da = RNN_F_GRAD[model.spec.nonlinearity](
            grad[0], cache["h"][:, t], torch.empty_like(grad[0])
        )
        return (torch.bmm(da, model.W),)
    hid = model.spec.hidden_size
    dh, dc = grad
    i, f, g, o = cache["z"][:, t - 1].chunk(4, -1)  # gate values of step t
    tc_t = cache["tc"][:, t - 1]
    dc = dc + aten.tanh_backward(dh * o, tc_t)
    da = torch.empty(*dh.shape[:2], 4 * hid, dtype=dh.dtype, device=dh.device)
    d_i, d_f, d_g, d_o = da.chunk(4, -1)
    aten.sigmoid_backward.grad_input(dc * g, i, grad_input=d_i)
    aten.sigmoid_backward.grad_input(dc * cache["c"][:, t - 1], f, grad_input=d_f)
    aten.tanh_backward.grad_input(dc * i, g, grad_input=d_g)
    aten.sigmoid_backward.grad_input(dh * tc_t, o, grad_input=d_o)
    return torch.bmm(da, model.W), dc * f
