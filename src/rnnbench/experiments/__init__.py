"""The experiments, chosen by config `experiments`: each module declares one (`Experiment`): its
config section, its claims, its figures and its report section."""

from ..registry import Registry
from .base import Experiment
from .e1_init import E1
from .e2_clipping import E2
from .e3_long_range import E3
from .e4_gradient_flow import E4
from .e5_digits import E5
from .replications import REPLICATIONS

EXPERIMENTS: Registry[Experiment] = Registry(
    "experiments", {e.id: e for e in (E1, E2, E3, E4, E5, REPLICATIONS)}
)

__all__ = ["EXPERIMENTS", "Experiment", "claims"]


def claims(enabled=None) -> list:
    """The claims of the experiments `enabled` (default: every one), in registry order."""
    return [c for e in EXPERIMENTS.values() if enabled is None or e.id in enabled for c in e.claims]
