"""The ensemble against independent references: torch.nn.RNN/LSTM/GRU and a plain loop."""

import pytest
import torch
from torch import nn

from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec
from tests.cases import CASES

D, N_OUT, H, L, B = 3, 2, 5, 7, 4
SEEDS = [0, 1, 2]
ACTIVATIONS = {
    "linear": lambda a: a,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
}


def reference_rnn(model: Ensemble, e: int):
    """An nn.RNN/LSTM/GRU (or a loop: linear/sigmoid RNN, IndRNN, the 1997 LSTM) holding model
    e's weights."""
    cell, f = model.spec.cell, model.spec.nonlinearity
    if cell == "lstm97":
        return lstm97_loop(model.U[e], model.W[e], model.b[e])
    if cell == "indrnn2":  # two IndRNN layers, the second read out (ReLU, whatever f says)

        def two_layers(x):  # x (L, B, D)
            h1 = h = torch.zeros(x.shape[1], H, dtype=x.dtype)
            hs = []
            for t in range(x.shape[0]):
                h1 = torch.relu(x[t] @ model.U[e].T + model.b[e] + model.u1[e] * h1)
                h = torch.relu(h1 @ model.W[e].T + model.b2[e] + model.u2[e] * h)
                hs.append(h)
            return torch.stack(hs)

        return two_layers
    if cell == "indrnn" or f in ("linear", "sigmoid"):
        act = ACTIVATIONS[f]
        recur = (lambda h: h * model.u[e]) if cell == "indrnn" else (lambda h: h @ model.W[e].T)

        def loop(x):  # x (L, B, D)
            h, hs = torch.zeros(x.shape[1], H, dtype=x.dtype), []
            for t in range(x.shape[0]):
                h = act(x[t] @ model.U[e].T + recur(h) + model.b[e])
                hs.append(h)
            return torch.stack(hs)

        return loop
    net = {
        "rnn": lambda: nn.RNN(D, H, nonlinearity=f),
        "lstm": lambda: nn.LSTM(D, H),
        "gru": lambda: nn.GRU(D, H),
    }[cell]().double()
    bias_hh = torch.zeros_like(model.b[e])
    if cell == "gru":
        bias_hh = torch.cat([torch.zeros(2 * H, dtype=torch.float64), model.b_hn[e]])
    weights = {
        "weight_ih_l0": model.U[e],
        "weight_hh_l0": model.W[e],
        "bias_ih_l0": model.b[e],
        "bias_hh_l0": bias_hh,
    }
    for name, value in weights.items():  # plain tensors, so gradients reach the ensemble
        del net._parameters[name]
        setattr(net, name, value)
    return lambda x: net(x)[0]


def lstm97_loop(U, W, b):
    """Hochreiter & Schmidhuber's (1997) equations (Appendix A.1), one model, x (L, B, D) ->
    h (L, B, H): the net inputs read h_{t-1} detached, so that autograd gives their truncated
    gradient (error flows back in time through the cell state only)."""

    def loop(x):
        h = c = torch.zeros(x.shape[1], W.shape[1], dtype=x.dtype)  # (B, H)
        hs = []
        for x_t in x:
            net_in, net_c, net_out = (x_t @ U.T + h.detach() @ W.T + b).chunk(3, -1)
            c = c + torch.sigmoid(net_in) * (4 / (1 + torch.exp(-net_c)) - 2)  # eq. 5, no forget
            h = torch.sigmoid(net_out) * (2 / (1 + torch.exp(-c)) - 1)  # eq. 4
            hs.append(h)
        return torch.stack(hs)

    return loop


@pytest.mark.parametrize("cell,f", CASES)
@pytest.mark.parametrize("every_step", [False, True])
def test_outputs_and_gradients_match_reference(cell, f, every_step):
    spec = ModelSpec(cell=cell, nonlinearity=f, init="orthogonal", rho=1.2, hidden_size=H)
    model = Ensemble(spec, D, N_OUT, SEEDS, dtype=torch.float64)
    x = torch.randn(
        L, len(SEEDS), B, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    out = model(x, every_step)  # (L, E, B, N_OUT) or (E, B, N_OUT)
    out.pow(2).sum().backward()
    for e in range(len(SEEDS)):
        hs = reference_rnn(model, e)(x[:, e])  # (L, B, H)
        ref = hs @ model.V[e].T + model.c[e]
        ref = ref if every_step else ref[-1]
        got = out[:, e] if every_step else out[e]
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
        params = list(model.parameters())
        grads = torch.autograd.grad(ref.pow(2).sum(), params)
        for p, g in zip(params, grads, strict=True):
            torch.testing.assert_close(p.grad[e], g[e], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("init", ["orthogonal", "gaussian", "identity"])
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.5])
def test_inits_have_requested_spectral_radius(init, rho):
    model = Ensemble(ModelSpec(init=init, rho=rho, hidden_size=32), D, N_OUT, SEEDS, torch.float64)
    radius, sigma = model.spectral_stats()
    torch.testing.assert_close(radius, torch.full((3,), rho, dtype=torch.float64))
    if init != "gaussian":  # normal matrices: sigma_max equals the spectral radius
        torch.testing.assert_close(sigma, torch.full((3,), rho, dtype=torch.float64))
    else:
        assert (sigma >= radius - 1e-9).all()


def test_default_init_and_forget_bias():
    h = 16
    lstm = Ensemble(
        ModelSpec(cell="lstm", hidden_size=h, forget_bias=1.0), D, N_OUT, [0], torch.float64
    )
    assert torch.equal(lstm.b[0, h : 2 * h], torch.ones(h, dtype=torch.float64))
    assert lstm.W.abs().max() <= 1 / h**0.5
    irnn = Ensemble(ModelSpec(init="identity", nonlinearity="relu", hidden_size=h), D, N_OUT, [0])
    assert torch.equal(irnn.b, torch.zeros_like(irnn.b))


def test_model_in_ensemble_starts_as_alone():
    spec = ModelSpec(cell="gru", hidden_size=H)
    together = Ensemble(spec, D, N_OUT, [5, 7, 9])
    alone = Ensemble(spec, D, N_OUT, [7])
    for (name, p), q in zip(together.named_parameters(), alone.parameters(), strict=True):
        assert torch.equal(p[1], q[0]), name
