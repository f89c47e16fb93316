"""Long-range-dependency tasks, chosen by name: one class per task, owning its length, inputs,
loss, metric, trivial baseline and solved criterion, with its parameters as fields. `TASKS` holds
each task with its default parameters; `get` configures one from a TaskSpec."""

from __future__ import annotations

from ..registry import Registry
from .base import SPLIT_SEEDS, Task
from .digits import Digits, PermutedDigits
from .mnist import PermutedMNIST, RowMNIST, SequentialMNIST
from .synthetic import (
    Adding,
    AddingHS97,
    AddingPascanu,
    AddingSymmetric,
    Copy,
    CopyRecall,
    TemporalOrder,
    TemporalOrderHS97,
)

TASKS: Registry[Task] = Registry(
    "task.name",
    {
        t.name: t
        for t in (
            Adding(), AddingSymmetric(), AddingHS97(), AddingPascanu(), Copy(), CopyRecall(),
            TemporalOrder(), TemporalOrderHS97(), Digits(), PermutedDigits(), SequentialMNIST(),
            PermutedMNIST(), RowMNIST(),
        )
    },
)  # fmt: skip

__all__ = ["SPLIT_SEEDS", "TASKS", "Task", "get"]


def get(spec) -> Task:
    """The task spec.name (a TaskSpec) with its parameters from spec."""
    return TASKS.get(spec.name).configured(spec)
