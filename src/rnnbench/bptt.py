"""Hand-written backpropagation through time for ensembles: the training loss and its gradients.

`loss_and_grads` returns what `autograd_loss_and_grads` returns (per model the batch
mean of `Task.example_loss`, and the gradients of the sum of the active models' losses), computed
without building an autograd graph over the time loop:

1. per step, U x_t + b as a thin matmul of x1_t = [x_t, 1] (a column of ones carries b) into a
   contiguous buffer, then the recurrent matmul accumulated in place into it (no copy); the
   LSTM keeps [h_t, x_{t+1}, 1] side by side instead and needs one matmul (`_joint_inputs`);
2. forward, under no_grad, into buffers laid out model-major (E, L, B, H), allocated once per
   call or kept in a `Workspace` between calls; GRU gates gate-major (4, E, L, B, H), one matmul
   per gate, so that every elementwise op runs on contiguous (B, H) blocks; LSTM gates in rows
   (E, L, B, 4H), one matmul for all four, and the elementwise step fused (`kernels`);
3. the read-out and the loss go through autograd on the detached hidden states (no time loop);
4. the backward recursion walks the buffers back in time with one `bmm` per gate block and step,
   writing the pre-activation gradients da_t (a buffer of their own for the vanilla RNN, over
   the gate values for LSTM and GRU, no longer needed);
5. dW, dU and db: for the vanilla RNN and the GRU accumulated every CHUNK steps of the backward,
   while those steps' da are still in cache, per gate (E, H, n*B) x (E, n*B, H) and a thin
   matmul (so the RNN keeps da for CHUNK steps only); for the LSTM one
   (E, H+D+1, L*B) x (E, L*B, 4H) matmul after the loop.

Every loop walks `unbind` views (indexing x[t] inside an autograd loop costs O(L^2) in the
backward); threads and denormal flushing are the caller's (`runtime.setup`). Every cell's loops
(without a probe) run compiled where `kernels` builds: the same calls in C++, one Python call per
pass instead of a few per step, each thread running its share of the models (training steps
1.1-1.2x faster for the RNN and 1.24-1.39x for the GRU at H = 64-128).
Everything is batched over the model axis only, so a model whose states overflow to inf/NaN never
touches another model's numbers. Models that are not active get exactly zero gradients.
Each cell's forward and backward loops live in its module (`cells`); this module holds what
they share. A cell without them (`Cell.backward` None) is differentiated by autograd.
The gradient-through-time probe (`gradients.gradient_profile`) runs the same backward with a
`probe` callback that sees (and may rescale) every state's gradient, without the weight gradients.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gates, O outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from . import kernels
from .tasks import Task

if TYPE_CHECKING:
    from .models import Ensemble

aten = torch.ops.aten


class Workspace:
    """Buffers kept between calls: a fresh large buffer is page-faulted again at every call."""

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor, init=None) -> torch.Tensor:
        """The buffer `name`; init(buffer) runs once, when it is allocated."""
        buf = self._buffers.get(name)
        if (
            buf is None
            or buf.shape != shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._buffers[name] = like.new_empty(shape)
            if init:
                init(buf)
        return buf


def loss_and_grads(
    model: Ensemble,
    task: Task,
    x: torch.Tensor,
    y: torch.Tensor,
    active: torch.Tensor,
    workspace: Workspace | None = None,
    omega: float = 0.0,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x (L, E, B, D), y as `Task.example_loss` wants, active (E,) bool ->
    (loss (E,) detached, grads aligned with list(model.parameters())).

    A cell without a hand-written backward (`Cell.backward`) goes through autograd instead.
    omega > 0 adds omega x the gradient of the cell's regulariser Omega (`Cell.omega`, Pascanu
    et al. 2013), computed from every state and its loss gradient (a second backward pass)."""
    cell = model.cell
    if cell.backward is None:
        return autograd_loss_and_grads(model, task, x, y, active)
    ws = workspace or Workspace()
    with torch.no_grad():
        cache = cell.forward(model, x, ws)
        h = cache["h"]  # (E, L+1, B, H), h[:, 0] the initial state
    loss, dh_out, d_v, d_c = _readout_grads(model, task, h, y, active)
    with torch.no_grad():
        grads = {**cell.backward(model, cache, dh_out, ws), "V": d_v, "c": d_c}
        if omega:
            state_grads = _state_grads(model, cache, dh_out, ws)  # (E, L+1, B, H)
            for name, g in cell.omega(model, h, state_grads).items():
                grads[name] = grads[name] + omega * g
        return loss, [_masked(grads[name], active) for name, _ in model.named_parameters()]


def _state_grads(model: Ensemble, cache, dh_out: torch.Tensor, ws: Workspace) -> torch.Tensor:
    """dLoss/dh_k for every state k = 0..L, (E, L+1, B, H): the backward again, with a probe."""
    out = torch.empty_like(cache["h"])

    def keep(k: int, grads: tuple[torch.Tensor, ...]) -> None:
        out[:, k] = grads[0]

    model.cell.backward(model, cache, dh_out, ws, keep)
    return out


def path(model: Ensemble) -> str:
    """Which code computes this model's gradients: 'compiled' (the hand-written BPTT's compiled
    loops), 'python' (its Python loops) or 'autograd' (the cell's reference step)."""
    if model.cell.backward is None:
        return "autograd"
    return "compiled" if kernels.loops(model.U.device) else "python"


def autograd_loss_and_grads(model: Ensemble, task: Task, x, y, active):
    """The reference: autograd through the whole time loop of `Ensemble.forward`."""
    params = list(model.parameters())
    with torch.enable_grad():
        loss = task.example_loss(model(x, task.every_step), y).mean(1)  # (E,)
        grads = torch.autograd.grad(torch.where(active, loss, 0).sum(), params)
    return loss.detach(), [_masked(g, active) for g in grads]


def _masked(g: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Zero the gradient of inactive models (their states may hold NaN times a zero seed)."""
    if bool(active.all()):
        return g
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


def _inputs(model: Ensemble, x: torch.Tensor, ws: Workspace):
    """x1 = [x, 1] (E, L, B, D+1) and its steps x1_t (E, B, D+1): x1_t [U, b]^T = U x_t + b.

    A column of ones carries b (a broadcast bias would cost a copy), and da^T x1 gives [dU, db].
    The projection is done per step, into the buffer the recurrent matmul then accumulates into:
    one (E, L, B, G*H) projection for all steps would be written to memory and read back.
    """
    n_steps, n_models, batch, d = x.shape
    x1 = ws.get("x1", (n_models, n_steps, batch, d + 1), model.U)
    x1[..., :d].copy_(x.transpose(0, 1))
    x1[..., d].fill_(1)
    return x1, x1.unbind(1)


def _gate_weights(model: Ensemble) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per gate g the contiguous [U_g, b_g]^T (E, D+1, H) and W_g^T (E, H, H): W_g^T copied once
    is 10% faster than a transposed view in every step's matmul."""
    hid = model.spec.hidden_size
    return _input_weights(model), [w.transpose(1, 2).contiguous() for w in model.W.split(hid, 1)]


def _input_weights(model: Ensemble) -> list[torch.Tensor]:
    """Per gate g the contiguous [U_g, b_g]^T (E, D+1, H): x1_t [U_g, b_g]^T = U_g x_t + b_g."""
    u_b = torch.cat([model.U, model.b[..., None]], 2).transpose(1, 2)  # (E, D+1, G*H)
    return [u.contiguous() for u in u_b.split(model.spec.hidden_size, 2)]


def _joint_inputs(model: Ensemble, x: torch.Tensor, ws: Workspace):
    """hx (E, L+1, B, H+D+1): per step t the state h_t and [x_{t+1}, 1] side by side, and
    wx = [W^T; U^T; b] (E, H+D+1, G*H), so that hx_{t-1} wx = W h_{t-1} + U x_t + b.

    One matmul per step then gives all the pre-activations (no thin input matmul), and one
    matmul hx^T da all the weight gradients (`_joint_weight_grads`); hx[..., :H] are the states.
    Only x_1 is copied here: the forward writes x_{t+1} beside h_t as it goes (`kernels`).
    """
    n_steps, n_models, batch, d = x.shape
    hid = model.spec.hidden_size
    shape = (n_models, n_steps + 1, batch, hid + d + 1)
    hx = ws.get(f"hx{hid}", shape, model.W, _init_joint)  # by H: h_0 and the ones stay put
    hx[:, 0, :, hid:-1].copy_(x[0])
    wx = torch.cat([model.W.transpose(1, 2), model.U.transpose(1, 2), model.b[:, None]], 1)
    return hx, wx


def _init_joint(hx: torch.Tensor) -> None:
    """h_0 = 0, the column of ones, and x_{L+1} (never read) = 0."""
    hx.zero_()[..., -1].fill_(1)


CHUNK = 16  # steps per weight-gradient product: at H = 128, T = 100, 5-10% faster RNN and GRU
# training steps than one product over all steps (no gain for the LSTM)


def _chunks(n_steps: int) -> list[tuple[int, int]]:
    """Steps start..stop-1 in chunks of CHUNK, from the last: [(L-CHUNK, L), ..., (0, r)]."""
    return [(max(0, stop - CHUNK), stop) for stop in range(n_steps, 0, -CHUNK)]


def _flat(t: torch.Tensor) -> torch.Tensor:
    """(E, n, B, W) with contiguous (n, B, W) blocks -> the view (E, n*B, W)."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def _add_products(sums: list[torch.Tensor], pairs) -> list[torch.Tensor]:
    """sums[i] += a^T b for the i-th pair (a (E, n, B, k), b (E, n, B, m)) of one chunk of steps,
    (E, k, n*B) x (E, n*B, m); the first chunk's products start the sums. a^T b into (E, k, m)
    was 1.5x faster than b^T a (LSTM, gate-major), and 2x for a thin a = [x, 1] (k = D+1)."""
    for i, (a, b) in enumerate(pairs):
        a_t, b = _flat(a).transpose(1, 2), _flat(b)
        if i < len(sums):
            sums[i].baddbmm_(a_t, b)
        else:
            sums.append(torch.bmm(a_t, b))
    return sums


def _weight_grads(d_ws: list[torch.Tensor], d_ubs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per gate dW_g^T (E, H, H) and [dU_g, db_g]^T (E, D+1, H) summed over steps -> W, U, b."""
    d_ub = torch.cat(d_ubs, 2).transpose(1, 2)  # (E, G*H, D+1)
    return {
        "W": torch.cat(d_ws, 2).transpose(1, 2).contiguous(),
        "U": d_ub[..., :-1].contiguous(),
        "b": d_ub[..., -1].contiguous(),
    }


def _joint_weight_grads(da: torch.Tensor, hx: torch.Tensor, hid: int) -> dict[str, torch.Tensor]:
    """da (E, L, B, G*H) pre-activation gradients -> dW, dU, db summed over every step, as
    [dW^T; dU^T; db] = hx_{0..L-1}^T da, one (E, H+D+1, L*B) x (E, L*B, G*H) matmul (the LSTM:
    its da are its gate values overwritten, kept anyway, so chunks gained nothing there)."""
    (d,) = _add_products([], [(hx[:, : da.shape[1]], da)])
    return _joint_split(d, hid)


def _joint_split(d: torch.Tensor, hid: int) -> dict[str, torch.Tensor]:
    """[dW^T; dU^T; db] (E, H+D+1, G*H) -> dW, dU, db."""
    return {
        "W": d[:, :hid].transpose(1, 2).contiguous(),
        "U": d[:, hid:-1].transpose(1, 2).contiguous(),
        "b": d[:, -1].contiguous(),
    }


def _dh_bufs(dh_out: torch.Tensor, ws: Workspace) -> list[torch.Tensor]:
    """Two (E, B, H) buffers that dLoss/dh_t alternates between, t even and odd."""
    shape = dh_out.shape[:1] + dh_out.shape[-2:]
    return [ws.get("dh0", shape, dh_out), ws.get("dh1", shape, dh_out)]


def _dh_steps(dh_out: torch.Tensor, ws: Workspace, blocks: list[torch.Tensor]):
    """dLoss/dh at the last step, and a function giving dLoss/dh_t from da_{t+1}, per block of W
    (rows of W, (E, k H, H) each) the pre-activation gradients da (E, B, k H) of its gates."""
    every = dh_out.dim() == 4  # (E, L, B, H) for h_1..h_L, else (E, B, H) for h_L
    last = dh_out[:, -1] if every else dh_out
    bufs = _dh_bufs(dh_out, ws)

    def back(t: int, da_next: list[torch.Tensor]) -> torch.Tensor:
        """t >= 1: dLoss/dh_t = (read-out term at t) + sum over gates of da_{t+1} W_g."""
        out = bufs[t % 2]
        if every:
            torch.baddbmm(dh_out[:, t - 1], da_next[0], blocks[0], out=out)
        else:
            torch.bmm(da_next[0], blocks[0], out=out)
        for da, w in zip(da_next[1:], blocks[1:], strict=True):
            out.baddbmm_(da, w)
        return out

    return last, back
