"""Fault injection: SIGKILL the whole `snakemake --cores 2` run at seeded random moments; each
restart with --rerun-incomplete picks up, and the final tables equal an uninterrupted run's."""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.workflow import TABLES, TIMING_COLUMNS, copy_workflow, isolated_env

CONFIG = ".test/config/config.yaml"  # inside the copied workflow
KILLS = 5


def start(workdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["snakemake", "--cores", "2", "--configfile", CONFIG, *args],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=isolated_env(workdir),
        start_new_session=True,  # its own process group: the kill takes the jobs with it
    )  # fmt: skip


def tables(workdir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in TABLES:
        df = pd.read_parquet(workdir / f"results/tables/{name}.parquet")
        out[name] = df.drop(columns=[c for c in TIMING_COLUMNS if c in df])
    return out


def finished_jobs(workdir: Path) -> int:
    return sum(1 for _ in (workdir / "results/cells").glob("*/*/runs.parquet"))


def unlock(workdir: Path) -> None:
    """A SIGKILLed Snakemake leaves its lock behind; --unlock is Snakemake's documented remedy."""
    out = subprocess.run(["snakemake", "--unlock", "--configfile", CONFIG], cwd=workdir,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_tables(test_run, tmp_path):
    reference = test_run  # the uninterrupted run of the same config and sources
    work = copy_workflow(tmp_path / "interrupted")
    n_jobs = finished_jobs(reference)

    rng = random.Random(20261127)
    targets = sorted(rng.sample(range(0, n_jobs), KILLS))  # kill once this many jobs are done
    for target in targets:
        proc = start(work, "--rerun-incomplete")
        while finished_jobs(work) < target and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.0))  # mid-job, at a seeded moment
        assert proc.poll() is None, "the run ended before its kill point"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for path in (work / "results").rglob("*.parquet"):  # no final name on a partial file
            pd.read_parquet(path)
        unlock(work)
    final = start(work, "--rerun-incomplete")
    assert final.wait(timeout=900) == 0, final.stderr.read()[-3000:]

    want, got = tables(reference), tables(work)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
        if not set(TIMING_COLUMNS) & set(pd.read_parquet(work / f"results/tables/{name}.parquet")):
            csv = f"results/tables/{name}.csv"  # same config twice: byte-identical files
            assert (work / csv).read_bytes() == (reference / csv).read_bytes(), name
