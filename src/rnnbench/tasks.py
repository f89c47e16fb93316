"""Long-range-dependency tasks: pure, seeded generators with their loss, trivial baseline and
success criterion.

A generator maps (n, T, numpy Generator) to inputs x (L, n, D) float32 and targets y: (n,) for a
single read-out at the last step, (L, n) for a read-out at every step (copy). Losses take model
outputs with a leading model axis E and return one value per model and example, (E, B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .spec import SpecError, TaskSpec

SPLIT_SEEDS = {"test": 2**31 - 1, "val": 2**31 - 2}  # fixed sets: the same for every model


@dataclass(frozen=True)
class Task:
    name: str
    input_size: int
    output_size: int
    regression: bool  # MSE on a scalar, else cross-entropy over classes
    every_step: bool  # read-out (and loss) at every step, else only at the last

    def length(self, seq_len: int) -> int:
        return seq_len + 20 if self.name == "copy" else seq_len

    def check(self, seq_len: int) -> None:
        minimum = {"adding": 2, "temporal_order": 4}.get(self.name, 1)
        if seq_len < minimum:
            raise SpecError(f"task.seq_len: {self.name} needs seq_len >= {minimum}, got {seq_len}")
        if self.name.startswith("digits") and seq_len != 64:
            raise SpecError(f"task.seq_len: {self.name} reads 8x8 images, seq_len must be 64")

    def sample(self, n: int, seq_len: int, rng: np.random.Generator):
        return GENERATORS[self.name](n, seq_len, rng)

    def fixed_set(self, split: str, seq_len: int, size: int):
        """The fixed validation or test set ("val", "test"): for digits that split of the data,
        else `size` examples drawn from that split's seed."""
        if self.name.startswith("digits"):
            return _digits_split(self.name == "digits_permuted", split)
        return self.sample(size, seq_len, np.random.default_rng(SPLIT_SEEDS[split]))

    def baseline_loss(self, seq_len: int) -> float:
        """Loss of the best predictor that ignores the input (closed forms)."""
        return {
            "adding": 1 / 6,  # predict 1: Var(u1 + u2), u ~ U[0,1]
            "copy": 10 * math.log(8) / (seq_len + 20),  # uniform guess on the 10 recall steps
            "temporal_order": math.log(4),
            "digits": math.log(10),
            "digits_permuted": math.log(10),
        }[self.name]

    def baseline_metric(self) -> float:
        """Metric of that predictor: MSE for adding, else accuracy."""
        return {"adding": 1 / 6, "copy": 1 / 8, "temporal_order": 0.25}.get(self.name, 0.1)

    def example_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """out (E, B, O) or (L, E, B, O); y (E, B) or (L, E, B) -> loss (E, B)."""
        if self.regression:
            return (out.squeeze(-1) - y) ** 2
        ce = F.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)
        return ce.mean(0) if self.every_step else ce

    def last_step_loss(self, out_last: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """E_T per example: out_last (E, B, O), y as in `example_loss` -> (E, B)."""
        return (
            self.example_loss(out_last.unsqueeze(0), y[-1:])
            if self.every_step
            else (self.example_loss(out_last, y))
        )

    def metric(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-model metric (E,): MSE for adding, accuracy otherwise (copy: on the recall steps)."""
        if self.regression:
            return self.example_loss(out, y).mean(-1)
        if self.every_step:
            out, y = out[-10:], y[-10:]
            return (out.argmax(-1) == y).double().mean((0, 2))
        return (out.argmax(-1) == y).double().mean(-1)

    def solved(self, loss, metric, spec: TaskSpec):
        """The solved criterion, elementwise on floats or arrays (NaN: not solved)."""
        if self.name in ("adding", "copy"):
            return loss <= spec.solved_loss_fraction * self.baseline_loss(spec.seq_len)
        return metric >= spec.solved_accuracy


def adding(n: int, seq_len: int, rng: np.random.Generator):
    """Arjovsky et al. (2016), sum variant: x (T, n, 2) values and markers; y (n,) marked sum."""
    values = rng.random((seq_len, n))
    half = seq_len // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, seq_len, n)
    markers = np.zeros((seq_len, n))
    markers[first, np.arange(n)] = 1
    markers[second, np.arange(n)] = 1
    y = values[first, np.arange(n)] + values[second, np.arange(n)]
    return np.stack([values, markers], -1).astype(np.float32), y.astype(np.float32)


def copy(n: int, seq_len: int, rng: np.random.Generator):
    """Arjovsky et al. (2016): 10 symbols of 8, T-1 blanks, delimiter, 10 blanks; recall at the end.

    Input classes: 0 blank, 1..8 symbols, 9 delimiter. Output classes: 0 blank, 1..8. L = T + 20.
    """
    length = seq_len + 20
    symbols = rng.integers(1, 9, (10, n))
    tokens = np.zeros((length, n), dtype=np.int64)
    tokens[:10] = symbols
    tokens[seq_len + 9] = 9
    y = np.zeros((length, n), dtype=np.int64)
    y[-10:] = symbols
    return np.eye(10, dtype=np.float32)[tokens], y


def temporal_order(n: int, seq_len: int, rng: np.random.Generator):
    """Hochreiter & Schmidhuber (1997): the order of two markers A/B among distractors -> 4 classes.

    Inputs one-hot over 6 symbols (0 A, 1 B, 2-5 distractors); markers at [0.1T, 0.2T) and
    [0.5T, 0.6T); class = 2 * first + second.
    """
    tokens = rng.integers(2, 6, (seq_len, n))
    first = rng.integers(0, 2, n)
    second = rng.integers(0, 2, n)
    t1 = rng.integers(*_window(seq_len, 0.1, 0.2), n)
    t2 = rng.integers(*_window(seq_len, 0.5, 0.6), n)
    tokens[t1, np.arange(n)] = first
    tokens[t2, np.arange(n)] = second
    return np.eye(6, dtype=np.float32)[tokens], (2 * first + second).astype(np.int64)


def _window(seq_len: int, lo: float, hi: float) -> tuple[int, int]:
    start = int(lo * seq_len)
    return start, max(start + 1, int(hi * seq_len))


def digits(n: int, seq_len: int, rng: np.random.Generator, permuted: bool = False):
    """scikit-learn's 8x8 digits read pixel by pixel: x (64, n, 1) in [0, 1]; y (n,) in 0..9."""
    x, y = _digits_split(permuted, "train")
    idx = rng.integers(0, len(y), n)
    return x[:, idx], y[idx]


DIGITS_SPLITS = {"train": slice(0, 1200), "val": slice(1200, 1500), "test": slice(1500, None)}


@lru_cache(maxsize=6)
def _digits_split(permuted: bool, split: str):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.reshape(len(data.target), 64) / 16.0).astype(np.float32)  # (N, 64)
    if permuted:
        x = x[:, np.random.default_rng(1234).permutation(64)]
    order = np.random.default_rng(0).permutation(len(x))
    idx = order[DIGITS_SPLITS[split]]  # fixed split: 1200 train, 300 validation, 297 test
    return np.ascontiguousarray(x[idx].T[..., None]), data.target[idx].astype(np.int64)


GENERATORS = {
    "adding": adding,
    "copy": copy,
    "temporal_order": temporal_order,
    "digits": digits,
    "digits_permuted": lambda n, t, rng: digits(n, t, rng, permuted=True),
}

TASKS = {
    "adding": Task("adding", 2, 1, regression=True, every_step=False),
    "copy": Task("copy", 10, 9, regression=False, every_step=True),
    "temporal_order": Task("temporal_order", 6, 4, regression=False, every_step=False),
    "digits": Task("digits", 1, 10, regression=False, every_step=False),
    "digits_permuted": Task("digits_permuted", 1, 10, regression=False, every_step=False),
}
