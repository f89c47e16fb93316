"""The cells' toolkit for a hand-written backpropagation through time: what a cell's `forward`
and `backward` (`rnnbench.cells.Cell`) need besides torch. This is the public API for authors of a
cell with a hand-written backward (docs/custom-cell.md); `rnnbench.cells.rnn` is the worked
example.

- `Workspace`: buffers kept between calls (a fresh large buffer is page-faulted at every call);
- the inputs: `inputs` (x with a column of ones, [x, 1], so that one matmul gives U x + b),
  `input_weights` (per gate [U_g, b_g]^T, contiguous), `gate_weights` (and W_g^T),
  `joint_inputs` (h and [x, 1] side by side in one row per step, for one matmul per step: the
  LSTM's layout);
- the backward's state gradients: `dh_bufs` (two alternating (E, B, H) buffers) and `dh_steps`
  (dLoss/dh_t from the next step's pre-activation gradients, read-out terms included);
- the weight gradients: `chunks` of steps, `add_products` (sum a^T b over a chunk's steps),
  `weight_grads` and `joint_weight_grads` (the per-gate sums as dW, dU, db).

A `model` argument is anything with the ensemble's weights: U (E, G*H, D), b (E, G*H),
`spec.hidden_size` and, for `gate_weights` and `joint_inputs`, W (E, G*H, H)
(`rnnbench.models.Ensemble`). examples/research_cells/exprnn.py is a plugin cell built on it.

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gate blocks.
"""

from __future__ import annotations

import torch

CHUNK = 16  # steps per weight-gradient product (benchmarks/README.md measures the choice)


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


def inputs(model, x: torch.Tensor, ws: Workspace):
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


def input_weights(model) -> list[torch.Tensor]:
    """Per gate g the contiguous [U_g, b_g]^T (E, D+1, H): x1_t [U_g, b_g]^T = U_g x_t + b_g."""
    u_b = torch.cat([model.U, model.b[..., None]], 2).transpose(1, 2)  # (E, D+1, G*H)
    return [u.contiguous() for u in u_b.split(model.spec.hidden_size, 2)]


def gate_weights(model) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per gate g the contiguous [U_g, b_g]^T (E, D+1, H) and W_g^T (E, H, H): W_g^T copied once
    is faster than a transposed view in every step's matmul."""
    hid = model.spec.hidden_size
    return input_weights(model), [w.transpose(1, 2).contiguous() for w in model.W.split(hid, 1)]


def joint_inputs(model, x: torch.Tensor, ws: Workspace):
    """hx (E, L+1, B, H+D+1): per step t the state h_t and [x_{t+1}, 1] side by side, and
    wx = [W^T; U^T; b] (E, H+D+1, G*H), so that hx_{t-1} wx = W h_{t-1} + U x_t + b.

    One matmul per step then gives all the pre-activations (no thin input matmul), and one
    matmul hx^T da all the weight gradients (`joint_weight_grads`); hx[..., :H] are the states.
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


def chunks(n_steps: int) -> list[tuple[int, int]]:
    """Steps start..stop-1 in chunks of CHUNK, from the last: [(L-CHUNK, L), ..., (0, r)]."""
    return [(max(0, stop - CHUNK), stop) for stop in range(n_steps, 0, -CHUNK)]


def flat(t: torch.Tensor) -> torch.Tensor:
    """(E, n, B, W) with contiguous (n, B, W) blocks -> the view (E, n*B, W)."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def add_products(sums: list[torch.Tensor], pairs) -> list[torch.Tensor]:
    """sums[i] += a^T b for the i-th pair (a (E, n, B, k), b (E, n, B, m)) of one chunk of steps,
    (E, k, n*B) x (E, n*B, m); the first chunk's products start the sums. a^T b into (E, k, m)
    is faster than b^T a, most for a thin a = [x, 1] (k = D+1)."""
    for i, (a, b) in enumerate(pairs):
        a_t, b = flat(a).transpose(1, 2), flat(b)
        if i < len(sums):
            sums[i].baddbmm_(a_t, b)
        else:
            sums.append(torch.bmm(a_t, b))
    return sums


def weight_grads(d_ws: list[torch.Tensor], d_ubs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per gate dW_g^T (E, H, H) and [dU_g, db_g]^T (E, D+1, H) summed over steps -> W, U, b."""
    d_ub = torch.cat(d_ubs, 2).transpose(1, 2)  # (E, G*H, D+1)
    return {
        "W": torch.cat(d_ws, 2).transpose(1, 2).contiguous(),
        "U": d_ub[..., :-1].contiguous(),
        "b": d_ub[..., -1].contiguous(),
    }


def joint_weight_grads(da: torch.Tensor, hx: torch.Tensor, hid: int) -> dict[str, torch.Tensor]:
    """da (E, L, B, G*H) pre-activation gradients -> dW, dU, db summed over every step, as
    [dW^T; dU^T; db] = hx_{0..L-1}^T da, one (E, H+D+1, L*B) x (E, L*B, G*H) matmul (the LSTM:
    its da are its gate values overwritten, kept anyway, so chunks gained nothing there)."""
    (d,) = add_products([], [(hx[:, : da.shape[1]], da)])
    return joint_split(d, hid)


def joint_split(d: torch.Tensor, hid: int) -> dict[str, torch.Tensor]:
    """[dW^T; dU^T; db] (E, H+D+1, G*H) -> dW, dU, db."""
    return {
        "W": d[:, :hid].transpose(1, 2).contiguous(),
        "U": d[:, hid:-1].transpose(1, 2).contiguous(),
        "b": d[:, -1].contiguous(),
    }


def dh_bufs(dh_out: torch.Tensor, ws: Workspace) -> list[torch.Tensor]:
    """Two (E, B, H) buffers that dLoss/dh_t alternates between, t even and odd."""
    shape = dh_out.shape[:1] + dh_out.shape[-2:]
    return [ws.get("dh0", shape, dh_out), ws.get("dh1", shape, dh_out)]


def dh_steps(dh_out: torch.Tensor, ws: Workspace, blocks: list[torch.Tensor]):
    """dLoss/dh at the last step, and a function giving dLoss/dh_t from da_{t+1}, per block of W
    (rows of W, (E, k H, H) each) the pre-activation gradients da (E, B, k H) of its gates."""
    every = dh_out.dim() == 4  # (E, L, B, H) for h_1..h_L, else (E, B, H) for h_L
    last = dh_out[:, -1] if every else dh_out
    bufs = dh_bufs(dh_out, ws)

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
