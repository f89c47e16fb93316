"""E2: exploding gradients and clipping. Vanilla RNNs at rho >= 1 trained without clipping and
with norm and value clipping at several thresholds (all clip settings of a trial in one job)."""

from ..claims import Claim
from ..sections import TrainSection
from ..verdicts import above
from .base import PASCANU_2013, Experiment

E2 = Experiment(
    id="e2_clipping",
    title="E2 Exploding gradients and clipping",
    summary="E2, exploding gradients and clipping: vanilla RNNs at rho >= 1 trained with "
    "clipping none / norm / value over several thresholds (all clip settings of a trial in one "
    "job).",
    section=TrainSection,
    claims=(
        Claim(
            "unclipped_diverge",
            "Exploding gradients quickly turn the derivatives into NaN and crash most unclipped "
            "runs",
            PASCANU_2013,
            "runs",
            {"clip": "none", "rho": (">", 1)},
            "divergence_rate",
            "divergence rate of unclipped runs, rho > 1",
            above(0.5),
        ),
        Claim(
            "clipping_prevents",
            "Gradient clipping prevents exploding gradients and works well",
            PASCANU_2013,
            "runs",
            {"clip": "none"},
            "divergence_difference",
            "unclipped minus norm-clipped (threshold <= 10) divergence rate, same trials",
            above(0),
            versus={"clip": "norm", "clip_threshold": ("<=", 10)},
            labels=("unclipped", "norm-clipped"),
        ),
    ),
)
