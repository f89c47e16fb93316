"""Omega (Pascanu et al. 2013) against per-step autograd Jacobians and an orthogonal closed form."""

import numpy as np
import pytest
import torch

from rnnbench import resolve
from rnnbench.bptt import loss_and_grads
from rnnbench.errors import SpecError
from rnnbench.models import Ensemble
from rnnbench.omega import omega
from rnnbench.spec import ModelSpec, TrialSpec
from rnnbench.tasks import TASKS

E, L, B, H, D = 2, 4, 3, 3, 2
VARIANTS = [(True, "mean"), (False, "sum"), (True, "sum"), (False, "mean")]
F = {"linear": lambda a: a, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


def _states_and_gradients(nonlinearity: str, seed: int = 0):
    """A float64 ensemble's states h (E, L+1, B, H) and total loss gradients dE/dh_k, same shape."""
    spec = ModelSpec(cell="rnn", nonlinearity=nonlinearity, init="gaussian", rho=1.3, hidden_size=H)
    model = Ensemble(spec, D, 1, seeds=[seed, seed + 1], dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(L, E, B, D, generator=gen, dtype=torch.float64)
    y = torch.randn(E, B, 1, generator=gen, dtype=torch.float64)
    states = [model.initial_state(B)[0].requires_grad_(True)]  # (E, B, H) each
    for xp_t in model.input_projection(x).unbind(0):
        states.append(model.step((states[-1],), xp_t)[0])
    outputs = model.readout(torch.stack(states[1:]))  # (L, E, B, 1): a loss at every step
    loss = (outputs - y).square().sum()
    grads = torch.autograd.grad(loss, states)  # total derivatives dE/dh_k
    h = torch.stack([s.detach() for s in states], 1)  # (E, L+1, B, H)
    return model, x, h, torch.stack(grads, 1)


def _reference(model, x, h, g, nonlinearity, squared, reduction, bound=1e-20):
    """Loops over models, sequences and steps; vjp of the true step f(W h + U x + b).

    dE/dh_{k} is a constant and f'(a_k) is held constant in the W-derivative (RNN.py l. 210-215):
    the step is f(a_k.detach() + W (h' - h_{k-1})), whose Jacobian at h' = h_{k-1} is
    diag(f'(a_k)) W with f' independent of W, while W still enters through autograd.
    """
    f = F[nonlinearity]
    values, grads = [], []
    for e in range(E):
        w = model.W[e].detach().clone().requires_grad_(True)
        u, b = model.U[e].detach(), model.b[e].detach()
        total, count = 0.0, 0
        for k in range(1, L + 1):
            for s in range(B):
                h_prev, gk = h[e, k - 1, s], g[e, k, s]
                a = w.detach() @ h_prev + u @ x[k - 1, e, s] + b
                torch.testing.assert_close(f(a), h[e, k, s])  # same convention as models.py

                def step(hp, a=a, h_prev=h_prev, w=w):
                    return f(a + w @ (hp - h_prev))

                _, gj = torch.autograd.functional.vjp(step, h_prev, gk, create_graph=True)
                if gk.square().sum() < bound:
                    continue
                p = 2 if squared else 1
                ratio = gj.norm() ** p / gk.norm() ** p
                total = total + (ratio - 1) ** 2
                count += 1
        value = total / (max(count, 1) if reduction == "mean" else B)
        grad = torch.autograd.grad(value, w)[0] if count else torch.zeros_like(w)
        values.append(torch.as_tensor(value).detach())
        grads.append(grad)
    return torch.stack(values), torch.stack(grads)


@pytest.mark.parametrize("squared,reduction", VARIANTS)
@pytest.mark.parametrize("nonlinearity", list(F))
def test_omega_matches_autograd(nonlinearity, squared, reduction):
    model, x, h, g = _states_and_gradients(nonlinearity)
    g[0, 2, 1] = 0.0  # a zero gradient: left out of the sum and the count (RNN.py l. 207-208)
    ours = omega(h, g, model.W.detach(), nonlinearity, squared=squared, reduction=reduction)
    value, grad = _reference(model, x, h, g, nonlinearity, squared, reduction)
    torch.testing.assert_close(ours.value, value)
    torch.testing.assert_close(ours.grad_W, grad)
    assert ours.n_terms.tolist() == [L * B - 1, L * B]


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.7])
def test_orthogonal_linear_closed_form(rho):
    """||g W|| = rho ||g|| for W = rho Q: every term is (rho^2 - 1)^2 (code) or (rho - 1)^2 (eq. 9).

    Along W = rho Q, <dOmega/dW, Q> = dOmega/drho: 4 rho (rho^2 - 1) (code's mean of squared
    ratios), 2 L (rho - 1) (eq. (9)'s sum of norm ratios over L steps).
    """
    gen = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(E, H, H, generator=gen, dtype=torch.float64))  # (E, H, H)
    h = torch.randn(E, L + 1, B, H, generator=gen, dtype=torch.float64)
    g = torch.randn(E, L + 1, B, H, generator=gen, dtype=torch.float64)
    code = omega(h, g, rho * q, "linear")
    paper = omega(h, g, rho * q, "linear", squared=False, reduction="sum")
    torch.testing.assert_close(code.value, torch.full((E,), (rho**2 - 1) ** 2, dtype=h.dtype))
    torch.testing.assert_close(paper.value, torch.full((E,), L * (rho - 1) ** 2, dtype=h.dtype))
    along_q = torch.stack([(code.grad_W * q).sum((1, 2)), (paper.grad_W * q).sum((1, 2))])  # (2, E)
    slopes = torch.tensor([[4 * rho * (rho**2 - 1)], [2 * L * (rho - 1)]], dtype=h.dtype)
    torch.testing.assert_close(along_q, slopes.expand(2, E))


def test_all_masked_is_zero():
    h = torch.randn(E, L + 1, B, H, dtype=torch.float64)
    out = omega(h, torch.zeros_like(h), torch.eye(H, dtype=torch.float64).expand(E, H, H), "tanh")
    assert out.n_terms.tolist() == [0, 0]
    assert torch.equal(out.value, torch.zeros(E, dtype=h.dtype))
    assert torch.equal(out.grad_W, torch.zeros(E, H, H, dtype=h.dtype))


def test_float32_matches_float64():
    model, _, h, g = _states_and_gradients("tanh", seed=3)
    w = model.W.detach()
    ref = omega(h, g, w, "tanh")
    low = omega(h.float(), g.float(), w.float(), "tanh")
    torch.testing.assert_close(low.value.double(), ref.value, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(low.grad_W.double(), ref.grad_W, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("nonlinearity", list(F))
@pytest.mark.parametrize("task_name", ["adding", "copy"])  # last-step and every-step read-outs
def test_training_adds_alpha_times_the_gradient_of_omega(nonlinearity, task_name):
    """loss_and_grads(omega=alpha): W's gradient gains alpha dOmega/dW, with dE/dh_k from an
    autograd pass that retains every state's gradient; the other gradients are unchanged."""
    task = TASKS[task_name]
    spec = ModelSpec(cell="rnn", nonlinearity=nonlinearity, init="gaussian", rho=1.1, hidden_size=5)
    model = Ensemble(spec, task.input_size, task.output_size, [0, 1], dtype=torch.float64)
    rng = np.random.default_rng(0)
    xs, ys = zip(*(task.sample(4, 6, rng) for _ in range(2)), strict=True)
    x, y = torch.from_numpy(np.stack(xs, 1)).double(), torch.from_numpy(np.stack(ys, -2))
    y = y.double() if task.regression else y
    active = torch.ones(2, dtype=torch.bool)
    _, plain = loss_and_grads(model, task, x, y, active)
    _, regularised = loss_and_grads(model, task, x, y, active, omega=2.0)

    states = [model.initial_state(x.shape[2])[0].requires_grad_(True)]
    for xp_t in model.input_projection(x).unbind(0):
        states.append(model.step((states[-1],), xp_t)[0])
    for h in states:
        h.retain_grad()
    out = model.readout(torch.stack(states[1:]) if task.every_step else states[-1])
    task.example_loss(out, y).mean(1).sum().backward()
    h = torch.stack([s.detach() for s in states], 1)  # (E, L+1, B, H)
    grad_h = torch.stack([s.grad for s in states], 1)
    expected = omega(h, grad_h, model.W, nonlinearity).grad_W
    names = [name for name, _ in model.named_parameters()]
    for name, a, b in zip(names, plain, regularised, strict=True):
        want = a + 2.0 * expected if name == "W" else a
        torch.testing.assert_close(b, want, rtol=1e-9, atol=1e-12)
    assert (expected.abs() > 0).any()


def test_omega_is_refused_for_a_cell_without_it():
    with pytest.raises(SpecError, match="train.omega: the cell 'lstm' has no regulariser Omega"):
        resolve.spec(TrialSpec, {"model": {"cell": "lstm"}, "train": {"omega": 2.0}})
    with pytest.raises(SpecError, match="train.omega: the cell 'indrnn' has no regulariser"):
        resolve.spec(TrialSpec, {"model": {"cell": "indrnn"}, "train": {"omega": 2.0}})
