"""Li et al.'s (2018) IndRNN regime, each part against a hand draw or a hand-written loop: the
bound |u| <= MAG^(1/L) after every optimizer step, u ~ U(1/r, r), U ~ N(0, std^2) with b = 0,
one-line errors for bad values, and the two-layer cell `indrnn2` against a float64 loop."""

import math

import pytest
import torch

from rnnbench import bptt, cells, resolve
from rnnbench.errors import SpecError
from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec, TrialSpec
from rnnbench.tasks import TASKS
from rnnbench.train import train_trial

PAPER = {"mag": 2.0, "u_init": "paper", "input_std": 0.001}


def _model(cell: str, params: dict, hidden: int, seeds, seq_len: int | None) -> Ensemble:
    spec = resolve.spec(ModelSpec, {"cell": cell, "nonlinearity": "relu", "hidden_size": hidden,
                                    "params": params})  # fmt: skip
    task = TASKS["adding"]
    return Ensemble(spec, task.input_size, task.output_size, list(seeds), torch.float64, seq_len)


def _max_u_after_steps(monkeypatch, cell: str, params: dict, names, seq_len: int) -> list[float]:
    """max |u| over the named weights and every model, after each optimizer step's `constrain`
    of a short training run at a large learning rate."""
    spec = resolve.spec(TrialSpec, {
        "task": {"name": "adding", "seq_len": seq_len, "val_size": 8, "test_size": 8},
        "model": {"cell": cell, "nonlinearity": "relu", "hidden_size": 8, "params": params},
        "train": {"lr": 0.05, "steps": 8, "log_every": 4, "batch_size": 8, "seeds": [0, 1]},
        "runtime": {"dtype": "float64"},
    })  # fmt: skip
    seen, the_cell = [], cells.get(cell)
    constrain = the_cell.constrain

    def spy(model):
        constrain(model)
        seen.append(max(getattr(model, n).detach().abs().max().item() for n in names))

    monkeypatch.setattr(the_cell, "constrain", spy)
    train_trial(spec)
    return seen


@pytest.mark.parametrize("cell,names", [("indrnn", ("u",)), ("indrnn2", ("u1", "u2"))])
def test_u_is_bounded_by_mag_to_the_one_over_l_after_every_step(monkeypatch, cell, names):
    """|u| <= 2^(1/L) after each of 8 steps, and the bound binds (some |u| sits on it): the
    gradient pushes u past r at lr 0.05."""
    seq_len = 5
    r = 2.0 ** (1 / seq_len)  # 1.1487
    params = PAPER if cell == "indrnn" else {"mag": 2.0}
    seen = _max_u_after_steps(monkeypatch, cell, params, names, seq_len)
    assert len(seen) == 8
    assert max(seen) <= r + 1e-12
    assert any(math.isclose(s, r, rel_tol=0, abs_tol=1e-12) for s in seen)


def test_u_max_and_mag_bound_together_by_the_smaller():
    model = _model("indrnn", {"mag": 2.0, "u_max": 1.001}, 6, [0], seq_len=10)
    with torch.no_grad():
        model.u.fill_(5.0)
        model.cell.constrain(model)
    assert torch.equal(model.u, torch.full_like(model.u, 1.001))  # 2^(1/10) = 1.0718 > 1.001


def test_paper_init_is_a_hand_draw_from_the_seeds_generator():
    """u ~ U(1/r, r), r = 2^(1/L), then U ~ N(0, 0.001^2), b = 0: the same draws, in order, from
    the model's own generator."""
    h, seq_len, seed = 16, 100, 3
    model = _model("indrnn", PAPER, h, [seed], seq_len)
    r = 2.0 ** (1 / seq_len)
    gen = torch.Generator().manual_seed(seed)
    u = 1 / r + (r - 1 / r) * torch.rand(h, generator=gen, dtype=torch.float64)
    big_u = 0.001 * torch.randn(h, 2, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(model.u[0], u, rtol=0, atol=1e-15)
    torch.testing.assert_close(model.U[0], big_u, rtol=0, atol=1e-18)
    assert torch.equal(model.b[0], torch.zeros(h, dtype=torch.float64))


def test_paper_init_statistics_at_large_h():
    """At H = 20,000: u within [1/r, r] with mean 1/2 (r + 1/r) and the uniform's variance; U's
    sample std 0.001 and mean 0 (within 5 standard errors)."""
    h, seq_len = 20_000, 50
    model = _model("indrnn", PAPER, h, [0], seq_len)
    u, big_u = model.u[0], model.U[0].flatten()
    r = 2.0 ** (1 / seq_len)
    assert u.min() >= 1 / r and u.max() <= r
    width = r - 1 / r
    assert abs(u.mean().item() - (r + 1 / r) / 2) < 5 * width / math.sqrt(12 * h)
    assert u.var().item() == pytest.approx(width**2 / 12, rel=0.05)
    n = big_u.numel()
    assert abs(big_u.mean().item()) < 5 * 0.001 / math.sqrt(n)
    assert big_u.std().item() == pytest.approx(0.001, rel=5 / math.sqrt(2 * n))


def test_without_a_task_the_bound_is_one():
    """seq_len unknown (a model built without a task): r = 1, so the paper's u is 1."""
    model = _model("indrnn", PAPER, 4, [0], seq_len=None)
    assert torch.equal(model.u[0], torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("cell,params,key", [
    ("indrnn", {"mag": -1.0}, "mag"),
    ("indrnn", {"u_init": "glorot"}, "u_init"),
    ("indrnn", {"input_std": -0.1}, "input_std"),
    ("indrnn", {"magnitude": 2.0}, "magnitude"),
    ("indrnn2", {"mag": 0.0}, "mag"),
    ("indrnn2", {"input_std": 0.0}, "input_std"),
])  # fmt: skip
def test_a_bad_value_is_a_one_line_error(cell, params, key):
    with pytest.raises(SpecError) as err:
        resolve.spec(ModelSpec, {"cell": cell, "params": params}, "model")
    assert "\n" not in str(err.value) and key in str(err.value)


# --- indrnn2: two layers against a hand-written float64 loop ----------------------------------


def _two_layers(model: Ensemble, e: int, x: torch.Tensor) -> torch.Tensor:
    """h1_t = relu(U x_t + b + u1 h1_{t-1}), h_t = relu(W h1_t + b2 + u2 h_{t-1}); x (L, B, D)
    -> the read-out V h_L + c (B, O)."""
    h1 = h = torch.zeros(x.shape[1], model.spec.hidden_size, dtype=torch.float64)
    for x_t in x:
        h1 = torch.relu(x_t @ model.U[e].T + model.b[e] + model.u1[e] * h1)
        h = torch.relu(h1 @ model.W[e].T + model.b2[e] + model.u2[e] * h)
    return h @ model.V[e].T + model.c[e]


def test_indrnn2_init_is_the_authors():
    """u1 ~ U(0, r), u2 ~ U(1/r, r), U and W ~ N(0, 0.001^2), b = b2 = 0: a hand draw from the
    model's generator in the model's order (recurrent, input, read-out, extra)."""
    h, seq_len, seed = 8, 100, 2
    model = _model("indrnn2", {}, h, [seed], seq_len)
    r = 2.0 ** (1 / seq_len)
    gen = torch.Generator().manual_seed(seed)
    u1 = r * torch.rand(h, generator=gen, dtype=torch.float64)
    u2 = 1 / r + (r - 1 / r) * torch.rand(h, generator=gen, dtype=torch.float64)
    big_u = 0.001 * torch.randn(h, 2, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(model.u1[0], u1, rtol=0, atol=1e-15)
    torch.testing.assert_close(model.u2[0], u2, rtol=0, atol=1e-15)
    torch.testing.assert_close(model.U[0], big_u, rtol=0, atol=1e-18)
    assert model.W.shape == (1, h, h) and model.W.abs().max() < 0.001 * 6
    assert not model.b.any() and not model.b2.any()


@pytest.mark.parametrize("hand_written", [True, False])
def test_indrnn2_matches_a_two_layer_loop(hand_written):
    """Outputs and every gradient, the hand-written BPTT (bptt.loss_and_grads) or autograd through
    the reference step, against the loop above; weights moved off the init so that every path
    carries signal (no ReLU at zero, W of order 1)."""
    h, seq_len, seeds, task = 5, 9, [0, 1], TASKS["adding"]
    model = _model("indrnn2", {}, h, seeds, seq_len)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    x = torch.rand(seq_len, len(seeds), 4, 2, generator=gen, dtype=torch.float64)  # (L, E, B, D)
    y = torch.rand(len(seeds), 4, generator=gen, dtype=torch.float64)  # (E, B)
    outs = [_two_layers(model, e, x[:, e]) for e in range(len(seeds))]  # (B, O) each
    torch.testing.assert_close(model(x), torch.stack(outs), rtol=1e-12, atol=1e-14)
    params = dict(model.named_parameters())
    ref = sum(((out.squeeze(-1) - y[e]) ** 2).mean() for e, out in enumerate(outs))
    want = torch.autograd.grad(ref, list(params.values()))
    run = bptt.loss_and_grads if hand_written else bptt.autograd_loss_and_grads
    loss, got = run(model, task, x, y, torch.ones(len(seeds), dtype=torch.bool))
    torch.testing.assert_close(loss.sum(), ref.detach(), rtol=1e-12, atol=0)
    for name, g, w in zip(params, got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-13, msg=name)
