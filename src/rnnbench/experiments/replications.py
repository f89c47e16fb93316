"""The replications: published results rerun in their sources' settings, beside the published
values (config/replications.yaml; rnnbench.replications parses and measures them)."""

from .base import Experiment

REPLICATIONS = Experiment(
    id="replications",
    title="Replications: published numbers beside ours",
    summary="Published results beside ours (rnnbench.replications; config/replications.yaml): "
    "sources (citation per key), runs (one trial per T each) and targets (one published value "
    "each). Empty by default.",
    section=None,
)
