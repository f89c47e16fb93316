"""What a training job needs: its memory and its time, estimated from its shape before anything
runs (the pipeline's mem_mb and runtime resources, `rnnbench estimate`)."""

from __future__ import annotations

import math

from . import cells, tasks
from .errors import SpecError
from .spec import TrialSpec

EVAL_CHUNK = 256  # held-out examples per forward pass: bounds evaluation memory
BASE_MB = 600  # resident size of a Python process with torch, pandas and the task data


def estimate_mem_mb(spec: TrialSpec) -> int:
    """Peak memory of a training job from its shape: activations kept for BPTT, the weights
    (with their gradients and optimizer state) and a base process."""
    task, cell = tasks.get(spec.task), cells.get(spec.model.cell)
    n = spec.n_models
    steps = task.length(spec.task.seq_len)
    h, d, o = spec.model.hidden_size, task.input_size, task.output_size
    # floats kept per example and step (the cell's count, peak RSS with autograd; the
    # hand-written BPTT peaks lower, so this is an upper bound)
    width = cell.floats_per_unit * h
    per_step = n * spec.train.batch_size * (width + 2 * d + 2 * o)
    eval_size = min(max(spec.task.val_size, spec.task.test_size), EVAL_CHUNK)
    size = {"float32": 4, "float64": 8}[spec.runtime.dtype]
    train_bytes = 3 * steps * per_step * size  # graph, its gradients and the input batch
    eval_bytes = n * eval_size * steps * (o + d) * size
    weights = n * (cell.recurrent_weights(h) + cell.gates * h * (d + 1) + o * (h + 1))
    weight_bytes = weights * (8 + 4 * size)  # float64 init; weights, grads, 2 optimizer states
    return int(BASE_MB + (train_bytes + eval_bytes + weight_bytes) / 2**20)


def available_mb() -> int | None:
    """This machine's available memory (MemAvailable in /proc/meminfo), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return kb // 1024


def check_memory(spec: TrialSpec, machine: bool = False) -> None:
    """Refuse a cell whose estimated memory exceeds runtime.max_mem_mb or, with machine, this
    machine's available memory (checked where the cell runs, before anything is allocated)."""
    need, steps = estimate_mem_mb(spec), tasks.get(spec.task).length(spec.task.seq_len)
    limit, what = spec.runtime.max_mem_mb, "the limit runtime.max_mem_mb"
    free = available_mb() if machine else None
    if free is not None and free < limit:
        limit, what = free, "this machine's available memory"
    if need > limit:
        raise SpecError(
            "runtime.max_mem_mb",
            f"this cell needs ~{need} MB "
            f"({spec.n_models} models x batch {spec.train.batch_size} x {steps} steps x hidden "
            f"{spec.model.hidden_size}), above {what} ({limit} MB)",
        )


# The time model of one training step of one model on one thread, fitted (least squares on the
# relative error) to timed trials (benchmarks/README.md: which, where, and how well it fits):
# each gate pre-activation of each example and step (B x L x G x H of them) costs
# NS_PER_GATE of elementwise work and 6 (H + D + 1) flops of matmuls at GFLOPS, each output read
# out (B x O, at every step for copy) NS_PER_OUTPUT, and each time step US_PER_STEP of loop.
NS_PER_GATE = 1.7
GFLOPS = 39.0
NS_PER_OUTPUT = 57.0
US_PER_STEP = 10.6
AUTOGRAD_FACTOR = 8.0  # a cell without a hand-written backward (autograd over its step): the
# smallest factor that kept the IndRNN's measured steps under the estimate while it trained by
# autograd (a custom cell's now; the built-ins all have one). The fit predates the small-size
# loops (kernels.SMALL_HIDDEN), which make cells at H <= 32 faster than estimated: an upper bound
FORWARD_SHARE = 1 / 3  # an evaluation (forward only) per example, against a training step
JOB_START_S = 3.0  # a job's start-up: Python, import torch, writing tables


def step_seconds(spec: TrialSpec, examples: int | None = None) -> float:
    """Seconds of one training step of one model on `examples` (default: the batch)."""
    task, h, cell = tasks.get(spec.task), spec.model.hidden_size, cells.get(spec.model.cell)
    b, steps = examples or spec.train.batch_size, task.length(spec.task.seq_len)
    work = b * steps * cell.gates * h
    flops = 6 * b * steps * (cell.recurrent_weights(h) + cell.gates * h * (task.input_size + 1))
    outputs = b * (steps if task.every_step else 1) * task.output_size
    seconds = (
        work * NS_PER_GATE * 1e-9
        + flops / (GFLOPS * 1e9)
        + outputs * NS_PER_OUTPUT * 1e-9
        + steps * US_PER_STEP * 1e-6
    )
    if cell.backward is not None:
        return seconds
    return seconds * (cell.autograd_factor or AUTOGRAD_FACTOR)


def estimate_seconds(spec: TrialSpec) -> float:
    """Upper bound on a cell's training time: every model trains every step (no model solved
    or diverged early), with its validation checks and logged evaluations."""
    tr, tk = spec.train, spec.task
    evals = tr.steps / tr.check_every + tr.steps / tr.log_every + 2
    eval_s = FORWARD_SHARE * step_seconds(spec, max(tk.val_size, tk.test_size))
    return spec.n_models * (tr.steps * step_seconds(spec) + evals * eval_s)


def runtime_minutes(seconds: float, attempt: int = 1) -> int:
    """A cluster job's time limit: twice the estimate (other CPUs may be slower) plus a
    minute, times the retry attempt (a job that still times out resumes from its checkpoint)."""
    return math.ceil((2 * seconds + 60) / 60) * attempt
