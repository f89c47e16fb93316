"""Pascanu, Mikolov & Bengio's (2013) regulariser Omega for vanilla RNN ensembles, and its gradient.

Omega (ICML 2013, "On the difficulty of training recurrent neural networks", eq. (9)) keeps the
backpropagated error from shrinking as it travels back one step:

    Omega = sum_k ( ||dE/dx_{k+1} * dx_{k+1}/dx_k|| / ||dE/dx_{k+1}|| - 1 )^2

and eq. (10), the gradient actually used, takes only the "immediate" derivative w.r.t. W_rec,
holding x_k and dE/dx_{k+1} constant, and writes each term with squared norms. This module follows
the authors' implementation, pascanur/trainingRNNs RNN.py at commit 3f5df3f, lines 188-217 (and
the defaults at lines 466-467, 487-490), which agrees with eq. (10) and differs from eq. (9):

* Ratio of squared norms (lines 205-207, as in eq. (10)): tmp_x = ||(dE/dh_{k+1} * f'_{k+1})
  W^T||^2 and tmp_y = ||dE/dh_{k+1}||^2, term = (tmp_x / tmp_y - 1)^2. `squared=False` gives
  eq. (9)'s ratio of norms.
* Held constant (lines 189-191, 210-215): the gradient is taken w.r.t. W_hh with the total
  gradients dE/dh (d_ht) and the states h (ht) as free symbolic inputs, and only then are they
  substituted by theano.clone. So dE/dh and f'(a) (computed from h) are both constants: the
  gradient flows only through the explicit W in the Jacobian diag(f') W. U and b get no gradient
  from Omega, and no gradient flows through dE/dh into the read-out either.
* Terms (lines 195-206): one per step k = 1..L and per sequence, using dE/dh_k and f' at h_k,
  i.e. the transition h_{k-1} -> h_k, including the first one from the initial state h_0.
* Masking (line 207, bound = 1e-20 at line 490): a term whose ||dE/dh_k||^2 < bound is set to
  0 (its ratio is replaced by 1), and is not counted.
* Normalisation (lines 208-209): tmp_reg.mean(1).sum() / n_elems.sum(), i.e. the sum of terms over
  steps and sequences divided by the number of unmasked terms: the mean over counted terms, not
  eq. (9)'s sum over k. `reduction="sum"` gives eq. (9): sum over k, mean over the batch. Where
  every term is masked the code divides 0 by 0; here Omega and its gradient are 0.
* Weight (lines 216-217): gW_hh += alpha * dOmega/dW_hh, added to the loss gradient before the
  gradient norm is taken for clipping (lines 219-226). The code's default is alpha = 2 (line 467);
  the paper's synthetic experiments fixed it to 4 (Section 4.1.1).

Layout: E models, B sequences, L steps, H hidden units; h_k = f(W h_{k-1} + U x_k + b), so
dh_k/dh_{k-1} = diag(f'(a_k)) W and the row vector g^T dh_k/dh_{k-1} is (g * f'_k) @ W.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch

# f'(a) written through the output h = f(a), as the authors' code does (lines 194-199): the states
# are what the forward keeps. The code has sigmoid, tanh and linear (its 'test' init); relu is
# ours: f'(a) = 1 where a > 0, i.e. where h > 0.
DERIVATIVE_FROM_OUTPUT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": torch.ones_like,
    "tanh": lambda h: 1 - h * h,
    "sigmoid": lambda h: h * (1 - h),
    "relu": lambda h: (h > 0).to(h.dtype),
}

BOUND = 1e-20  # RNN.py line 490: terms with ||dE/dh_k||^2 below this are left out


class Omega(NamedTuple):
    value: torch.Tensor  # (E,) Omega per model
    grad_W: torch.Tensor  # (E, H, H) dOmega/dW, dE/dh and f'(a) held constant
    n_terms: torch.Tensor  # (E,) number of unmasked (step, sequence) terms


def omega(
    h: torch.Tensor,
    grad_h: torch.Tensor,
    W: torch.Tensor,
    nonlinearity: str,
    *,
    squared: bool = True,
    reduction: Literal["mean", "sum"] = "mean",
    bound: float = BOUND,
) -> Omega:
    """Omega per model and its gradient w.r.t. W, as in pascanur/trainingRNNs RNN.py l. 188-217.

    h: states (E, L+1, B, H), h[:, 0] the initial state. grad_h: total gradients of the training
    loss w.r.t. each state, dE/dh_k (E, L+1, B, H) (grad_h[:, 0] is not used). W: (E, H, H).
    squared: ratio of squared norms (the code) or of norms (eq. (9)). reduction: "mean" over the
    unmasked terms (the code) or "sum" over steps, mean over sequences (eq. (9)). The regularised
    update adds alpha * grad_W to the loss gradient of W before clipping; U, b get nothing.
    """
    W = W.detach()
    g = grad_h[:, 1:].detach()  # (E, L, B, H) dE/dh_k, k = 1..L
    v = g * DERIVATIVE_FROM_OUTPUT[nonlinearity](h[:, 1:].detach())  # (E, L, B, H) g * f'_k
    e, n_steps, batch, hidden = v.shape
    vw = torch.bmm(v.reshape(e, -1, hidden), W).view_as(v)  # (E, L, B, H) g^T dh_k/dh_{k-1}
    num = vw.square().sum(-1)  # (E, L, B) ||g^T J||^2
    den = g.square().sum(-1)  # (E, L, B) ||g||^2
    mask = den >= bound  # (E, L, B)
    safe_den = torch.where(mask, den, torch.ones_like(den))
    if squared:
        ratio = num / safe_den  # (E, L, B)
        dratio_dnum = 1 / safe_den  # (E, L, B)
    else:
        norm = num.sqrt()  # (E, L, B)
        ratio = norm / safe_den.sqrt()
        dratio_dnum = 1 / (2 * norm.clamp_min(torch.finfo(num.dtype).tiny) * safe_den.sqrt())
    ratio = torch.where(mask, ratio, torch.ones_like(ratio))  # masked terms are exactly 0
    terms = (ratio - 1).square()  # (E, L, B)
    n_terms = mask.sum((1, 2))  # (E,)
    scale = (
        n_terms.clamp_min(1).to(v.dtype)
        if reduction == "mean"
        else torch.full_like(n_terms, batch, dtype=v.dtype)
    )  # (E,)
    # d term / dW = 2 (ratio - 1) dratio/dnum * dnum/dW, with dnum/dW = 2 v^T (v W) per term.
    coef = torch.where(mask, 4 * (ratio - 1) * dratio_dnum, torch.zeros_like(ratio))  # (E, L, B)
    grad_W = torch.einsum("elb,elbi,elbj->eij", coef, v, vw)  # (E, H, H)
    return Omega(terms.sum((1, 2)) / scale, grad_W / scale[:, None, None], n_terms)
