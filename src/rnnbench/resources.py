"""What a training job needs: its memory, estimated from its shape before anything runs."""

from __future__ import annotations

from .spec import CellSpec, SpecError
from .tasks import TASKS

EVAL_CHUNK = 256  # held-out examples per forward pass: bounds evaluation memory
BASE_MB = 600  # resident size of a Python process with torch, pandas and the task data


def estimate_mem_mb(spec: CellSpec) -> int:
    """Peak memory of a training job from its shape: activations kept for BPTT + a base process."""
    task = TASKS[spec.task.name]
    n = len(spec.train.seeds) * len(spec.train.clipping)
    steps = task.length(spec.task.seq_len)
    # floats kept per example and step: peak RSS measured on torch 2.13 with autograd; the
    # hand-written BPTT (bptt.py) peaks ~25% lower, so this is an upper bound
    width = {"rnn": 5, "lstm": 17, "gru": 13}[spec.model.cell] * spec.model.hidden_size
    per_step = n * spec.train.batch_size * (width + 2 * task.input_size + 2 * task.output_size)
    eval_size = min(spec.task.eval_size, EVAL_CHUNK)
    size = {"float32": 4, "float64": 8}[spec.runtime.dtype]
    train_bytes = 3 * steps * per_step * size  # graph, its gradients and the input batch
    eval_bytes = n * eval_size * steps * (task.output_size + task.input_size) * size
    return int(BASE_MB + (train_bytes + eval_bytes) / 2**20)


def check_memory(spec: CellSpec) -> None:
    need = estimate_mem_mb(spec)
    if need > spec.runtime.max_mem_mb:
        raise SpecError(
            f"runtime.max_mem_mb: this cell needs ~{need} MB "
            f"({len(spec.train.seeds) * len(spec.train.clipping)} models x batch "
            f"{spec.train.batch_size} x {spec.task.seq_len} steps x hidden "
            f"{spec.model.hidden_size}), above the limit of {spec.runtime.max_mem_mb} MB"
        )
