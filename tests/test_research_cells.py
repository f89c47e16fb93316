"""The two published cells of examples/research_cells against plain loops written from their
papers' equations (coRNN: Rusch & Mishra 2021, eq. 3; expRNN: Lezcano-Casado & Martinez-Rubio
2019, sections 3-4), in float64, with an independent matrix exponential (scipy's); their inits
as the authors draw them. `tests/test_conformance.py` checks their gradients, probes and the
expRNN's hand-written backward."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from rnnbench import bptt, resolve
from rnnbench.gradients import probe_path
from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec
from tests.workflow import ROOT

D, H, L, B, SEEDS = 3, 6, 9, 4, [0, 1, 2]


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples/research_cells"))


def ensemble(cell: str, params: dict | None = None) -> Ensemble:
    spec = resolve.spec(ModelSpec, {"cell": cell, "hidden_size": H, "params": params or {}})
    return Ensemble(spec, D, 1, SEEDS, torch.float64)


def inputs(seed: int = 0) -> torch.Tensor:
    return torch.randn(L, len(SEEDS), B, D, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed))  # fmt: skip


def states(model: Ensemble, x: torch.Tensor) -> list[torch.Tensor]:
    """Every state of the ensemble's steps, each (L, E, B, H)."""
    state, context, out = model.initial_state(B), model.context(), []
    for xp_t in model.input_projection(x).unbind(0):
        state = model.step(state, xp_t, context)
        out.append(state)
    return [torch.stack(s) for s in zip(*out, strict=True)]


# --- coRNN ------------------------------------------------------------------------------------


def cornn_reference(w_y, w_z, v, b, x, dt, gamma, epsilon):
    """Rusch & Mishra (2021), eq. 3, with the explicit damping term (n-bar = n - 1) as the
    authors' coRNNCell: z_n = z_{n-1} + dt (tanh(W y_{n-1} + W_z z_{n-1} + V u_n + b)
    - gamma y_{n-1} - epsilon z_{n-1}), y_n = y_{n-1} + dt z_n. One model, x (L, B, D)."""
    y = np.zeros((x.shape[1], w_y.shape[0]))
    z = np.zeros_like(y)
    ys, zs = [], []
    for u in x:
        z = z + dt * (np.tanh(y @ w_y.T + z @ w_z.T + u @ v.T + b) - gamma * y - epsilon * z)
        y = y + dt * z
        ys.append(y)
        zs.append(z)
    return np.stack(ys), np.stack(zs)


@pytest.mark.parametrize(
    "params", [{}, {"dt": 0.06, "gamma": 66.0, "epsilon": 15.0}, {"dt": 0.5, "gamma": 0.0}]
)
def test_cornn_is_the_papers_discretised_oscillators(params):
    model = ensemble("cornn:CoRNN", params)
    x = inputs()
    y, z = states(model, x)
    p = model.hparams
    for e in range(len(SEEDS)):
        w = [t[e].detach().numpy() for t in (model.W, model.W_z, model.U, model.b)]
        ref_y, ref_z = cornn_reference(*w, x[:, e].numpy(), p.dt, p.gamma, p.epsilon)
        np.testing.assert_allclose(y[:, e].detach().numpy(), ref_y, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(z[:, e].detach().numpy(), ref_z, rtol=1e-12, atol=1e-14)


def test_cornn_is_drawn_as_the_authors_one_linear_layer():
    """nn.Linear(D + 2H, H): every weight and bias U(-k, k), k = 1/sqrt(D + 2H)."""
    model = ensemble("cornn:CoRNN")
    k = 1 / math.sqrt(D + 2 * H)
    weights = torch.cat([t.detach().flatten() for t in (model.W, model.W_z, model.U, model.b)])
    assert weights.abs().max() <= k and weights.abs().max() > 0.9 * k
    assert abs(weights.mean()) < 0.1 * k  # centred


# --- expRNN -----------------------------------------------------------------------------------


def modrelu(z, bias):
    return np.sign(z) * np.maximum(np.abs(z) + bias, 0)


def exprnn_reference(a, u, b, b_mod, x):
    """h_t = modrelu(U x_t + b + h_{t-1} B), B = expm(A_up - A_up^T) (scipy's). One model."""
    upper = np.triu(a, 1)
    rot = scipy.linalg.expm(upper - upper.T)
    h = np.zeros((x.shape[1], a.shape[0]))
    out = []
    for x_t in x:
        h = modrelu(x_t @ u.T + b + h @ rot, b_mod)
        out.append(h)
    return np.stack(out), rot


@pytest.mark.parametrize("skew_init", ["henaff", "cayley"])
def test_exprnn_is_the_papers_orthogonal_rnn(skew_init):
    model = ensemble("exprnn:ExpRNN", {"skew_init": skew_init})
    with torch.no_grad():  # A moved off its init (a trained A is dense), b off 0
        model.A.add_(0.3 * torch.randn(model.A.shape, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))  # fmt: skip
        model.b.add_(0.1)
    x = inputs()
    (h,) = states(model, x)
    rotations = model.cell.recurrent_matrix(model).detach()
    for e in range(len(SEEDS)):
        w = [t[e].detach().numpy() for t in (model.A, model.U, model.b, model.b_mod)]
        ref, rot = exprnn_reference(*w, x[:, e].numpy())
        np.testing.assert_allclose(h[:, e].detach().numpy(), ref, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(rotations[e].numpy(), rot.T, rtol=0, atol=1e-13)  # W = B^T
        np.testing.assert_allclose(rot @ rot.T, np.eye(H), rtol=0, atol=1e-13)  # orthogonal


@pytest.mark.parametrize("scale", [1e-6, 0.3, 3.0, 40.0])
def test_exprnns_expm_is_scipys(scale):
    from exprnn import expm

    gen = torch.Generator().manual_seed(0)
    m = torch.randn(4, 16, 16, dtype=torch.float64, generator=gen) * scale
    m[1] = m[1] - m[1].T  # skew, as the cell's
    got = expm(m)
    for e in range(4):
        want = scipy.linalg.expm(m[e].numpy())
        np.testing.assert_allclose(got[e].numpy(), want, rtol=1e-12, atol=1e-12 * abs(want).max())


def test_exprnns_inits_are_the_authors():
    """henaff_init_: 2x2 rotation generators, angles U(-pi, pi); cayley_init_: angles
    -sqrt((1 - cos s) / (1 + cos s)), s ~ U(0, pi/2), in [-1, 0]; U Kaiming normal; b 0;
    b_mod U(-0.01, 0.01); A trained at lr / 10, b not at all."""
    for skew_init, low, high in (("henaff", -math.pi, math.pi), ("cayley", -1.0, 0.0)):
        a = ensemble("exprnn:ExpRNN", {"skew_init": skew_init}).A.detach()
        angles = torch.diagonal(a, 1, dim1=1, dim2=2)  # (E, H-1)
        assert (angles[:, 1::2] == 0).all() and (a + a.transpose(1, 2) == 0).all()
        assert (angles[:, ::2] >= low).all() and (angles[:, ::2] <= high).all()
        assert (a.triu(2) == 0).all()
    model = ensemble("exprnn:ExpRNN")
    assert (model.b == 0).all() and model.b_mod.abs().max() <= 0.01
    assert model.cell.lr_scales(model) == {"A": 0.1, "b": 0.0}
    big = resolve.spec(ModelSpec, {"cell": "exprnn:ExpRNN", "hidden_size": 400})
    u = Ensemble(big, 50, 1, [0], torch.float64).U.detach()
    assert u.std().item() == pytest.approx(math.sqrt(2 / 50), rel=0.02)


def test_exprnns_gradients_and_probes_run_its_python_backward():
    model = ensemble("exprnn:ExpRNN")
    assert bptt.path(model) == "python" and probe_path(model) == "python"
    assert bptt.path(ensemble("cornn:CoRNN")) == "autograd"
