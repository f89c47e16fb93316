"""The 1997 LSTM (`lstm97`) against hand computations: its step (no forget gate, g in [-2, 2],
h in [-1, 1]), its truncated gradient in closed form on one unit, its gate biases per block,
and its probe of c (the constant error carousel)."""

import math

import numpy as np
import pytest
import torch

from rnnbench import resolve
from rnnbench.errors import SpecError
from rnnbench.gradients import gradient_profile
from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec
from rnnbench.tasks import TASKS


def sigma(a: float) -> float:
    return 1 / (1 + math.exp(-a))


def lstm97(hidden: int, d: int = 1, seeds=(0,), **params) -> Ensemble:
    spec = resolve.model(ModelSpec(cell="lstm97", hidden_size=hidden, init="hs97", params=params))
    return Ensemble(spec, d, 1, list(seeds), torch.float64)


def set_weights(model: Ensemble, **weights) -> None:
    with torch.no_grad():
        for name, value in weights.items():
            getattr(model, name).copy_(torch.as_tensor(value, dtype=torch.float64))


@pytest.mark.parametrize(
    "a_i,a_g,a_o", [(0.0, 0.0, 0.0), (math.log(3), 1.5, -0.5), (-3.0, 50.0, 50.0), (2, -50, 1)]
)
def test_step_is_the_papers_with_no_forget_gate(a_i, a_g, a_o):
    """W = U = 0: every step adds sigma(a_i) g(a_g) to c, so c_t = t x that (nothing decays),
    with g = 4 sigma - 2 in [-2, 2] and h = sigma(a_o) (2 sigma(c) - 1) in [-1, 1]."""
    model = lstm97(1)
    set_weights(model, W=torch.zeros(1, 3, 1), U=torch.zeros(1, 3, 1), b=[[a_i, a_g, a_o]])
    state = model.initial_state(2)
    xp = model.input_projection(torch.randn(1, 1, 2, 1, dtype=torch.float64))[0]  # (E, B, 3H)
    g = 4 * sigma(a_g) - 2
    assert -2 <= g <= 2
    for t in range(1, 6):
        state = model.step(state, xp)
        c = t * sigma(a_i) * g
        h = sigma(a_o) * (2 * sigma(c) - 1)
        assert -1 <= h <= 1
        torch.testing.assert_close(state[1], torch.full((1, 2, 1), c, dtype=torch.float64))
        torch.testing.assert_close(state[0], torch.full((1, 2, 1), h, dtype=torch.float64))


def test_truncated_gradient_in_closed_form():
    """One unit, loss = the read-out of h_T. Error reaches the past through c only, unchanged
    (dc_t/dc_{t-1} = 1): dL/da_{x,t} = dL/dc_T x dc_t/da_{x,t} for x = i, g, and only step T's
    output gate gets error; the full gradient differs (the truncation cuts something)."""
    model = lstm97(1, seeds=(3,))
    set_weights(model, W=[[[0.7], [-0.9], [0.5]]], b=[[-1.0, 0.3, 0.2]], V=[[[1.3]]])
    x = torch.randn(9, 1, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    model(x).sum().backward()

    (u_i, u_g, u_o), (w_i, w_g, w_o) = model.U[0, :, 0].tolist(), model.W[0, :, 0].tolist()
    b_i, b_g, b_o = model.b[0].tolist()
    h, c, rows = 0.0, 0.0, []  # per step: x_t, h_{t-1}, a_i, a_g, a_o
    for x_t in x[:, 0, 0, 0].tolist():
        a = (u_i * x_t + w_i * h + b_i, u_g * x_t + w_g * h + b_g, u_o * x_t + w_o * h + b_o)
        rows.append((x_t, h, *a))
        c += sigma(a[0]) * (4 * sigma(a[1]) - 2)
        h = sigma(a[2]) * (2 * sigma(c) - 1)
    v = float(model.V[0, 0, 0].detach())
    x_T, h_before, _, _, a_o = rows[-1]
    dc = v * sigma(a_o) * 2 * sigma(c) * (1 - sigma(c))  # dL/dc_T = dL/dc_t for every t
    da_o = v * (2 * sigma(c) - 1) * sigma(a_o) * (1 - sigma(a_o))
    grad = {name: np.zeros(3) for name in ("U", "W", "b")}
    for x_t, h_prev, a_i, a_g, _ in rows:
        da_i = dc * (4 * sigma(a_g) - 2) * sigma(a_i) * (1 - sigma(a_i))
        da_g = dc * sigma(a_i) * 4 * sigma(a_g) * (1 - sigma(a_g))
        for k, da in ((0, da_i), (1, da_g)):
            grad["U"][k] += da * x_t
            grad["W"][k] += da * h_prev
            grad["b"][k] += da
    grad["U"][2], grad["W"][2], grad["b"][2] = da_o * x_T, da_o * h_before, da_o
    for name, want in grad.items():
        got = getattr(model, name).grad[0].reshape(-1).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=name)

    full = torch.autograd.grad(_untruncated(model, x), [model.W])[0][0].reshape(-1).numpy()
    assert np.abs(full - grad["W"]).max() > 1e-3  # the full gradient's W part differs


def _untruncated(model: Ensemble, x: torch.Tensor) -> torch.Tensor:
    """The read-out of h_T through the same equations with h_{t-1} not detached."""
    h = c = torch.zeros(1, 1, dtype=torch.float64)
    for xp_t in model.input_projection(x)[:, 0]:  # (B, 3H)
        i, g, o = (xp_t + h @ model.W[0].T).chunk(3, -1)
        c = c + torch.sigmoid(i) * (4 * torch.sigmoid(g) - 2)
        h = torch.sigmoid(o) * (2 * torch.sigmoid(c) - 1)
    return (h @ model.V[0].T + model.c[0]).sum()


@pytest.mark.parametrize(
    "params,input_bias,output_bias",
    [
        ({}, [-3, -3, -6, -6], None),  # Experiment 4 (Table 10): 2 blocks of 2, -3 and -6
        ({"input_gate_bias": -2.0, "input_gate_bias_step": -2.0}, [-2, -2, -4, -4], None),  # 6a
        (
            {"block_size": 1, "output_gate_bias": -2.0, "output_gate_bias_step": -2.0},
            [-3, -6, -9, -12],
            [-2, -4, -6, -8],
        ),
        ({"input_gate_bias": 0.0, "input_gate_bias_step": 0.0}, None, None),  # both drawn
    ],
)
def test_gate_biases_per_block(params, input_bias, output_bias):
    model = lstm97(4, seeds=(0, 1), **params)
    b = model.b.detach()  # (E, 3H): gates i, g, o
    assert b[:, 4:8].abs().max() <= 0.1  # the cell input's bias: drawn, U(-0.1, 0.1)
    for rows, want in ((slice(0, 4), input_bias), (slice(8, 12), output_bias)):
        if want is None:
            assert b[:, rows].abs().max() <= 0.1 and len(set(b[:, rows].flatten().tolist())) == 8
        else:
            torch.testing.assert_close(b[:, rows], torch.tensor([want, want]).double())


def test_probe_of_c_is_constant_and_of_h_zero_before_T():
    """The gradient probes: dE_T/dc_k is the same at every k < T (the CEC carries the error
    unchanged), dE_T/dh_k is 0 for k < T (the truncation); c's is 0 at k = T (read out: h)."""
    task = TASKS["adding_hs97"]
    rng = np.random.default_rng(0)
    x, y = task.sample(8, 30, rng)
    x, y = torch.from_numpy(x)[:, None].double(), torch.from_numpy(y)[None].double()
    for state, check in (("c", "constant"), ("h", "zero")):
        spec = ModelSpec(cell="lstm97", hidden_size=4, init="hs97", probe_state=state)
        model = Ensemble(resolve.model(spec), 2, 1, [0], torch.float64)
        prof = gradient_profile(model, task, x, y).log10_grad_norm[0]  # (L+1,), k = 0..L
        if check == "constant":
            np.testing.assert_allclose(prof[:-1], prof[0], rtol=0, atol=1e-12)
            assert prof[-1] == -np.inf and np.isfinite(prof[0])
        else:
            assert np.all(prof[:-1] == -np.inf) and np.isfinite(prof[-1])


def test_the_cell_has_no_init_it_cannot_draw():
    with pytest.raises(SpecError, match=r"^model\.init: the cell 'indrnn' has no init 'cai' "):
        resolve.model(ModelSpec(cell="indrnn", init="cai"))
