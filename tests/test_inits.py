"""The init schemes that copy a source's draws (`cai`, `hs97`) against the sources' numbers:
cybertronai/schmidhuber-problems @ e7b8c89, adding-problem/adding_problem.py (init_rnn and
init_lstm: Wx ~ N(0, 1) x 0.5/sqrt(D), Wh ~ N(0, 1) x 0.5/sqrt(H), b = 0 (the LSTM's forget
block 1.0), Wy ~ N(0, 1)/sqrt(H), by = 0) and Hochreiter & Schmidhuber 1997 (every weight
U(-0.1, 0.1)). Checked on the weights of 400 models, by their moments."""

import math

import pytest
import torch

from rnnbench import resolve
from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec

SEEDS = list(range(400))


def weights(cell: str, init: str, h: int = 8, d: int = 2, **fields) -> dict[str, torch.Tensor]:
    spec = resolve.model(ModelSpec(cell=cell, init=init, hidden_size=h, **fields))
    model = Ensemble(spec, d, 1, SEEDS, torch.float64)
    return {name: p.detach() for name, p in model.named_parameters()}


def assert_normal(x: torch.Tensor, std: float) -> None:
    """Mean 0, standard deviation std, kurtosis 3 (a normal's; a uniform's is 1.8)."""
    x = x.flatten()
    n = x.numel()
    assert abs(float(x.mean())) < 4 * std / math.sqrt(n)
    assert float(x.std()) == pytest.approx(std, rel=4 * math.sqrt(0.5 / n))
    kurtosis = float((x / x.std()).pow(4).mean())
    assert kurtosis == pytest.approx(3.0, abs=0.25)


@pytest.mark.parametrize("h,d", [(8, 2), (16, 3)])
def test_cai_rnn_is_init_rnn(h, d):
    w = weights("rnn", "cai", h, d)
    assert_normal(w["W"], 0.5 / math.sqrt(h))  # Wh (E, H, H)
    assert_normal(w["U"], 0.5 / math.sqrt(d))  # Wx (E, H, D)
    assert_normal(w["V"], 1 / math.sqrt(h))  # Wy (E, 1, H)
    assert torch.count_nonzero(w["b"]) == 0 and torch.count_nonzero(w["c"]) == 0


def test_cai_lstm_is_init_lstm():
    """Gate order i, f, g, o: b is 0 but the forget block, which is forget_bias (1.0 there)."""
    h = 8
    w = weights("lstm", "cai", h, forget_bias=1.0)
    for k in range(4):
        assert_normal(w["W"][:, k * h : (k + 1) * h], 0.5 / math.sqrt(h))
    assert_normal(w["U"], 0.5 / math.sqrt(2))
    want = torch.zeros(4 * h, dtype=torch.float64)
    want[h : 2 * h] = 1.0
    torch.testing.assert_close(w["b"], want.expand(len(SEEDS), -1))
    assert torch.count_nonzero(w["c"]) == 0


def test_hs97_every_weight_uniform_0_1():
    """Every weight U(-0.1, 0.1) (std 0.1/sqrt(3), kurtosis 1.8) but the input gates' biases,
    which the 1997 cell sets per block."""
    h = 4
    w = weights("lstm97", "hs97", h)
    for name, x in w.items():
        x = x[:, h:] if name == "b" else x  # b (E, 3H): i, g, o; i set by the cell
        assert float(x.abs().max()) <= 0.1
        x = x.flatten()
        assert float(x.std()) == pytest.approx(0.1 / math.sqrt(3), rel=0.15), name
    assert float((w["W"] / w["W"].std()).pow(4).mean()) == pytest.approx(1.8, abs=0.1)
    torch.testing.assert_close(
        w["b"][:, :h], torch.tensor([-3.0, -3, -6, -6]).expand(400, -1).double()
    )
