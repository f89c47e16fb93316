"""The compiled kernels (kernels.cpp): the fused LSTM cell against the eager cell and autograd,
the time loops against bptt's Python loops."""

import math
import re

import numpy as np
import pytest
import torch

from rnnbench import kernel_build, kernels, toolkit
from rnnbench.bptt import loss_and_grads
from rnnbench.tasks import TASKS
from tests.cases import ATEN_LOOPS, COMPILED
from tests.test_bptt import _data, _model, reference

CPU = torch.device("cpu")
EAGER = (kernels.lstm_forward_eager, kernels.lstm_backward_eager)
CAPABILITY = torch.backends.cpu.get_cpu_capability()
BUILDS = {"AVX2": ["AVX2"], "AVX512": ["AVX2", "AVX512"]}.get(CAPABILITY, [])  # this CPU runs


def _fused_build(isa, monkeypatch):
    """The fused cell built for `isa`, as lstm_cell gives it on a CPU of that capability."""
    if isa not in BUILDS:
        pytest.skip(f"CPU capability {CAPABILITY}")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: isa)
    kernels._fused.cache_clear()
    name = kernels.lstm_cell_name(CPU)
    assert re.fullmatch(f"fused-{isa.lower()}-[0-9a-f]{{12}}", name), name
    return kernels.lstm_cell(CPU)


@pytest.fixture(params=["AVX2", "AVX512"])
def fused(request, monkeypatch):
    """The fused cell built for each instruction set this CPU runs (.ci/run asserts one builds)."""
    yield _fused_build(request.param, monkeypatch)
    kernels._fused.cache_clear()


@pytest.fixture(params=["AVX2", "AVX512", "eager"])
def impl(request, monkeypatch):
    """Run the LSTM with the fused cell (each build), or force the eager one."""
    if request.param == "eager":
        with kernels.eager():
            assert kernels.lstm_cell(CPU) == EAGER
            yield request.param
    else:
        assert _fused_build(request.param, monkeypatch) != EAGER
        yield request.param
        kernels._fused.cache_clear()


@pytest.mark.parametrize("hidden", [3, 11, 16])  # below, across and on the vector width
@pytest.mark.parametrize("task_name", ["adding", "copy"])
def test_lstm_matches_autograd(impl, hidden, task_name):
    task = TASKS[task_name]
    model = _model("lstm", "tanh", task, [0, 1, 2], hidden=hidden)
    x, y = _data(task, 12, 3, 5)
    active = torch.tensor([True, True, False])
    loss, grads = loss_and_grads(model, task, x, y, active)
    ref_loss, ref_grads = reference(model, task, x, y, active)
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=1e-12)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def _cell_inputs(dtype, hidden=19, seed=0):
    """Pre-activations spanning the tanh approximation's range and its clamp, NaN and +-inf in
    vector lanes of every gate, and strided rows."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(3, 4, 4 * hidden, generator=gen, dtype=dtype) * 6
    for gate in range(4):
        a[0, 0, gate * hidden + torch.arange(3)] = torch.tensor(
            [math.nan, math.inf, -math.inf], dtype=dtype
        )
    c_prev = torch.randn(3, 4, hidden, generator=gen, dtype=dtype)
    c_prev[1, 1, 2] = math.nan
    x = torch.randn(3, 4, 2, generator=gen, dtype=dtype)
    row = torch.zeros(3, 2, 4, hidden + 3, dtype=dtype)  # a joint input row: [h, x, 1]
    return a, c_prev, row[:, 1, :, :hidden], x, row[:, 1, :, hidden:-1]


def _run_cell(cell, dtype):
    """Forward then backward of `cell` on `_cell_inputs` -> (gates, c, h, dLoss/da, dc_prev)."""
    fwd, bwd = cell
    a, c_prev, h, x, x_out = _cell_inputs(dtype)
    z, c = torch.empty_like(a), torch.empty_like(c_prev)
    fwd(a, z, c_prev, c, h, x, x_out)
    assert torch.equal(x_out, x)  # the next step's inputs, beside h
    gates, dc = z.clone(), torch.full_like(c, -0.7)
    bwd(torch.ones_like(h) * 0.3, dc, z, c, c_prev)
    return gates, c, h, z, dc


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-6), (torch.float64, 1e-15)])
def test_fused_cell_equals_eager_cell(fused, dtype, atol):
    out = {name: _run_cell(cell, dtype) for name, cell in [("fused", fused), ("eager", EAGER)]}
    for f, e in zip(out["fused"], out["eager"], strict=True):
        assert e.isnan().any()  # NaN reaches every output, and must stay NaN (a diverged model)
        torch.testing.assert_close(f, e, rtol=0, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_builds_for_every_instruction_set_give_the_same_numbers(monkeypatch, dtype):
    """Lane by lane the same operations (a partial last vector, no scalar tail), so the AVX2 and
    AVX-512 builds agree to the bit, at H = 19: 2 + 3 and 1 + 3 vectors (float32)."""
    if len(BUILDS) < 2:
        pytest.skip(f"CPU capability {CAPABILITY}")
    try:
        out = [_run_cell(_fused_build(isa, monkeypatch), dtype) for isa in BUILDS]
    finally:
        kernels._fused.cache_clear()
    for f, e in zip(*out, strict=True):
        torch.testing.assert_close(f, e, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_cell_state_passes_what_eager_passes(fused, dtype):
    """|c| >= 9.5: float32 tanh(c) is +-1, so no gradient flows through it (the fused tanh too),
    in full vectors and in a partial last one (19 = 16 + 3)."""
    c = torch.tensor([-30.0, -9.5, 9.5, 12.0, 30.0], dtype=dtype).repeat(4)[:19].view(1, 1, 19)
    out = {}
    for name, bwd in [("fused", fused[1]), ("eager", kernels.lstm_backward_eager)]:
        dc, gates = torch.zeros_like(c), torch.full((1, 1, 4 * 19), 0.5, dtype=dtype)
        bwd(torch.ones_like(c), dc, gates, c, torch.zeros_like(c))
        out[name] = (dc, gates)
    if dtype == torch.float32:
        assert (out["eager"][0] == 0).all()  # what the eager cell does at these states
    torch.testing.assert_close(out["fused"], out["eager"], rtol=0, atol=1e-12)


def test_fused_tanh_is_torchs_to_one_float32_step(fused):
    """Near +-1 the gradient 1 - tanh^2 is a difference of nearly equal numbers: an error of a
    few float32 steps there (a rational approximation's 2e-7) is 10-600% of it at |x| in 5..9.
    Every 1e-4 (1 - 2 / (exp(2x) + 1) alone was 2 steps off near 0.2 and 0.6, between samples
    1e-2 apart)."""
    n = 240_001
    a = torch.zeros(1, 1, 4 * n)
    a[..., 2 * n : 3 * n] = xs = torch.linspace(-12, 12, n)  # the g gate: tanh
    z, c_prev, c, h, x = torch.empty_like(a), *torch.zeros(3, 1, 1, n), torch.zeros(1, 1, 2)
    fused[0](a, z, c_prev, c, h, x, torch.empty_like(x))
    g = z[0, 0, 2 * n : 3 * n]
    assert (g - torch.tanh(xs)).abs().max() <= 2.0**-24  # 6e-8: one step below 1
    assert (g[xs.abs() >= 10].abs() == 1).all()


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2.0**-24), (torch.float64, 1e-15)])
def test_compiled_tanh_is_the_fused_cells_and_torchs(fused, dtype, atol):
    """kernels.tanh (the RNN's and the GRU's, 5x torch's speed in float32 on an AMD EPYC): the
    fused cell's tanh, within one float32 step of torch's, NaN and +-inf kept, in place, on
    strided rows with a partial last vector (19 = 16 + 3); torch's where nothing is compiled."""
    a = torch.linspace(-12, 12, 3 * 4 * 19, dtype=dtype).view(3, 4, 19)
    a[0, 0, :3] = torch.tensor([math.nan, math.inf, -math.inf], dtype=dtype)
    out = torch.zeros(3, 2, 4, 21, dtype=dtype)[:, 1, :, 1:-1]
    assert kernels.tanh(a, out) is out
    torch.testing.assert_close(out, torch.tanh(a), rtol=0, atol=atol, equal_nan=True)
    assert out[0, 0, 0].isnan() and out[0, 0, 1] == 1 and out[0, 0, 2] == -1
    z, c_prev = torch.zeros(3, 4, 4 * 19, dtype=dtype), torch.zeros_like(a)
    z[..., 2 * 19 : 3 * 19] = a  # the g gate
    x, h = torch.zeros(3, 4, 1, dtype=dtype), torch.empty_like(a)
    fused[0](z.clone(), z, c_prev, torch.empty_like(a), h, x, torch.empty_like(x))
    torch.testing.assert_close(out, z[..., 2 * 19 : 3 * 19], rtol=0, atol=0, equal_nan=True)
    in_place = a.clone()
    kernels.tanh(in_place, in_place)
    torch.testing.assert_close(in_place, out, rtol=0, atol=0, equal_nan=True)
    with kernels.eager():
        assert torch.equal(kernels.tanh(a[1:], out[1:]), torch.tanh(a[1:]))


def test_fused_cell_rejects_mismatched_arguments(fused):
    fwd, bwd = fused
    a, c_prev, h, x, x_out = _cell_inputs(torch.float32)
    z, c = torch.empty_like(a), torch.empty_like(c_prev)
    with pytest.raises(RuntimeError, match="lstm_forward"):
        fwd(a, z, c_prev.double(), c, h, x, x_out)
    with pytest.raises(RuntimeError, match="lstm_forward"):
        fwd(a[..., :-1], z, c_prev, c, h, x, x_out)  # not (E, B, 4H)
    with pytest.raises(RuntimeError, match="lstm_forward"):
        fwd(a, z, c_prev.transpose(1, 2).contiguous().transpose(1, 2), c, h, x, x_out)  # strided
    with pytest.raises(RuntimeError, match="lstm_forward"):
        fwd(a, z, a, c, h, x, x_out)  # c_prev (E, B, 4H)
    with pytest.raises(RuntimeError, match="lstm_forward"):
        fwd(a, z, c_prev, c, h, x[..., :1], x_out)  # x (E, B, 1), x_out (E, B, 2)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        fwd(a, z, c_prev, c, h[:, :1].expand_as(h), x, x_out)  # an output written twice
    with pytest.raises(RuntimeError, match="lstm_backward"):
        bwd(h, c, z, c, c_prev.double())
    with pytest.raises(RuntimeError, match="lstm_backward"):
        bwd(h, c, z[..., :-1], c, c_prev)


def _compiled_and_python(monkeypatch, run) -> dict:
    """run() with the compiled loops, then with bptt's Python loops."""
    out = {}
    for loops in ("compiled", "python"):
        with monkeypatch.context() as m:
            if loops == "python":
                m.setattr(kernels, "loops", lambda device: None)
            out[loops] = run()
    return out


@pytest.mark.parametrize("cell,f", ATEN_LOOPS)
@pytest.mark.parametrize("task_name", ["adding", "copy"])  # dLoss/dh at the last, every step
@pytest.mark.parametrize("threads", [1, 2])  # 2: the compiled loops split the models 2 + 1
@pytest.mark.parametrize("hidden", [19, 40])  # the small-size path switched off; above it
def test_compiled_aten_loops_give_the_python_loops_numbers_to_the_bit(
    fused, monkeypatch, cell, f, task_name, threads, hidden
):
    """The same ATen calls in the same order (and for the LSTM the same fused cell): float32,
    10 steps in chunks of 4, 4 and 2, model 2 diverged (a NaN input) beside the others; with
    parameters that require grad, as in training (grad mode is per thread)."""
    monkeypatch.setattr(toolkit, "CHUNK", 4)
    task = TASKS[task_name]
    model = _model(cell, f, task, [0, 1, 2], hidden=hidden, rho=3.0).float()
    x, y = _data(task, 10, 3, 4)
    x, y = x.float() * 40, (y.float() if task.regression else y)
    x[3, 2, 0, 0] = math.nan
    active = torch.tensor([True, True, True])
    assert all(p.requires_grad for p in model.parameters())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with kernels.aten_loops():
            run = lambda: loss_and_grads(model, task, x, y, active)  # noqa: E731
            out = _compiled_and_python(monkeypatch, run)
    finally:
        torch.set_num_threads(before)
    loss, grads = out["compiled"]
    assert loss[:2].isfinite().all() and loss[2].isnan()
    torch.testing.assert_close(out["compiled"], out["python"], rtol=0, atol=0, equal_nan=True)


def _small_run(cell, f, task_name, hidden, dtype, nan_model: bool):
    """loss_and_grads of 3 models over 9 steps, batch 11 (blocks of rows and single rows); model
    2's inputs NaN at step 3 if nan_model."""
    task = TASKS[task_name]
    model = _model(cell, f, task, [0, 1, 2], hidden=hidden).to(dtype)
    x, y = _data(task, 9, 3, 11)
    x, y = x.to(dtype), (y.to(dtype) if task.regression else y)
    if nan_model:
        x[3, 2, 0, 0] = math.nan
    return loss_and_grads(model, task, x, y, torch.tensor([True, True, True]))


SMALL_TOL = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-12, 1e-12)}  # rtol, atol (x the
# largest entry): as test_bptt's float32 against float64 and autograd's; the sums' order differs


@pytest.mark.parametrize("cell,f", COMPILED)
@pytest.mark.parametrize("task_name", ["adding", "copy"])  # dLoss/dh at the last, every step
@pytest.mark.parametrize("hidden", [3, 16, 19, 32])  # within, on, across vectors; the largest
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_path_gives_the_python_loops_numbers(monkeypatch, cell, f, task_name, hidden, dtype):
    """The small-size loops (IndRNN's: its only compiled loops) against bptt's Python loops: the
    loss and every weight gradient within float rounding; model 2 diverged (NaN) and models 0 and
    1 the same to the bit as without it; the same numbers at 1 and 2 threads and run again."""
    if kernels.loops(CPU) is None:
        pytest.skip("no compiled loops")
    assert kernels.small(hidden)
    out = _compiled_and_python(
        monkeypatch, lambda: _small_run(cell, f, task_name, hidden, dtype, True)
    )
    (loss, grads), (ref_loss, ref_grads) = out["compiled"], out["python"]
    assert loss[:2].isfinite().all() and loss[2].isnan()
    rtol, atol = SMALL_TOL[dtype]
    for g, r in zip([loss, *grads], [ref_loss, *ref_grads], strict=True):
        assert g.dtype == dtype and g[2].isnan().any()
        torch.testing.assert_close(g[:2], r[:2], rtol=rtol, atol=atol * r[:2].abs().max())
    clean_loss, clean_grads = _small_run(cell, f, task_name, hidden, dtype, False)
    for g, c in zip([loss, *grads], [clean_loss, *clean_grads], strict=True):
        assert torch.equal(g[:2], c[:2])  # model 2's NaN never reaches them
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the models split 2 + 1 among the threads
    try:
        again = _small_run(cell, f, task_name, hidden, dtype, True)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(again, (loss, grads), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", [19, 32])  # 2 vectors of 16 floats (AVX-512), 3 or 4 of 8
def test_small_path_builds_give_the_same_numbers(monkeypatch, dtype, hidden):
    """Each lane sums its own chain of FMAs in one order, whatever the vector width: the AVX2 and
    the AVX-512 build give the same numbers to the bit (every cell, the nonlinearity tanh)."""
    if len(BUILDS) < 2:
        pytest.skip(f"CPU capability {CAPABILITY}")
    out = []
    try:
        for isa in BUILDS:
            _fused_build(isa, monkeypatch)
            out.append(
                [_small_run(cell, "tanh", "copy", hidden, dtype, True) for cell, _ in COMPILED]
            )
    finally:
        kernels._fused.cache_clear()
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0, equal_nan=True)


def test_small_path_switch(monkeypatch):
    """On at H <= SMALL_HIDDEN; off inside aten_loops() or with RNNBENCH_SMALL=off, which the
    tables record."""
    monkeypatch.setattr(kernels, "USED", set())
    assert kernels.small(kernels.SMALL_HIDDEN) and not kernels.small(kernels.SMALL_HIDDEN + 1)
    assert kernels.USED == set()
    with kernels.aten_loops():
        assert not kernels.small(16)
    assert kernels.small(16) and kernels.USED == {kernels.ATEN_LOOPS}
    monkeypatch.setenv(kernels.SMALL_ENV, "off")
    assert not kernels.small(16)
    monkeypatch.setenv(kernels.SMALL_ENV, "x")
    with pytest.raises(ValueError, match="RNNBENCH_SMALL='x': expected 'auto' or 'off'"):
        kernels.small(16)


@pytest.mark.parametrize("cell,f", COMPILED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", [19, 40])  # IndRNN's probe: a row in registers or not
def test_compiled_probe_matches_the_python_probe(fused, monkeypatch, cell, f, dtype, hidden):
    """The same steps, the statistics in one fused pass (sums in another order): log10 norms
    within float rounding. Models 0 and 1 at small and large W: one of them moves by more than
    10 decades over 60 steps (rescaled in float32); model 2's states overflow to inf/NaN (the
    GRU's and IndRNN's are bounded: a NaN weight). The forward with ATen calls per step (the
    Python loops' states to the bit: model 1's chaotic states would amplify a rounding
    difference; the small-size loops' probes are checked against autograd in test_gradients)."""
    from rnnbench.gradients import gradient_profile

    task = TASKS["adding"]
    model = _model(cell, f, task, [0, 1, 2], hidden=hidden, rho=0.1)
    recurrent = model.u if cell == "indrnn" else model.W  # the recurrent weights
    with torch.no_grad():
        recurrent[1] *= 30 if cell in ("rnn", "indrnn") else 1e3
        recurrent[2] *= 1e30
        if cell in ("gru", "indrnn"):
            recurrent[2, 0] = math.nan
    x, y = _data(task, 60, 3, 4)
    with kernels.aten_loops():
        out = _compiled_and_python(
            monkeypatch, lambda: gradient_profile(model, task, x, y, dtype=dtype)
        )
    norms = out["compiled"].log10_grad_norm
    with np.errstate(invalid="ignore"):  # inf - inf: a linear model 1 may overflow
        assert np.nanmax(np.abs(norms[:2, 0] - norms[:2, -1])) > 10
    assert not np.isfinite(out["compiled"].log10_grad_norm[2]).all()
    atol = 1e-12 if dtype == torch.float64 else 1e-5 if (cell, f) in ATEN_LOOPS else 1e-4  # log10,
    # over 60 steps; IndRNN's compiled forward sums in another order than its Python loop (1e-4:
    # float32 against float64 in test_gradients)
    for name in ("log10_grad_norm", "log10_grad_norm_median", "log10_bound"):
        compiled, python = (getattr(out[k], name) for k in ("compiled", "python"))
        np.testing.assert_allclose(compiled, python, rtol=0, atol=atol, err_msg=name)


def test_compiled_loops_reject_what_bptt_would_not_pass(fused):
    ops = kernels.loops(CPU)
    x1, u_b, w_t = torch.zeros(2, 5, 3, 3), torch.zeros(2, 3, 4), torch.zeros(2, 4, 4)
    h, a = torch.zeros(2, 6, 3, 4), torch.zeros(2, 3, 4)
    ops.rnn_forward(x1, u_b, w_t, h, a, "tanh")
    with pytest.raises(RuntimeError, match="rnn_forward: unknown nonlinearity 'softplus'"):
        ops.rnn_forward(x1, u_b, w_t, h, a, "softplus")
    with pytest.raises(RuntimeError, match="rnn_forward: arguments do not have the shapes"):
        ops.rnn_forward(x1, u_b, w_t, h[:, :5], a, "tanh")  # h_0..h_L: L + 1 states
    x = torch.zeros(5, 2, 3, 2)  # the small-size loops read x (L, E, B, D) itself
    ops.rnn_forward_small(x, u_b, w_t, h, "tanh")
    with pytest.raises(RuntimeError, match="rnn_forward_small: arguments do not have the shapes"):
        ops.rnn_forward_small(x, u_b, w_t, h[:, :5], "tanh")
    with pytest.raises(RuntimeError, match="rnn_forward_small: arguments do not have the shapes"):
        ops.rnn_forward_small(x, u_b, w_t.double(), h, "tanh")
    with pytest.raises(RuntimeError, match="the small-size path takes 1 <= H <= 32, got 40"):
        big = torch.zeros(2, 6, 3, 40)
        ops.rnn_forward_small(x, torch.zeros(2, 3, 40), torch.zeros(2, 40, 40), big, "tanh")
    d_w, d_ub = torch.zeros(2, 4, 4), torch.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="rnn_backward_small: arguments do not have the shapes"):
        ops.rnn_backward_small(h, x, w_t, torch.zeros(2, 4, 3, 4), d_w, d_ub, "tanh")  # L = 4
    with pytest.raises(RuntimeError, match="unknown nonlinearity 'softplus'"):
        ops.indrnn_forward(x, u_b, torch.zeros(2, 4), h, "softplus")


DENORMALS_BY_THREAD = """
import torch
from rnnbench import kernels
ops = kernels.loops(torch.device("cpu"))
torch.set_num_threads(3)
torch.set_flush_denormal(False)
torch.ones(10**6).add_(1)  # ATen's worker threads start, keeping denormals
torch.set_flush_denormal(True)  # this thread only

def forward(threads):  # h_t = sigmoid(-88) = 6e-39, a denormal float32
    torch.set_num_threads(threads)
    x1, u_b = torch.ones(3, 4, 2, 2), torch.zeros(3, 2, 8)  # [x, 1], [U; b]: a = b
    u_b[:, 1] = -88
    h = torch.zeros(3, 5, 2, 8)
    ops.rnn_forward(x1, u_b, torch.zeros(3, 8, 8), h, torch.empty(3, 2, 8), "sigmoid")
    return h.view(torch.int32)  # bits: with denormals-are-zero a denormal == 0

print(int((forward(3) != 0).sum()), int((forward(1) != 0).sum()))
"""


def test_compiled_loops_flush_denormals_as_the_caller_on_every_thread():
    """In a fresh process (this machine's build): ATen's worker threads started before
    torch.set_flush_denormal(True) keep denormals; the models split to them must be flushed as
    the caller's own (3 threads, one model each), or a model's numbers would depend on the
    thread that ran it."""
    import subprocess
    import sys

    if kernels.loops(CPU) is None:
        pytest.skip("no compiled loops")
    out = subprocess.run(
        [sys.executable, "-c", DENORMALS_BY_THREAD], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "0"]  # every state flushed, at 3 threads as at 1


def test_failed_build_falls_back_to_eager(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    def no_compiler(*args, **kwargs):
        raise OSError("c++: command not found")

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # an empty cache: a build is due
    monkeypatch.setattr(kernel_build, "_LOADED", {})
    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    kernels._fused.cache_clear()
    try:
        with pytest.warns(UserWarning, match="did not build.*c\\+\\+: command not found"):
            cell = kernels.lstm_cell(CPU)
        assert cell == EAGER
        assert kernels.lstm_cell_name(CPU).startswith("eager (the fused kernels did not")
    finally:
        kernels._fused.cache_clear()


@pytest.mark.parametrize("value,name", [("eager", "eager (RNNBENCH_KERNELS=eager)"), ("x", None)])
def test_environment_switch(monkeypatch, value, name):
    monkeypatch.setenv(kernels.ENV, value)
    kernels._fused.cache_clear()
    try:
        if name is None:
            with pytest.raises(ValueError, match="RNNBENCH_KERNELS='x': expected 'auto'"):
                kernels.lstm_cell_name(CPU)
        else:
            assert kernels.lstm_cell_name(CPU) == name
    finally:
        kernels._fused.cache_clear()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])  # the RNN's and GRU's tanh is the build's
def test_tables_record_the_kernels_that_ran(monkeypatch, cell):
    from rnnbench.tables import versions

    monkeypatch.setattr(kernels, "USED", set())
    assert "lstm_cell" not in versions()
    task = TASKS["adding"]
    model = _model(cell, "tanh", task, [0], hidden=4)
    x, y = _data(task, 3, 1, 2)
    loss_and_grads(model, task, x, y, torch.ones(1, dtype=torch.bool))
    assert kernels.lstm_cell_name(CPU) in versions()["lstm_cell"]


def test_job_records_the_lstm_cell_of_cells_kept_from_an_earlier_run(monkeypatch):
    """A resumed job that runs no LSTM itself still records what its kept cells ran."""
    from rnnbench.tables import merged_versions

    monkeypatch.setattr(kernels, "USED", set())
    metas = [{"versions": {"lstm_cell": ["eager (forced)"]}}, {"versions": {"torch": "x"}}]
    assert merged_versions(metas)["lstm_cell"] == ["eager (forced)"]
    assert "lstm_cell" not in merged_versions(metas[1:])
