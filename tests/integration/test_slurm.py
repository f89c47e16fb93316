"""The workflow on a real one-node SLURM cluster, checked against a local run of the same config.

tests/cluster/slurm.sh installs Debian's Slurm and munge if missing, starts a one-node cluster and
stops every daemon it started by PID. One SLURM run of the .test config (profiles/slurm) serves
both tests, to keep CI short: while it runs, one training job is cancelled with scancel, so the
run must resubmit it (the profile's retries) and still write the tables of the local run.
Needs root (apt-get, /etc/slurm/slurm.conf); skipped otherwise.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.aggregate import TABLES

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tests/cluster/slurm.sh"
CONFIG = ".test/config/config.yaml"
# Only for the throwaway cluster: it has no accounting daemon (sacct fails, so job status comes
# from squeue, which needs MinJobAge >= 3x the first-check delay) and no accounts.
CLUSTER_FLAGS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-no-account",
]

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def why_no_cluster() -> str | None:
    if sys.platform != "linux":
        return "needs Linux (Debian's Slurm packages)"
    if os.geteuid() != 0:
        return "needs root: installs Slurm with apt-get and writes /etc/slurm/slurm.conf"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "Slurm is not installed and apt-get is unavailable"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "needs the SLURM executor: pip install snakemake-executor-plugin-slurm==2.8.0"
    return None


def copy_workflow(dest: Path) -> Path:
    """Snakefile, rules, configs, profiles and library sources copied to a scratch folder."""
    for name in ("Snakefile", "workflow", "config", ".test", "src", "profiles"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / name)
    return dest


def snapshot_env(work: Path) -> dict[str, str]:
    """Jobs import rnnbench from the copy (SLURM passes the environment on), not from the
    editable install: an edit to src/ during a run must not reach one run and not the other."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(work / "src"), os.getenv("PYTHONPATH")])),
    }


def tables(run: Path) -> dict[str, pd.DataFrame]:
    """Every table in results/tables, less timing columns (wall_seconds differs run to run)."""
    out = {}
    for path in sorted((run / "results/tables").glob("*.parquet")):
        frame = pd.read_parquet(path)
        out[path.stem] = frame.drop(columns=[c for c in frame.columns if c.endswith("_seconds")])
    return out


def squeue(*args: str) -> list[list[str]]:
    result = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, check=True)
    return [line.split() for line in result.stdout.splitlines() if line.strip()]


def training_jobs(jobid: str) -> list[tuple[str, str]]:
    """(experiment, job) of every train_trials job that SLURM job runs (its --target-jobs)."""
    script = subprocess.run(
        ["scontrol", "write", "batch_script", jobid, "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.findall(r"'train_trials:experiment=([^,']+),job=([^,']+)'", script)


def cancel_a_running_training_job(work: Path, run: subprocess.Popen, timeout: float) -> str:
    """scancel a SLURM job as soon as one of its training cells is mid-run; return its id.

    Mid-run: the plugin's inner srun step is up (step <id>.0), the cell's script has opened its
    log, and the cell's outputs are not written yet. The plugin's --comment is rule_<group>_...
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        for jobid, comment in squeue("-t", "RUNNING", "-o", "%i %k"):
            if not comment.startswith("rule_train"):
                continue
            if [f"{jobid}.0"] not in squeue("-s", "-j", jobid, "-o", "%i"):
                continue
            for experiment, job in training_jobs(jobid):
                log = work / f"logs/cells/{experiment}/{job}.log"
                done = work / f"results/cells/{experiment}/{job}/runs.parquet"
                if log.exists() and not done.exists():
                    subprocess.run(["scancel", jobid], check=True)
                    return jobid
        time.sleep(0.2)
    raise AssertionError("no training job was seen running")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = why_no_cluster()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    started = time.monotonic()
    try:
        subprocess.run([CLUSTER, "start", state], check=True, timeout=300)
        print(f"cluster up in {time.monotonic() - started:.0f} s")
        yield state
    finally:
        subprocess.run([CLUSTER, "stop", state], timeout=120)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory) -> tuple[Path, Path, str]:
    """The .test config run locally and through --executor slurm, at the same time.

    The SLURM run leaves a core idle much of the time (queueing, status polls, one group member
    after another), so the local run on one core costs little extra wall time. While the SLURM
    run goes, one of its training jobs is cancelled. Returns (local, slurm, cancelled job id).
    """
    local = copy_workflow(tmp_path_factory.mktemp("local_run"))
    slurm = copy_workflow(tmp_path_factory.mktemp("slurm_run"))
    commands = {
        local: ["snakemake", "--profile", "profiles/local", "--cores", "1", "--configfile", CONFIG],
        slurm: ["snakemake", "--profile", "profiles/slurm", "--configfile", CONFIG, *CLUSTER_FLAGS],
    }
    started = time.monotonic()
    procs = {}
    try:
        for work, command in commands.items():
            with open(work / "snakemake.log", "w") as log:
                procs[work] = subprocess.Popen(
                    command, cwd=work, env=snapshot_env(work), stdout=log, stderr=subprocess.STDOUT
                )
        cancelled = cancel_a_running_training_job(slurm, procs[slurm], timeout=600)
        running = dict(procs)
        while running and time.monotonic() - started < 900:
            for work, proc in list(running.items()):
                if proc.poll() is not None:
                    print(f"{work.name}: {time.monotonic() - started:.0f} s")
                    del running[work]
            time.sleep(1)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
                proc.wait(timeout=60)
    for work, proc in procs.items():
        assert proc.returncode == 0, (work / "snakemake.log").read_text()[-5000:]
    return local, slurm, cancelled


def test_slurm_run_writes_the_tables_of_a_local_run(runs):
    local, slurm, _ = runs
    got, expected = tables(slurm), tables(local)
    assert sorted(got) == sorted(expected) and set(TABLES) <= set(got)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)
    assert (slurm / "results/figures/f4_horizons.png").stat().st_size > 0


def test_a_cancelled_training_job_is_resubmitted(runs):
    _, slurm, cancelled = runs
    text = (slurm / "snakemake.log").read_text()
    assert re.search(rf"\*\*\* JOB {cancelled} ON \S+ CANCELLED", text)  # slurmstepd, via the log
    assert "Trying to restart job" in text
    # The cancelled group job, and only it, is submitted a second time (same group id).
    train = re.findall(
        r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: \S+/group_train", text
    )
    again = next(uuid for uuid, jobid in train if jobid == cancelled)
    counts = Counter(uuid for uuid, _ in train)
    assert counts.pop(again) == 2 and set(counts.values()) == {1}, train
    assert "(100%) done" in text
