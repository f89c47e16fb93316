"""Config -> jobs, and the get_* helpers the rules call (no logic in the rules themselves)."""

import os

from snakemake.exceptions import WorkflowError

from rnnbench import grid
from rnnbench.resources import estimate_mem_mb
from rnnbench.spec import SpecError


def build_jobs(config):
    """Every grid cell's validated spec, built before any job runs: a bad value stops here."""
    try:
        return {f"{j.experiment}/{j.cell_id}": j for j in grid.jobs(config)}
    except SpecError as err:
        raise WorkflowError(f"invalid config: {err}") from None


JOBS = build_jobs(config)
# The library modules behind tables, figures and the report are inputs of their rules: editing
# them reruns aggregation, plotting or the report only (a library edit never retrains). Paths are
# relative to the working directory, so a copied or moved run stays up to date.
LIBRARY = os.path.relpath(f"{workflow.basedir}/src/rnnbench")
AGGREGATE_CODE = f"{LIBRARY}/aggregate.py"
FIGURES_CODE = f"{LIBRARY}/figures.py"
REPORT_CODE = [f"{LIBRARY}/report.py", f"{LIBRARY}/claims.py"]
TRAIN_EXPERIMENTS = "|".join(grid.TRAIN_EXPERIMENTS)
TABLES = ["gradient_profiles", "decay_rates", "runs", "curves", "horizons"]
FIGURES = [
    "f1_gradient_decay",
    "f2_divergence",
    "f3_grad_norm_traces",
    "f4_horizons",
    "f5_gradient_flow",
    "f6_digits",
]


def get_job(wildcards):
    return JOBS[f"{wildcards.experiment}/{wildcards.cell}"]


def get_spec(wildcards):
    """The job's full spec as a plain dict (a param: changing it reruns this job only)."""
    return grid.spec_dict(get_job(wildcards))


def get_variant(wildcards):
    return get_job(wildcards).variant


def get_mem_mb(wildcards, attempt):
    """A training job's memory from its shape (rnnbench.resources), more on each retry."""
    return estimate_mem_mb(get_job(wildcards).spec) * attempt


def cell_outputs(experiments, name):
    """results/cells/<experiment>/<cell>/<name>.parquet for every job of these experiments."""
    return [
        f"{job.folder}/{name}.parquet"
        for job in JOBS.values()
        if job.experiment in experiments
    ]


def get_profile_inputs(wildcards):
    return cell_outputs(("e1_init", "e4_gradient_flow"), "profiles")


def get_run_inputs(wildcards):
    return cell_outputs(grid.TRAIN_EXPERIMENTS, "runs")


def get_curve_inputs(wildcards):
    return cell_outputs(grid.TRAIN_EXPERIMENTS, "curves")


def get_expected_train_cells(wildcards):
    """experiment/cell_id of every training job: the runs table must hold each one."""
    return sorted(k for k, job in JOBS.items() if job.kind == "train")


def get_final_outputs():
    tables = expand("results/tables/{name}.{ext}", name=TABLES, ext=["parquet", "csv"])
    figures = expand("results/figures/{name}.{ext}", name=FIGURES, ext=["png", "svg"])
    return tables + figures + ["report/report.md", "report/report.html"]
