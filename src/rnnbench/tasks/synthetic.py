"""The synthetic long-range tasks: adding (four variants), copy and temporal order (two)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch.nn.functional as F

from .base import Task


@dataclass(frozen=True)
class Adding(Task):
    """Arjovsky et al. (2016), sum variant: x (T, n, 2) values and markers; y (n,) marked sum."""

    name = "adding"
    input_size, output_size, regression, min_seq_len = 2, 1, True, 2

    def sample(self, n, seq_len, rng):
        values = self._values(rng, (seq_len, n))
        half = seq_len // 2
        first = rng.integers(0, half, n)
        second = rng.integers(half, seq_len, n)
        markers = np.zeros((seq_len, n))
        markers[first, np.arange(n)] = 1
        markers[second, np.arange(n)] = 1
        y = values[first, np.arange(n)] + values[second, np.arange(n)]
        return np.stack([values, markers], -1).astype(np.float32), y.astype(np.float32)

    def _values(self, rng, shape):
        return rng.random(shape)  # U[0, 1]

    def baseline_loss(self, seq_len):
        return 1 / 6  # predict 1: Var(u1 + u2), u ~ U[0, 1]

    def baseline_metric(self):
        return self.baseline_loss(0)  # its MSE

    def solved(self, loss, metric, spec, margin: float = 1.0):
        return loss <= margin * spec.solved_loss_fraction * self.baseline_loss(spec.seq_len)


@dataclass(frozen=True)
class AddingSymmetric(Adding):
    """The adding task of cybertronai/schmidhuber-problems (adding-problem/adding_problem.py,
    make_adding_batch): as `adding` with values ~ U[-1, 1], so predicting 0 has MSE 2/3."""

    name = "adding_symmetric"

    def _values(self, rng, shape):
        return rng.uniform(-1, 1, shape)

    def baseline_loss(self, seq_len):
        return 2 / 3  # predict 0: Var(u1 + u2), u ~ U[-1, 1]


@dataclass(frozen=True)
class AddingHS97(Task):
    """Hochreiter & Schmidhuber (1997), Section 5.4: pairs (value ~ U[-1, 1], marker), each
    sequence L_i ~ U{T..T + T/10} long (left-padded with zero pairs to the batch's length). One
    of the first ten pairs is marked 1 (X1; X1 = 0 when that is the first pair) and one of the
    first T/2 - 1 other pairs (X2); the first and the last pair are marked -1 (unless marked 1).
    Target 0.5 + (X1 + X2) / 4; a sequence is processed correctly when |error| < 0.04, the
    metric (accuracy) the solved criterion reads."""

    name = "adding_hs97"
    input_size, output_size, regression, min_seq_len = 2, 1, True, 12
    tolerance: ClassVar[float] = 0.04

    def length(self, seq_len):
        return seq_len + seq_len // 10

    def sample(self, n, seq_len, rng):
        total, rows = self.length(seq_len), np.arange(n)
        start = total - rng.integers(seq_len, total + 1, n)  # (n,) padding before each sequence
        values = rng.uniform(-1, 1, (total, n))
        first = rng.integers(0, 10, n)
        second = rng.integers(0, seq_len // 2 - 1, n)  # one of the first T/2 - 1 others
        second += second >= first
        markers = np.zeros((total, n))
        markers[start, rows] = -1
        markers[total - 1] = -1
        markers[start + first, rows] = markers[start + second, rows] = 1
        values[(start + first)[first == 0], rows[first == 0]] = 0  # X1 = 0 on the first pair
        pad = np.arange(total)[:, None] < start  # (L, n)
        values[pad], markers[pad] = 0, 0
        x1, x2 = values[start + first, rows], values[start + second, rows]
        y = 0.5 + (x1 + x2) / 4
        return np.stack([values, markers], -1).astype(np.float32), y.astype(np.float32)

    def baseline_loss(self, seq_len):
        return (0.9 / 3 + 1 / 3) / 16  # predict 0.5: Var(X1 + X2) / 16, X1 = 0 with p 1/10

    def baseline_metric(self):
        # P(|X1 + X2| < 0.16): 0.9 x (triangular sum of two U[-1, 1]) + 0.1 x U[-1, 1]
        return 0.9 * (0.32 - 0.16**2 / 2) / 2 + 0.1 * 0.16

    def metric(self, out, y):
        """Fraction of sequences with |error| < 0.04, (E,)."""
        return ((out.squeeze(-1) - y).abs() < self.tolerance).double().mean(-1)


@dataclass(frozen=True)
class AddingPascanu(Task):
    """Pascanu, Mikolov & Bengio (2013), the adding task of their code (pascanur/trainingRNNs
    addition.py): l = T + U{0..T/10 - 1} steps; values ~ U[0, 1]; markers at p0 ~ U{0..0.1 l - 1}
    and p1 = 0.1 l + U{0..0.4 l - 1}; target (X1 + X2) / 2. A sequence is an error when its
    squared error > 0.04 (Section 4.1.2): the metric is the fraction that is not. Their code
    draws one l per batch; here each sequence draws its own, left-padded with zero pairs to the
    batch's length (so that a fixed test set mixes lengths), which the model reads through its
    biases."""

    name = "adding_pascanu"
    input_size, output_size, regression, min_seq_len = 2, 1, True, 10
    tolerance: ClassVar[float] = 0.04  # on the squared error

    def length(self, seq_len):
        return seq_len + max(seq_len // 10 - 1, 0)

    def sample(self, n, seq_len, rng):
        total, rows = self.length(seq_len), np.arange(n)
        lengths = seq_len + rng.integers(0, max(seq_len // 10, 1), n)  # (n,)
        start = total - lengths
        values = rng.random((total, n))
        tenth = lengths // 10
        first = start + rng.integers(0, tenth)
        second = start + tenth + rng.integers(0, 4 * lengths // 10)
        markers = np.zeros((total, n))
        markers[first, rows] = markers[second, rows] = 1
        values[np.arange(total)[:, None] < start] = 0
        y = (values[first, rows] + values[second, rows]) / 2
        return np.stack([markers, values], -1).astype(np.float32), y.astype(np.float32)

    def baseline_loss(self, seq_len):
        return 1 / 24  # predict 0.5: Var(X1 + X2) / 4

    def baseline_metric(self):
        return 0.64  # P(|X1 + X2 - 1| <= 0.4), X1 + X2 triangular on [0, 2]

    def metric(self, out, y):
        """Fraction of sequences with squared error <= 0.04, (E,)."""
        return ((out.squeeze(-1) - y) ** 2 <= self.tolerance).double().mean(-1)


@dataclass(frozen=True)
class Copy(Task):
    """Arjovsky et al. (2016): `recall` symbols of `alphabet`, T-1 blanks, a delimiter, `recall`
    blanks; the symbols are recalled at the last `recall` steps. L = T + 2 recall.

    Input classes: 0 blank, 1..alphabet symbols, alphabet+1 delimiter. Output classes: 0 blank,
    1..alphabet."""

    name = "copy"
    every_step = True
    spec_fields = ("alphabet", "recall")
    alphabet: int = 8
    recall: int = 10

    @property
    def input_size(self) -> int:
        return self.alphabet + 2

    @property
    def output_size(self) -> int:
        return self.alphabet + 1

    def length(self, seq_len):
        return seq_len + 2 * self.recall

    def sample(self, n, seq_len, rng):
        r = self.recall
        symbols = rng.integers(1, self.alphabet + 1, (r, n))
        tokens = np.zeros((seq_len + 2 * r, n), dtype=np.int64)
        tokens[:r] = symbols
        tokens[seq_len + r - 1] = self.alphabet + 1
        y = np.zeros_like(tokens)
        y[-r:] = symbols
        return np.eye(self.input_size, dtype=np.float32)[tokens], y

    def baseline_loss(self, seq_len):
        # blanks predicted exactly, a uniform guess on the recall steps
        return self.recall * math.log(self.alphabet) / self.length(seq_len)

    def baseline_metric(self):
        return 1 / self.alphabet  # accuracy on the recall steps

    def metric(self, out, y):
        """Accuracy on the recall steps: out (L, E, B, O), y (L, E, B) -> (E,)."""
        out, y = out[-self.recall :], y[-self.recall :]
        return (out.argmax(-1) == y).double().mean((0, 2))

    def solved(self, loss, metric, spec, margin: float = 1.0):
        return loss <= margin * spec.solved_loss_fraction * self.baseline_loss(spec.seq_len)


@dataclass(frozen=True)
class CopyRecall(Copy):
    """Copy read on the recalled symbols: the training and reported loss is the cross-entropy of
    the last `recall` steps only (the blanks, learnt long before, are not in it), its baseline a
    uniform guess, ln(alphabet); solved when the accuracy on the recalled symbols reaches
    task.solved_accuracy. The sequences are copy's. (Training on the every-step loss, Adam's
    per-parameter steps are dominated by the blank steps: cybertronai/schmidhuber-problems,
    noise-free-long-lag/README.md, weights the long-lag step likewise.)"""

    name = "copy_recall"

    def example_loss(self, out, y):
        """Cross-entropy of the recall steps: out (L, E, B, O), y (L, E, B) -> (E, B)."""
        r = self.recall
        ce = F.cross_entropy(out[-r:].flatten(0, -2), y[-r:].flatten(), reduction="none")
        return ce.view(y[-r:].shape).mean(0)

    def baseline_loss(self, seq_len):
        return math.log(self.alphabet)  # a uniform guess on each recalled symbol

    def solved(self, loss, metric, spec, margin: float = 1.0):
        return Task.solved(self, loss, metric, spec, margin)


@dataclass(frozen=True)
class TemporalOrder(Task):
    """The order of two markers A/B among distractors -> 4 classes (Hochreiter & Schmidhuber
    1997, Experiment 6a), as Pascanu et al. (2013) generate it (pascanur/trainingRNNs
    tempOrder.py): fixed length T, one-hot over 6 symbols (0 A, 1 B, 2-5 distractors), markers
    at [0.1T, 0.2T) and [0.5T, 0.6T); class = 2 * first + second. Their success criterion is
    fewer than 1% errors on 10,000 fresh sequences: solved_accuracy 0.99, test_size 10000.
    """

    name = "temporal_order"
    input_size, output_size, min_seq_len = 6, 4, 4

    def sample(self, n, seq_len, rng):
        tokens = rng.integers(2, 6, (seq_len, n))
        first = rng.integers(0, 2, n)
        second = rng.integers(0, 2, n)
        t1 = rng.integers(*_window(seq_len, 0.1, 0.2), n)
        t2 = rng.integers(*_window(seq_len, 0.5, 0.6), n)
        tokens[t1, np.arange(n)] = first
        tokens[t2, np.arange(n)] = second
        return np.eye(6, dtype=np.float32)[tokens], (2 * first + second).astype(np.int64)


@dataclass(frozen=True)
class TemporalOrderHS97(Task):
    """Hochreiter & Schmidhuber (1997), Section 5.6, Task 6a: a sequence of L_i ~ U{T..1.1T}
    one-hot symbols (left-padded with all-zero steps to the batch's length) that starts with E and
    ends with the trigger B; between them distractors a-d, except at t1 ~ U{0.1T..0.2T} and
    t2 ~ U{0.5T..0.6T} (from the start: 10-20 and 50-60 at T = 100), each X or Y; class =
    2 [t1 is Y] + [t2 is Y] (XX, XY, YX, YY). Inputs: 0 E, 1 B, 2-5 a-d, 6 X, 7 Y. Their
    criterion is each output unit's final error below 0.3; here the argmax accuracy."""

    name = "temporal_order_hs97"
    input_size, output_size, min_seq_len = 8, 4, 10

    def length(self, seq_len):
        return seq_len + seq_len // 10

    def sample(self, n, seq_len, rng):
        total, rows = self.length(seq_len), np.arange(n)
        start = total - rng.integers(seq_len, total + 1, n)  # (n,) padding before each sequence
        tokens = rng.integers(2, 6, (total, n))
        first, second = rng.integers(0, 2, n), rng.integers(0, 2, n)
        t1 = start + rng.integers(seq_len // 10, seq_len // 5 + 1, n)
        t2 = start + rng.integers(seq_len // 2, 3 * seq_len // 5 + 1, n)
        tokens[t1, rows], tokens[t2, rows] = 6 + first, 6 + second
        tokens[start, rows], tokens[total - 1] = 0, 1
        x = np.eye(8, dtype=np.float32)[tokens]
        x[np.arange(total)[:, None] < start] = 0
        return x, (2 * first + second).astype(np.int64)


def _window(seq_len: int, lo: float, hi: float) -> tuple[int, int]:
    start = int(lo * seq_len)
    return start, max(start + 1, int(hi * seq_len))
