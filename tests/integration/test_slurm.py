"""The workflow on a real one-node SLURM cluster, checked against a local run of the same config.

tests/cluster/slurm.sh installs Debian's Slurm and munge if missing, starts a one-node cluster and
stops every daemon it started by PID. One SLURM run of the .test config (profiles/slurm) serves
both tests, to keep CI short: while it runs, one training job is cancelled with scancel, so the
run must resubmit it (the profile's retries) and still write the tables of the local run.
Needs root (apt-get, /etc/slurm/slurm.conf); skipped otherwise.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tests/cluster/slurm.sh"
CONFIG = ".test/config/config.yaml"
TABLES = ["gradient_profiles", "decay_rates", "runs", "curves", "horizons"]
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


def tables(run: Path) -> dict[str, pd.DataFrame]:
    """Every table the run wrote, without timing columns (wall_seconds differs run to run)."""
    out = {}
    for name in TABLES:
        frame = pd.read_parquet(run / f"results/tables/{name}.parquet")
        out[name] = frame.drop(columns=[c for c in frame.columns if c.endswith("_seconds")])
    return out


def squeue(*args: str) -> list[list[str]]:
    result = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, check=True)
    return [line.split() for line in result.stdout.splitlines() if line.strip()]


def cancel_first_training_job(run: subprocess.Popen, timeout: float) -> str:
    """Wait until a training job has a step running (srun started a train_cell), then scancel it.

    The plugin's --comment is rule_<group>_<rules>, e.g. rule_train_train_cell for a group job.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        for jobid, comment in squeue("-t", "RUNNING", "-o", "%i %k"):
            if comment.startswith("rule_train") and squeue("-s", "-j", jobid, "-o", "%i"):
                subprocess.run(["scancel", jobid], check=True)
                return jobid
        time.sleep(0.5)
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
def local_run(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("local"))
    started = time.monotonic()
    result = subprocess.run(
        ["snakemake", "--profile", "profiles/local", "--cores", "2", "--configfile", CONFIG],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"local run: {time.monotonic() - started:.0f} s")
    return work


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> tuple[Path, str]:
    """The .test config through --executor slurm, one training job cancelled while it runs."""
    work = copy_workflow(tmp_path_factory.mktemp("slurm_run"))
    log = work / "snakemake.log"
    command = ["snakemake", "--profile", "profiles/slurm", "--configfile", CONFIG, *CLUSTER_FLAGS]
    started = time.monotonic()
    with open(log, "w") as out:
        run = subprocess.Popen(command, cwd=work, stdout=out, stderr=subprocess.STDOUT)
        try:
            cancelled = cancel_first_training_job(run, timeout=600)
            run.wait(timeout=900)
        finally:
            if run.poll() is None:
                run.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
                run.wait(timeout=60)
    text = log.read_text()
    assert run.returncode == 0, text[-5000:]
    print(f"slurm run with one scancel: {time.monotonic() - started:.0f} s")
    return work, cancelled


def test_slurm_run_writes_the_tables_of_a_local_run(slurm_run, local_run):
    work, _ = slurm_run
    got, expected = tables(work), tables(local_run)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)
    assert (work / "results/figures/f4_horizons.png").stat().st_size > 0


def test_a_cancelled_training_job_is_resubmitted(slurm_run):
    work, cancelled = slurm_run
    assert squeue("-t", "all", "-j", cancelled, "-o", "%T") == [["CANCELLED"]]
    text = (work / "snakemake.log").read_text()
    assert f"SLURM-job '{cancelled}' failed" in text
    submitted = [line for line in text.splitlines() if "submitted with SLURM jobid" in line]
    train = [line for line in submitted if "group_train" in line]
    n_groups = -(-20 // 4)  # 20 training cells in .test, groups of 4 (profiles/slurm)
    assert len(train) == n_groups + 1, "\n".join(submitted)
    assert "(100%) done" in text
