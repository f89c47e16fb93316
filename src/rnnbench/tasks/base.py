"""What every task shares: `Task`, a frozen dataclass whose class facts (sizes, loss kind, read-out)
and parameters (its fields, taken from a TaskSpec) a task sets.

A generator maps (n, T, numpy Generator) to inputs x (L, n, D) float32 and targets y: (n,) for a
single read-out at the last step, (L, n) for a read-out at every step (copy). Losses take model
outputs with a leading model axis E and return one value per model and example, (E, B).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SpecError

SPLIT_SEEDS = {"test": 2**31 - 1, "val": 2**31 - 2}  # fixed sets: the same for every model


@dataclass(frozen=True)
class Task:
    """What every task shares; a task is a subclass that sets the class facts and `sample`."""

    name: ClassVar[str]
    input_size: ClassVar[int]
    output_size: ClassVar[int]
    regression: ClassVar[bool] = False  # MSE on a scalar, else cross-entropy over classes
    every_step: ClassVar[bool] = False  # read-out (and loss) at every step, else only the last
    min_seq_len: ClassVar[int] = 1
    spec_fields: ClassVar[tuple[str, ...]] = ()  # TaskSpec fields that are this task's parameters
    dataset: ClassVar[str | None] = None  # the downloaded data it reads (the fetch_data rule)

    def configured(self, spec) -> Task:
        """This task with its parameters taken from spec."""
        return dataclasses.replace(self, **{f: getattr(spec, f) for f in self.spec_fields})

    def length(self, seq_len: int) -> int:
        """L: the steps a model reads for task length T."""
        return seq_len

    def check(self, seq_len: int) -> None:
        if seq_len < self.min_seq_len:
            raise SpecError(
                "task.seq_len", f"{self.name} needs seq_len >= {self.min_seq_len}, got {seq_len}"
            )

    def sample(self, n: int, seq_len: int, rng: np.random.Generator):
        raise NotImplementedError

    def fixed_set(self, split: str, seq_len: int, size: int):
        """The fixed validation or test set ("val", "test"): `size` examples drawn from that
        split's seed."""
        return self.sample(size, seq_len, np.random.default_rng(SPLIT_SEEDS[split]))

    def baseline_loss(self, seq_len: int) -> float:
        """Loss of the best predictor that ignores the input (closed forms)."""
        return math.log(self.output_size)  # uniform over balanced classes

    def baseline_metric(self) -> float:
        """Metric of that predictor (this task's `metric`)."""
        return 1 / self.output_size

    def example_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """out (E, B, O) or (L, E, B, O); y (E, B) or (L, E, B) -> loss (E, B)."""
        if self.regression:
            return (out.squeeze(-1) - y) ** 2
        ce = F.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)
        return ce.mean(0) if self.every_step else ce

    def last_step_loss(self, out_last: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """E_T per example: out_last (E, B, O), y as in `example_loss` -> (E, B)."""
        if self.every_step:
            return self.example_loss(out_last.unsqueeze(0), y[-1:])
        return self.example_loss(out_last, y)

    def metric(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-model metric (E,): MSE for regression, else accuracy."""
        if self.regression:
            return self.example_loss(out, y).mean(-1)
        return (out.argmax(-1) == y).double().mean(-1)

    def solved(self, loss, metric, spec, margin: float = 1.0):
        """The solved criterion, elementwise on floats or arrays (NaN: not solved); with a
        margin < 1, met only by that margin: the loss within margin x its bound, the error
        (1 - accuracy) within margin x the allowed error (train.freeze_margin)."""
        if margin == 1:
            return metric >= spec.solved_accuracy
        return 1 - metric <= margin * (1 - spec.solved_accuracy)

    @property
    def metric_is_accuracy(self) -> bool:
        """Whether `metric` is a fraction correct (not the MSE of a regression task)."""
        return not self.regression or type(self).metric is not Task.metric
