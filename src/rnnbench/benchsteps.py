"""What `rnnbench bench` times and measures against: a training step of the suite's trainer and
of the naive per-seed baseline (`STEPS`), on one fixed adding-task batch; the sgemm and
elementwise peaks of the roofline; the timer (`seconds`, `step_seconds`); glibc's malloc mode
(`set_allocator`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TASK = "adding"  # D = 2 inputs, one regression output: the recurrence dominates the cost


def seconds(fn: Callable[[], object], device) -> float:
    import torch

    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def step_seconds(step: Callable[[], object], device, min_seconds: float) -> float:
    """Mean seconds per step over consecutive steps lasting >= min_seconds, after one untimed."""
    seconds(step, device)  # allocation, first touch, kernel choice, waking the cores
    n, total = 0, 0.0
    while n == 0 or total < min_seconds:
        total += seconds(step, device)
        n += 1
    return total / n


ALLOCATORS = {
    "steady": "glibc's malloc keeps freed memory: no mmap, munmap or trimming per large block",
    "default": "glibc's defaults: blocks over a threshold mmapped and returned at free; the "
    "threshold rises with the largest block freed so far (up to 32 MB)",
}


def set_allocator(mode: str) -> str:
    """Put this process's malloc in `mode` (ALLOCATORS) -> what applies ('default (...)' where
    it cannot be set). The naive baseline allocates its autograd buffers anew at every step: with
    glibc's defaults each large one page-faults in again, and how many do depended on what the
    process had run before (benchmarks/README.md). Steady is the baseline's best case, the same
    in every run;
    the ensemble keeps its buffers (`toolkit.Workspace`) either way. Lasts for the process."""
    if mode == "default":
        return mode
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc
    except (OSError, AttributeError):
        return "default (no mallopt: not glibc)"
    m_trim_threshold, m_mmap_threshold, most = -1, -3, ctypes.c_int(2**31 - 1)
    if not (mallopt(m_mmap_threshold, most) and mallopt(m_trim_threshold, most)):
        return "default (mallopt refused)"
    return mode


def elementwise_peaks(device, size: int = 1 << 18, repeats: int = 20) -> tuple[float, float]:
    """Fastest float32 tanh (the compiled kernels' where they run: the cells' own) and sigmoid
    rates of one thread, G evaluations/s, on an in-cache block of `size` values."""
    import torch

    from . import kernels

    torch.set_num_threads(1)
    a = torch.linspace(-6, 6, size, device=device).view(1, 256, -1)  # (E, B, W) rows
    out = torch.empty_like(a)
    rates = []
    for fn in (lambda: kernels.tanh(a, out), lambda: torch.sigmoid(a, out=out)):
        fn()
        rates.append(size / min(seconds(fn, device) for _ in range(repeats)) / 1e9)
    return tuple(rates)


def sgemm_peak(threads: int, device, size: int = 2048, repeats: int = 5) -> float:
    """Fastest single-precision square matmul rate, GFLOP/s, at this thread count."""
    import torch

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device)
    b = torch.randn(size, size, generator=gen).to(device)
    out = torch.empty(size, size, device=device)
    torch.mm(a, b, out=out)
    best = min(seconds(lambda: torch.mm(a, b, out=out), device) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def adding_batch(seq_len: int, batch: int, models: int, device):
    """One adding-task batch per model: x (T, E, B, 2), y (E, B), float32."""
    import numpy as np
    import torch

    from .tasks import TASKS

    rng = np.random.default_rng(0)
    xs, ys = zip(*(TASKS[TASK].sample(batch, seq_len, rng) for _ in range(models)), strict=True)
    return torch.from_numpy(np.stack(xs, 1)).to(device), torch.from_numpy(np.stack(ys)).to(device)


def naive_step(cell: str, hidden: int, batch: int, seq_len: int, models: int, device):
    """One autograd training step of `models` separate torch.nn models, one after another
    (None for a cell without a torch.nn baseline)."""
    import torch
    from torch import nn

    from . import cells

    rnn_cls = cells.get(cell).torch_baseline
    if rnn_cls is None:
        return None
    x, y = adding_batch(seq_len, batch, models, device)
    nets = []
    for seed in range(models):
        torch.manual_seed(seed)
        rnn, head = rnn_cls(2, hidden).to(device), nn.Linear(hidden, 1).to(device)
        params = [*rnn.parameters(), *head.parameters()]
        nets.append((rnn, head, params, torch.optim.Adam(params, lr=1e-3)))

    def step():
        for e, (rnn, head, params, opt) in enumerate(nets):
            out, _ = rnn(x[:, e])  # (T, B, H)
            loss = ((head(out[-1]).squeeze(-1) - y[e]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)  # as the suite: norm clipping
            opt.step()

    return step


def ensemble_step(
    cell,
    hidden,
    batch,
    seq_len,
    models,
    device,
    autograd: bool = False,
    eager: bool = False,
    aten: bool = False,
):
    """One step of the suite's trainer (`trainstep`, as train.train_trial runs it) for all seeds
    at once; eager: no compiled kernels (the cells' Python loops, the LSTM's eager cell); aten:
    the compiled loops with ATen calls per step at every H (`kernels.aten_loops`)."""
    import contextlib

    import torch

    from . import kernels, trainstep
    from .models import Ensemble
    from .optim import CLIP_MODES
    from .spec import ModelSpec, TrainSpec
    from .tasks import TASKS
    from .toolkit import Workspace

    task = TASKS[TASK]
    spec = ModelSpec(cell=cell, hidden_size=hidden)
    model = Ensemble(spec, task.input_size, task.output_size, list(range(models)), seq_len=seq_len)
    model = model.to(device)
    optimizer = trainstep.optimizer(model, TrainSpec(optimizer="adam"))
    modes = torch.full((models,), CLIP_MODES["norm"], device=device)
    thresholds = torch.full((models,), 1.0, dtype=torch.float64, device=device)
    x, y = adding_batch(seq_len, batch, models, device)
    workspace = Workspace()
    cell_choice = kernels.eager if eager else kernels.aten_loops if aten else contextlib.nullcontext

    def step():
        with cell_choice():
            _, grads, _, _ = trainstep.gradients(
                model, task, x, y, modes, thresholds, workspace, autograd=autograd
            )
        trainstep.update(model, optimizer, grads)

    return step


STEPS = {
    "naive": naive_step,
    "ensemble": ensemble_step,
    "autograd": lambda *a: ensemble_step(*a, autograd=True),
    "eager": lambda *a: ensemble_step(*a, eager=True),
    "aten": lambda *a: ensemble_step(*a, aten=True),
}


@dataclass(frozen=True)
class Peaks:
    """What this device does at its fastest at one thread count: GFLOP/s of a large float32 matmul,
    G evaluations/s of the float32 tanh and sigmoid."""

    sgemm: float
    tanh: float
    sigmoid: float


def roofline_steps_per_s(cell: str, hidden: int, batch: int, seq_len: int, peaks: Peaks) -> float:
    """The model-steps/s of a training step whose products ran at the sgemm peak and whose tanh
    and sigmoid evaluations at theirs, with nothing else costing time (module docstring)."""
    from . import cells
    from .spec import ModelSpec
    from .tasks import TASKS

    c, inputs = cells.get(cell), TASKS[TASK].input_size
    flops = 6 * batch * seq_len * (c.recurrent_weights(hidden) + c.gates * hidden * (inputs + 1))
    n_tanh, n_sigmoid = c.transcendentals(ModelSpec(cell=cell, hidden_size=hidden))
    evals = batch * seq_len * hidden * (n_tanh / peaks.tanh + n_sigmoid / peaks.sigmoid)
    return 1e9 / (flops / peaks.sgemm + evals)
