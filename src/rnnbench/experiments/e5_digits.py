"""E5: real data. scikit-learn's 8x8 digits read pixel by pixel (T = 64), in order and permuted
(the paper grid: sequential and permuted MNIST, T = 784); held-out accuracy per model."""

from ..sections import TrainSection
from .base import Experiment

E5 = Experiment(
    id="e5_digits",
    title="E5 Real data: digits and MNIST read step by step",
    summary="E5, real data: scikit-learn's 8x8 digits read pixel by pixel (T = 64), in order "
    "and permuted; held-out accuracy per model.",
    section=TrainSection,
)
