"""expRNN (Lezcano-Casado & Martinez-Rubio 2019, "Cheap orthogonal constraints in neural
networks: a simple parametrization of the orthogonal and unitary group", ICML 2019), static
mode, ported from the authors' code: Lezcano/expRNN @ 830ec83, orthogonal.py (OrthogonalRNN,
Orthogonal.retraction, modrelu), initialization.py (henaff_init_, cayley_init_) and
1_copying.py (the learning rate of the orthogonal part, lr_orth = lr / 10).

    B = expm(A_up - A_up^T)           A_up: the strictly upper triangle of the parameter A
    h_t = modrelu(U x_t + h_{t-1} B)  (row vectors), modrelu(z) = sign(z) relu(|z| + b_mod)

B is orthogonal, so the recurrence neither explodes nor vanishes through B; it is computed once
per pass over a sequence (`prepare`), not once per step, by `expm`: scaling and squaring of the
degree-18 Taylor polynomial, each model scaled by its own norm. Not torch.linalg.matrix_exp:
its batched form chooses degree and scaling over the whole batch, so a model's B depended on
the other models of its ensemble (`rnnbench check-cell` found it), and with more than one
thread it is slow on a busy CPU (benchmarks/README.md). U is drawn as the authors' input kernel
(Kaiming normal, fan in D), b_mod from U(-0.01, 0.01). The authors' input kernel has no bias:
the ensemble's b starts at 0 and its learning rate is scaled to 0 (`lr_scales`), so it stays 0
(its gradient still counts in the norm that gradient clipping reads). The read-out is the
ensemble's (the authors draw theirs Kaiming normal, bias 0). The authors' expm is their Pade
expm32 (expm32.py); `expm` agrees with scipy's to 1e-14 (tests/test_research_cells.py).

A hand-written BPTT (`forward`, `backward`) built from rnnbench.toolkit trains it and runs its
gradient probes: modrelu's derivative is 1 where h != 0 (else 0) and its derivative in b_mod is
sign(h), both read from the stored states; dA is autograd's vector-Jacobian product of expm,
once per pass. `rnnbench check-cell exprnn:ExpRNN` checks it against autograd through `step`.
"""

import math
from dataclasses import dataclass

import torch

from rnnbench import toolkit
from rnnbench.cells import Cell, param, uniform


@dataclass(frozen=True)
class ExpRNNParams:
    skew_init: str = param(
        "henaff",
        "init of A: henaff (2x2 rotation blocks, angles U(-pi, pi)) or cayley (angles whose "
        "Cayley transform is uniform), the authors' initialization.py",
        choices=("henaff", "cayley"),
    )
    orth_lr_scale: float = param(
        0.1, "learning rate of A relative to the lr (the authors: lr_orth = lr / 10)", min=0
    )


class ExpRNN(Cell):
    name = "exprnn"
    label = "expRNN"
    uses = ()  # no ModelSpec field changes it: its own hyperparameters do
    Params = ExpRNNParams
    floats_per_unit = 6  # h and the pre-activation per example, step and unit, and buffers

    def init_recurrent(self, spec, gen):
        """A (H, H): the skew-symmetric block diagonal of 2x2 rotation generators."""
        h, n = spec.hidden_size, spec.hidden_size // 2
        if spec.hparams.skew_init == "henaff":  # henaff_init_: U(-pi, pi)
            angles = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
        else:  # cayley_init_: -sqrt((1 - cos s) / (1 + cos s)), s ~ U(0, pi/2)
            s = torch.rand(n, generator=gen, dtype=torch.float64) * (math.pi / 2)
            angles = -torch.sqrt((1 - torch.cos(s)) / (1 + torch.cos(s)))
        upper = torch.zeros(h - 1, dtype=torch.float64)
        upper[::2] = angles  # create_diag_: every other entry of the first superdiagonal
        a = torch.diag(upper, diagonal=1)
        return {"A": a - a.T}

    def init_input(self, spec, gen):
        """U Kaiming normal (gain sqrt(2), fan in D); b = 0 (the authors' kernel has none)."""
        std = math.sqrt(2 / spec.input_size)
        u = torch.randn(spec.hidden_size, spec.input_size, generator=gen, dtype=torch.float64)
        return {"U": u * std, "b": torch.zeros(spec.hidden_size, dtype=torch.float64)}

    def init_extra(self, spec, gen):
        return {"b_mod": uniform((spec.hidden_size,), 0.01, gen)}  # modrelu's bias

    def prepare(self, model):
        """B (E, H, H), once per pass."""
        return orthogonal(model.A)

    def step(self, model, state, xp_t, b):
        """state (h,), h (E, B, H); xp_t = U x_t + b (E, B, H); b = B from `prepare`."""
        z = xp_t + torch.bmm(state[0], b)  # h B: row vectors, as the authors' input.matmul(B)
        return (torch.sign(z) * torch.relu(z.abs() + model.b_mod[:, None]),)

    def lr_scales(self, model):
        return {"A": model.hparams.orth_lr_scale, "b": 0.0}

    def recurrent_weights(self, hidden):
        return hidden * hidden

    def recurrent_matrix(self, model):
        """W = B^T: h_t = modrelu(W h_{t-1} + U x_t) in column vectors."""
        return self.prepare(model).transpose(1, 2)

    def bound_factor(self, model):
        """sup |modrelu'| = 1 times sigma_max(B) (1: B is orthogonal)."""
        w = self.recurrent_matrix(model).detach().double()
        return torch.linalg.matrix_norm(w, ord=2)

    # --- the hand-written BPTT (rnnbench.toolkit), used for training and probes --------------

    @staticmethod
    def forward(model, x, ws):
        """x (L, E, B, D) -> every state h (E, L+1, B, H) and what the backward reads."""
        n_steps, n_models, batch, _ = x.shape
        hid = model.spec.hidden_size
        x1, _ = toolkit.inputs(model, x, ws)  # [x, 1]: x1_t [U, b]^T = U x_t + b
        (u_b,) = toolkit.input_weights(model)  # (E, D+1, H)
        b = model.cell.prepare(model)  # (E, H, H), once
        h = ws.get("h", (n_models, n_steps + 1, batch, hid), model.U)  # (E, L+1, B, H)
        xp = ws.get("xp", (n_steps, n_models, batch, hid), model.U)  # U x_t + b, every step
        torch.matmul(x1.transpose(0, 1), u_b, out=xp)  # one matmul; xp[t] contiguous
        sign = ws.get("sign_t", (n_models, batch, hid), model.U)
        h[:, 0].zero_()
        b_mod = model.b_mod[:, None]  # (E, 1, H)
        steps = zip(xp.unbind(0), h[:, :-1].unbind(1), h[:, 1:].unbind(1), strict=True)
        for z, h_prev, h_next in steps:  # per step: few ops, each on a contiguous block
            z.baddbmm_(h_prev, b)  # z = U x_t + b + h_{t-1} B
            torch.abs(z, out=h_next).add_(b_mod).relu_().mul_(torch.sign(z, out=sign))
        return {"x1": x1, "h": h, "B": b}

    @staticmethod
    def backward(model, cache, dh_out, ws, probe=None):
        """dh_out: dLoss/dh_L (E, B, H) or dLoss/dh_1..h_L (E, L, B, H) -> weight gradients;
        with a probe, probe(k, (dh_k,)) sees every state's gradient and none is returned."""
        h, x1, b = cache["h"], cache["x1"], cache["B"]
        n_models, _, batch, hid = h.shape
        da = ws.get("da", (n_models, toolkit.CHUNK, batch, hid), h)  # dLoss/dz of one chunk
        dh, back = toolkit.dh_steps(dh_out, ws, [b.transpose(1, 2).contiguous()])  # dz B^T
        d_mod = torch.zeros_like(model.b_mod)  # (E, H)
        alive = (h[:, 1:] != 0).to(h.dtype)  # (E, L, B, H): modrelu' (1 where h != 0), at once
        sums = []
        for start, stop in toolkit.chunks(h.shape[1] - 1):
            for t in range(stop - 1, start - 1, -1):
                if probe:
                    probe(t + 1, (dh,))
                da_t = da[:, t - start]
                torch.mul(dh, alive[:, t], out=da_t)  # modrelu' = 1 where h != 0
                if t > 0 or probe:
                    dh = back(t, [da_t])
            if not probe:
                n = stop - start
                chunk = da[:, :n]  # dLoss/dz_t, t = start..stop-1, beside h_{t+1}
                d_mod += (chunk * torch.sign(h[:, start + 1 : stop + 1])).sum((1, 2))
                toolkit.add_products(sums, [(h[:, start:stop], chunk), (x1[:, start:stop], chunk)])
        if probe:
            return probe(0, (dh,))
        d_b, d_ub = sums  # sum h_{t-1}^T dz_t = dLoss/dB (E, H, H); [dU^T; db] (E, D+1, H)
        with torch.enable_grad():  # dA: expm's vector-Jacobian product, once per pass
            a = model.A.detach().requires_grad_(True)
            (d_a,) = torch.autograd.grad(orthogonal(a), a, d_b)
        return {
            "A": d_a,
            "U": d_ub[:, :-1].transpose(1, 2).contiguous(),
            "b": d_ub[:, -1].contiguous(),
            "b_mod": d_mod,
        }


def orthogonal(a: torch.Tensor) -> torch.Tensor:
    """B = expm(A_up - A_up^T) of each model's A (E, H, H): Orthogonal.retraction, static."""
    upper = a.triu(1)
    return expm(upper - upper.transpose(1, 2))


TAYLOR_DEGREE = 18  # with each matrix scaled to 1-norm <= 1: a remainder below 1/19! = 8e-18


def expm(s: torch.Tensor) -> torch.Tensor:
    """exp of each matrix of s (E, H, H): the matrix scaled by 2^-k to 1-norm <= 1, its Taylor
    polynomial of degree TAYLOR_DEGREE (Horner), squared k times; k per model, from its norm."""
    norm = torch.linalg.matrix_norm(s.detach(), ord=1)  # (E,)
    finite = torch.isfinite(norm)  # a NaN model stays NaN, unscaled
    k = torch.where(finite, torch.log2(norm).ceil().clamp(min=0), torch.zeros_like(norm))
    x = s * torch.exp2(-k)[:, None, None]
    eye = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device).expand_as(s)
    out = eye + x / TAYLOR_DEGREE
    for n in range(TAYLOR_DEGREE - 1, 0, -1):
        out = torch.baddbmm(eye, x, out, alpha=1 / n)  # I + x out / n
    for i in range(int(k.max()) if len(k) else 0):
        out = torch.where((k > i)[:, None, None], torch.bmm(out, out), out)
    return out
