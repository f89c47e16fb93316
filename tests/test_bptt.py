"""The hand-written BPTT against autograd through the whole time loop, in float64."""

import numpy as np
import pytest
import torch

from rnnbench import kernels, toolkit
from rnnbench.bptt import loss_and_grads
from rnnbench.models import Ensemble
from rnnbench.spec import ModelSpec
from rnnbench.tasks import TASKS
from rnnbench.toolkit import Workspace
from tests.cases import CASES

TASK_NAMES = ["adding", "copy", "temporal_order"]  # last-step regression, every-step, last-step CE


def _data(task, seq_len, n_models, batch, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = zip(*(task.sample(batch, seq_len, rng) for _ in range(n_models)), strict=True)
    x = torch.from_numpy(np.stack(xs, 1)).double()  # (L, E, B, D)
    y = torch.from_numpy(np.stack(ys, -2))
    return x, (y.double() if task.regression else y)


def reference(model, task, x, y, active):
    """What train.py computes: autograd of the active models' summed batch-mean losses."""
    loss = task.example_loss(model(x, task.every_step), y).mean(1)  # (E,)
    grads = torch.autograd.grad(torch.where(active, loss, 0).sum(), list(model.parameters()))
    return loss.detach(), grads


def _model(cell, f, task, seeds, hidden=5, rho=1.1):
    spec = ModelSpec(cell=cell, nonlinearity=f, init="gaussian", rho=rho, hidden_size=hidden)
    return Ensemble(spec, task.input_size, task.output_size, seeds, torch.float64)


@pytest.mark.parametrize("cell,f", CASES)
@pytest.mark.parametrize("task_name", TASK_NAMES)
@pytest.mark.parametrize("chunk", [4, toolkit.CHUNK])  # 9 steps: chunks 4, 4, 1, or one chunk
@pytest.mark.parametrize("loops", ["compiled", "aten", "python"])
def test_matches_autograd(monkeypatch, cell, f, task_name, chunk, loops):
    """Compiled: the time loops in kernels.cpp where they build (.ci/run checks they do), at
    H = 5 the small-size loops; aten: with ATen calls per step (RNNBENCH_SMALL=off)."""
    monkeypatch.setattr(toolkit, "CHUNK", chunk)  # steps per weight-gradient product
    if loops == "python":
        monkeypatch.setattr(kernels, "loops", lambda device: None)
    if loops == "aten":
        monkeypatch.setenv(kernels.SMALL_ENV, "off")
    task = TASKS[task_name]
    model = _model(cell, f, task, [0, 1, 2])
    x, y = _data(task, 9, 3, 4)
    active = torch.tensor([True, False, True])
    loss, grads = loss_and_grads(model, task, x, y, active)
    ref_loss, ref_grads = reference(model, task, x, y, active)
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=1e-12)
    names = [n for n, _ in model.named_parameters()]
    assert len(grads) == len(ref_grads) == len(names)
    for name, g, r in zip(names, grads, ref_grads, strict=True):
        assert g.shape == r.shape, name
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12, msg=name)
        assert (g[1] == 0).all(), f"{name}: an inactive model gets zero gradient"


@pytest.mark.parametrize("cell,f", [("rnn", "linear"), ("rnn", "relu"), ("lstm", "tanh")])
def test_diverging_model_does_not_contaminate_others(cell, f):
    task = TASKS["copy"]
    model = _model(cell, f, task, [0, 1, 2], hidden=4)
    with torch.no_grad():
        model.W[1] *= 1e150  # a vanilla RNN overflows to inf, then NaN
        model.U[1] *= 1e150
        if cell == "lstm":  # bounded states: poison the weights instead
            model.W[1, 0, 0] = float("nan")
    x, y = _data(task, 6, 3, 3)
    active = torch.ones(3, dtype=torch.bool)
    loss, grads = loss_and_grads(model, task, x, y, active)
    assert not torch.isfinite(loss[1])
    for e, seed in ((0, 0), (2, 2)):  # each healthy model equals that model trained alone
        alone = _model(cell, f, task, [seed], hidden=4)
        ref_loss, ref_grads = reference(
            alone, task, x[:, e : e + 1], y[..., e : e + 1, :], active[:1]
        )
        torch.testing.assert_close(loss[e : e + 1], ref_loss, rtol=0, atol=1e-12)
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g[e : e + 1], r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_workspace_reuse_across_shapes(monkeypatch, cell):
    monkeypatch.setattr(toolkit, "CHUNK", 4)
    task = TASKS["adding"]
    model = _model(cell, "tanh", task, [0, 1])
    ws = Workspace()
    active = torch.ones(2, dtype=torch.bool)
    for seq_len, batch in ((7, 3), (7, 3), (11, 2)):
        x, y = _data(task, seq_len, 2, batch, seed=seq_len + batch)
        _, grads = loss_and_grads(model, task, x, y, active, ws)
        _, ref = reference(model, task, x, y, active)
        for g, r in zip(grads, ref, strict=True):
            torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def test_float32_close_to_float64():
    task = TASKS["adding"]
    model = _model("lstm", "tanh", task, [0, 1], hidden=8)
    x, y = _data(task, 20, 2, 6)
    active = torch.ones(2, dtype=torch.bool)
    _, g64 = loss_and_grads(model, task, x, y, active)
    _, g32 = loss_and_grads(model.float(), task, x.float(), y.float(), active)
    for a, b in zip(g32, g64, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5)
