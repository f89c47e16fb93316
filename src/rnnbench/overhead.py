"""The pipeline's overhead: the part of the grid-cell jobs' wall time that is not computation.

Two numbers per job (probe_trials or train_trials: one pack of grid cells) in a results directory:

- job_seconds: wall time of the job's script process (Python start-up, `import torch`, reading
  the spec, the computation, writing the tables): column `s` of Snakemake's benchmark file
  <results>/benchmarks/jobs/<experiment>/<pack>.tsv;
- compute_seconds: the seconds inside train_trial / probe_trial, summed over the job's cells,
  recorded by grid.run_job in <results>/cells/<experiment>/<pack>/runs.meta.json.

overhead_fraction = (sum of job_seconds - sum of compute_seconds) / sum of job_seconds.
Snakemake's own work between jobs (scheduling, starting the script) is in neither number.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import pandas as pd

from .errors import CorruptFileError
from .tables import atomic_write

JOB_BENCHMARKS = "benchmarks/jobs"  # under the results directory, as in workflow/rules/*.smk
COLUMNS = ["experiment", "pack", "job_seconds", "compute_seconds", "overhead_seconds"]


def job_times(results: str | Path) -> pd.DataFrame:
    """One row per benchmarked job under results (COLUMNS), by experiment and pack."""
    results = Path(results)
    paths = sorted((results / JOB_BENCHMARKS).glob("*/*.tsv"))
    if not paths:
        raise CorruptFileError(
            f"{results / JOB_BENCHMARKS}: no job benchmarks (<experiment>/<pack>.tsv); "
            "run snakemake first"
        )
    rows = []
    for path in paths:
        experiment, pack = path.parent.name, path.stem
        job = job_seconds(path)
        compute = compute_seconds(results / "cells" / experiment / pack / "runs.meta.json")
        rows.append((experiment, pack, job, compute, job - compute))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(jobs: pd.DataFrame) -> dict:
    """Totals over the rows of `job_times` and the overhead (see the module docstring)."""
    total = float(jobs["job_seconds"].sum())
    overhead = total - float(jobs["compute_seconds"].sum())
    return {
        "jobs": len(jobs),
        "total_job_seconds": total,
        "total_compute_seconds": total - overhead,
        "overhead_fraction": overhead / total,
        "mean_overhead_seconds": overhead / len(jobs),
    }


def format_summary(totals: dict) -> str:
    return (
        f"{totals['jobs']} jobs: {totals['total_job_seconds']:.2f} s job wall time, "
        f"{totals['total_compute_seconds']:.2f} s computing; overhead "
        f"{totals['overhead_fraction']:.1%} ({totals['mean_overhead_seconds']:.2f} s per job)"
    )


def write_csv(jobs: pd.DataFrame, path: str | Path) -> Path:
    """The per-job table as CSV, written via a temporary name; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: jobs.to_csv(tmp, index=False))
    return path


def job_seconds(path: Path) -> float:
    """Wall seconds of one job: column `s` of its Snakemake benchmark file (one row)."""
    try:
        values = pd.read_csv(path, sep="\t")["s"].tolist()
    except FileNotFoundError:
        raise CorruptFileError(f"{path}: missing; rerun the job that writes it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError, UnicodeDecodeError) as err:
        raise _unreadable(path, "Snakemake benchmark", err) from None
    if len(values) != 1:
        raise _unreadable(path, "Snakemake benchmark", f"{len(values)} rows, expected 1")
    return _seconds(values[0], path, "s")


def compute_seconds(path: Path) -> float:
    """Seconds inside train_trial / probe_trial: `compute_seconds` in a job's runs.meta.json."""
    try:
        value = json.loads(path.read_text())["compute_seconds"]
    except FileNotFoundError:
        raise CorruptFileError(f"{path}: missing; rerun the job that writes it") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise _unreadable(path, "job metadata", err) from None
    return _seconds(value, path, "compute_seconds")


def _seconds(value, path: Path, name: str) -> float:
    """value as seconds: a finite number >= 0 (text or a bool in the file is an error)."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value >= 0):
        raise _unreadable(path, "timing", f"{name} = {value!r} is not a number of seconds")
    return float(value)


def _unreadable(path: Path, what: str, why) -> CorruptFileError:
    if isinstance(why, KeyError):
        why = f"no {why.args[0]!r}"
    elif isinstance(why, Exception):
        why = type(why).__name__
    return CorruptFileError(f"{path}: unreadable {what} ({why}); rerun the job that writes it")
