"""Config -> jobs, and the get_* helpers the rules call (no logic in the rules themselves)."""

import os
import shlex
import sys
from pathlib import Path

from rnnbench import config as pipeline_config
from rnnbench import grid, summary, tasks
from rnnbench.aggregate import TABLES
from rnnbench.errors import SpecError
from rnnbench.experiments import EXPERIMENTS, FIGURES
from rnnbench.resources import estimate_mem_mb, runtime_minutes


def config_sources():
    """The configs Snakemake merged, in order: (name, data) of config/config.yaml, each
    --configfile, and --config."""
    cli = [os.path.relpath(path) for path in workflow.overwrite_configfiles]
    files = [pipeline_config.DEFAULT, *cli]
    sources = [(name, pipeline_config.read_yaml(name)) for name in files]
    return sources + [("--config", dict(workflow.config_settings.config))]


def validated_jobs(config):
    """The config normalised and every job planned, before any job runs; a bad value stops
    here in one line naming the file that set it, the key and the problem."""
    sources = config_sources()
    try:
        normal = pipeline_config.validated(config, sources)
        return normal, {f"{j.experiment}/{j.job_id}": j for j in grid.jobs(normal)}
    except SpecError as err:  # one line, not Snakemake's traceback of this file
        where = err.file or pipeline_config.origin(err.key, sources)
        sys.exit(f"invalid config: {err.in_file(where)}")


NORMAL, JOBS = validated_jobs(config)
config.update(NORMAL)
# the configured experiments; replications only when some target is configured (else no figures)
ENABLED = [
    name
    for name in grid.enabled(config)
    if EXPERIMENTS[name].kind != "replications" or config[name].get("targets")
]
# The library modules behind tables, figures and the report are inputs of their rules: editing
# them reruns aggregation, plotting or the report only (a library edit never retrains). Paths are
# relative to the working directory, so a copied or moved run stays up to date.
LIBRARY = os.path.relpath(f"{workflow.basedir}/src/rnnbench")
AGGREGATE_CODE = [f"{LIBRARY}/aggregate.py", f"{LIBRARY}/stats.py"]
MEASURES_CODE = sorted(str(p) for p in Path(LIBRARY, "measures").glob("*.py"))
PLOTTING_CODE = [
    *(f"{LIBRARY}/{name}.py" for name in ("plotting", "results", "selection")),
    *MEASURES_CODE,
    *AGGREGATE_CODE,
]
REPORT_CODE = [
    *(
        f"{LIBRARY}/{name}.py"
        for name in ("paper", "report", "claims", "numbers", "verdicts")
    ),
    *sorted(str(p) for p in Path(LIBRARY, "experiments").glob("*.py")),
    *PLOTTING_CODE,
]
# On a cluster, training jobs of seconds to minutes go several to a SLURM job (the group's size
# is profiles/slurm's group-components); with `pack: trial` (trials of hours) each is its own.
TRAIN_GROUP = "train" if config["pack"] == "grid_point" else None
PROBE_EXPERIMENTS = [e.id for e in EXPERIMENTS.values() if e.kind == "probe"]
TRAIN_EXPERIMENTS = [e.id for e in EXPERIMENTS.values() if e.kind != "probe"]
FIGURE_NAMES = "|".join(FIGURES)  # the plot rule's wildcard: a registered figure only
# the fetch rule's wildcard: a dataset some registered task downloads
DATASETS = "|".join(sorted({t.dataset for t in tasks.TASKS.values()} - {None}))


def get_job(wildcards):
    return JOBS[f"{wildcards.experiment}/{wildcards.job}"]


def get_trials(wildcards):
    """The job's trials with their full specs (a param: changing one reruns this job only)."""
    return get_job(wildcards).params()


def get_ladder_inputs(wildcards):
    """The runs tables of the shorter-T trials this job's horizon ladder reads."""
    return get_job(wildcards).inputs


def get_cell_sources(wildcards):
    """The source files of the job's plugin cells: editing one reruns exactly its jobs."""
    return get_job(wildcards).sources


def dataset_of(trial):
    """The downloaded dataset a trial's task reads (its task's `dataset`), or None."""
    return tasks.get(trial.spec.task).dataset


def get_data_inputs(wildcards):
    """The fetch record of each downloaded dataset the job reads (fetch_data), ancient:
    fetching again never retrains."""
    names = {dataset_of(t) for t in get_job(wildcards).trials} - {None}
    return [ancient(f"results/data/{name}.json") for name in sorted(names)]


def get_data_dir_args(wildcards):
    """--data-dir for every task.data_dir the trials reading this dataset give ('' = default)."""
    dirs = {
        t.spec.task.data_dir
        for job in JOBS.values()
        for t in job.trials
        if dataset_of(t) == wildcards.dataset
    }
    return " ".join(f"--data-dir {shlex.quote(d)}" for d in sorted(dirs))


def get_mem_mb(wildcards, attempt):
    """A training job's memory: its largest trial's (rnnbench.resources), more on each retry."""
    return max(estimate_mem_mb(t.spec) for t in get_job(wildcards).trials) * attempt


def get_runtime_min(wildcards, attempt):
    """A training job's time limit (minutes): its trials' estimated time (rnnbench.resources),
    doubled, times the retry attempt; a job killed at its limit resumes from its checkpoint.
    """
    return runtime_minutes(get_job(wildcards).estimated_seconds, attempt)


def job_outputs(experiments, name):
    """results/cells/<experiment>/<job>/<name>.parquet for every job of these experiments."""
    return [
        f"{job.folder}/{name}.parquet"
        for job in JOBS.values()
        if job.experiment in experiments
    ]


def get_profile_inputs(wildcards):
    return job_outputs([e.id for e in EXPERIMENTS.values() if e.profiles], "profiles")


def get_run_inputs(wildcards):
    return job_outputs(TRAIN_EXPERIMENTS, "runs")


def get_curve_inputs(wildcards):
    return job_outputs(TRAIN_EXPERIMENTS, "curves")


def get_expected_trials(wildcards):
    """experiment/cell_id of every training trial: the runs table must hold each one."""
    return sorted(
        f"{t.experiment}/{t.trial_id}"
        for job in JOBS.values()
        for t in job.trials
        if t.kind == "train"
    )


def get_figure_code(wildcards):
    """The library code a figure's drawing depends on: the shared plotting machinery and the
    module of the experiment that declares it (editing one experiment redraws its figures only).
    """
    declared = FIGURES[wildcards.figure].plot.__module__  # rnnbench.experiments.<name>
    return [
        f"{LIBRARY}/{declared.split('.', 1)[1].replace('.', '/')}.py",
        *PLOTTING_CODE,
    ]


def get_figure_tables(wildcards):
    """The tables a figure reads (experiments.FIGURES), by name: its plotting function's
    arguments."""
    names = FIGURES[wildcards.figure].inputs
    return {name: f"results/tables/{name}.parquet" for name in names}


def get_figure_category(wildcards):
    """The figure's category in Snakemake's report."""
    return FIGURES[wildcards.figure].category


def get_figure_caption(wildcards):
    """The text of the figure's caption, workflow/report/<figure>.rst (Snakemake expands no
    wildcard in a caption path: one caption template prints this)."""
    return Path(workflow.basedir, FIGURES[wildcards.figure].caption).read_text()


def get_figures():
    """The registered figures of the configured experiments (config `experiments`)."""
    return [name for name, figure in FIGURES.items() if figure.experiment in ENABLED]


REPLICATION_JOBS = [
    j for j in JOBS.values() if EXPERIMENTS[j.experiment].kind == "replications"
]


def replications_estimate():
    """One line: the replications' trials and their estimated cost in this tier."""
    hours = sum(j.estimated_seconds for j in REPLICATION_JOBS) / 3600
    return (
        f"replications, tier {config['tier']}: {len(REPLICATION_JOBS)} trials, "
        f"at most {hours:.2f} core-hours (rnnbench.resources; one thread per job)"
    )


def get_final_outputs():
    tables = expand("results/tables/{name}.{ext}", name=TABLES, ext=["parquet", "csv"])
    figures = expand(
        "results/figures/{name}.{ext}", name=get_figures(), ext=["png", "svg"]
    )
    return tables + figures + ["report/report.md", "report/report.html"]


if REPLICATION_JOBS and workflow.is_main_process:  # before any job, in dry runs too
    print(replications_estimate(), file=sys.stderr)
