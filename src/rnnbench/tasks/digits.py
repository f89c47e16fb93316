"""scikit-learn's 8x8 digits read pixel by pixel, in order and permuted (bundled data)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from ..errors import SpecError
from .base import Task

DIGITS_SPLITS = {"train": slice(0, 1200), "val": slice(1200, 1500), "test": slice(1500, None)}


@dataclass(frozen=True)
class Digits(Task):
    """scikit-learn's 8x8 digits read pixel by pixel: x (64, n, 1) in [0, 1]; y (n,) in 0..9.
    Fixed splits of the 1797 images: 1200 train, 300 validation, 297 test."""

    name = "digits"
    input_size, output_size = 1, 10
    permuted: ClassVar[bool] = False  # pixels in one fixed random order (psMNIST's protocol)

    def check(self, seq_len):
        if seq_len != 64:
            raise SpecError("task.seq_len", f"{self.name} reads 8x8 images, seq_len must be 64")

    def sample(self, n, seq_len, rng):
        x, y = _digits_split(self.permuted, "train")
        idx = rng.integers(0, len(y), n)
        return x[:, idx], y[idx]

    def fixed_set(self, split, seq_len, size):
        """That split of the data (size is ignored)."""
        return _digits_split(self.permuted, split)


@dataclass(frozen=True)
class PermutedDigits(Digits):
    name = "digits_permuted"
    permuted = True


@lru_cache(maxsize=6)
def _digits_split(permuted: bool, split: str):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.reshape(len(data.target), 64) / 16.0).astype(np.float32)  # (N, 64)
    if permuted:
        x = x[:, np.random.default_rng(1234).permutation(64)]
    order = np.random.default_rng(0).permutation(len(x))
    idx = order[DIGITS_SPLITS[split]]
    return np.ascontiguousarray(x[idx].T[..., None]), data.target[idx].astype(np.int64)
