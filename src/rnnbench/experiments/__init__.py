"""The experiments, chosen by config `experiments`. Each module of this package (but `base`)
declares one as `EXPERIMENT` (`Experiment`): its config section, its claims, its figures and its
report section; the registry holds them in the order of their module names (e1_..., e5_...,
replications). Adding an experiment is one module here plus its config section.

`FIGURES` holds every experiment's figures by name: the plot rule, the report and the tests
read it.
"""

import importlib
import pkgutil

from ..plotting import Figure
from ..registry import Registry
from .base import Experiment

MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
EXPERIMENTS: Registry[Experiment] = Registry(
    "experiments",
    {e.id: e for e in (importlib.import_module(f"{__name__}.{m}").EXPERIMENT for m in MODULES)},
)
FIGURES: Registry[Figure] = Registry(
    "figure", {f.name: f for e in EXPERIMENTS.values() for f in e.figures}
)

__all__ = ["EXPERIMENTS", "FIGURES", "Experiment", "claims"]


def claims(enabled=None) -> list:
    """The claims of the experiments `enabled` (default: every one), in registry order."""
    return [c for e in EXPERIMENTS.values() if enabled is None or e.id in enabled for c in e.claims]
