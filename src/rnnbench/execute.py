"""Running one Snakemake job: its trials one after another in one process, their tables written
into the job's folder (`rnnbench.grid` plans the jobs; `train` trains and probes)."""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from . import kernels, resolve, train
from .errors import CorruptFileError
from .spec import ProbeSpec, TrialSpec
from .tables import merged_versions, read_table, write_table

TABLES = ("runs", "curves", "profiles")  # what a training job writes; a probe job: runs, profiles


def run_job(experiment: str, job_id: str, trials: list[dict], folder: str | Path, log) -> None:
    """Run one job's trials (`grid.Job.params`) one after another; write their tables in folder.

    A finished trial's tables wait in folder/done/<cell_id>/ until the job's tables are written,
    so a killed job redoes only its unfinished trials (a training trial resumes from its
    checkpoint, folder/<cell_id>.checkpoint.pt). The seconds this run spent in probe_trial /
    train_trial (not in imports, spec parsing, writing or kept trials) go into the metadata as
    `compute_seconds` (rnnbench.overhead).
    """
    folder = Path(folder)
    if any(t["spec"]["runtime"]["device"] != "cuda" for t in trials):  # before the first trial:
        # a build (or a wait for another job's) is announced in the job's log
        kernels.prepare(torch.device("cpu"), lambda line: print(line, file=log, flush=True))
    probe = all(_is_probe(t) for t in trials)  # a probe job writes no curves
    names = ("runs", "profiles") if probe else TABLES
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    compute = 0.0
    for trial in trials:
        tables, seconds = _trial_tables(experiment, trial, names, folder, log)
        compute += seconds
        for name in names:
            parts[name].append(tables[name])
    meta = dict(
        experiment=experiment,
        pack_id=job_id,
        cells=trials,
        versions=merged_versions(  # trials kept from an interrupted run ran in another process
            json.loads((folder / "done" / t["cell_id"] / "runs.meta.json").read_text())
            for t in trials
        ),
        compute_seconds=compute,
    )
    for name in names:
        frames = [t for t in parts[name] if len(t)] or parts[name][:1]  # concat drops no columns
        write_table(pd.concat(frames, ignore_index=True), folder / name, meta)
    shutil.rmtree(folder / "done", ignore_errors=True)


def _trial_tables(experiment: str, cell: dict, names, folder: Path, log):
    """One trial's tables (with its ids as the first columns) and its compute seconds; `cell`
    is its entry of `Job.params`."""

    progress = Progress(log, f"{experiment}/{cell['cell_id']}")

    done = folder / "done" / cell["cell_id"]
    kept = _read_done(done, names, cell["spec"])
    if kept is not None:
        progress("finished by an earlier, interrupted run of this job: kept", final=True)
        return kept, 0.0
    start = time.perf_counter()
    if _is_probe(cell):
        result = train.probe_trial(resolve.spec(ProbeSpec, cell["spec"]))
        compute = time.perf_counter() - start
        progress(f"probed {len(result.runs)} seeds in {compute:.2f}s", final=True)
    elif (failed := ladder_failed_at(shorter := _read_after(cell))) is not None:
        result = train.skip_trial(resolve.spec(TrialSpec, cell["spec"]), failed, shorter)
        compute = time.perf_counter() - start
        progress(f"skipped: every seed failed at T = {failed} (horizon ladder)", final=True)
    else:
        checkpoint = folder / f"{cell['cell_id']}.checkpoint.pt"
        result = train.train_trial(
            resolve.spec(TrialSpec, cell["spec"]), progress, checkpoint=checkpoint
        )
        compute = time.perf_counter() - start
        counts = result.runs["status"].value_counts().to_dict()
        progress(f"done: {counts} in {compute:.2f}s", final=True)
    ids = {"experiment": experiment, "cell_id": cell["cell_id"], "variant": cell["variant"]}
    tables = {}
    for name in names:
        table = getattr(result, name).drop(columns="model", errors="ignore")
        for i, (key, value) in enumerate(ids.items()):
            table.insert(i, key, value)
        tables[name] = table
    partial = done.with_name(f".{done.name}.partial")  # renamed to done/<cell_id> when complete
    shutil.rmtree(partial, ignore_errors=True)
    for name in names:
        write_table(tables[name], partial / name, {**result.meta, **ids})
    shutil.rmtree(done, ignore_errors=True)
    partial.rename(done)
    return tables, compute


class Progress:
    """A trial's progress lines: every one to the job's log, and to the console (stderr) the
    last one and at most one per CONSOLE_EVERY_S seconds, each prefixed with the trial."""

    CONSOLE_EVERY_S = 15.0

    def __init__(self, log, label: str):
        self.log, self.label, self.shown = log, label, -math.inf

    def __call__(self, line: str, final: bool = False) -> None:
        text = f"[{self.label}] {line}"
        print(text, file=self.log, flush=True)
        now = time.monotonic()
        if final or now - self.shown >= self.CONSOLE_EVERY_S:
            print(text, file=sys.stderr, flush=True)
            self.shown = now


def _is_probe(trial: dict) -> bool:
    """A probe trial's spec (a ProbeSpec) has no `train` block."""
    return "train" not in trial["spec"]


def _read_after(cell: dict) -> pd.DataFrame | None:
    """The runs of this cell's variant at the next shorter T (the ladder's input), if any."""
    if "after" not in cell:
        return None
    where, cell_id = cell["after"]["runs"], cell["after"]["cell_id"]
    runs = read_table(where)
    if not (runs["cell_id"] == cell_id).any():
        raise CorruptFileError(f"{where}: no runs of {cell_id}; rerun the job that writes it")
    return runs[runs["cell_id"] == cell_id]


def ladder_failed_at(shorter: pd.DataFrame | None) -> int | None:
    """The T at which every seed of this variant failed at its selected lr, given its runs at
    the next shorter T, when the ladder skips this cell; None when it is trained."""
    if shorter is None:
        return None
    chosen = shorter[shorter["selected"]]
    if (chosen["status"] == "solved").any():
        return None
    skipped = chosen["skipped_after"].dropna()
    return int(skipped.iloc[0]) if len(skipped) else int(chosen["seq_len"].iloc[0])


def _read_done(done: Path, names, spec: dict):
    """The tables kept in done/ (complete: renamed there when written) for this spec, or None."""
    try:
        meta = json.loads((done / "runs.meta.json").read_text())
        if meta["spec"] != json.loads(json.dumps(spec)):
            return None
        return {name: read_table(done / f"{name}.parquet") for name in names}
    except (OSError, ValueError, KeyError, CorruptFileError):
        return None
