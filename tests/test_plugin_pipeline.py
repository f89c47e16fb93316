"""A plugin cell in the pipeline: its trials are jobs of their own, apart from the built-ins',
whose input is the plugin's source file. Adding it to a grid leaves the built-ins' jobs (and
tables) as they are; editing its source reruns exactly its jobs."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rnnbench import config, grid
from tests.workflow import ROOT, copy_workflow, isolated_env

BUILT_INS = """\
experiments: [e1_init]
e1_init:
  models:
    - {cell: rnn, nonlinearity: linear, init: orthogonal, rho: [0.9, 1.1]}
    - {cell: lstm, init: default}
"""
WITH_PLUGIN = BUILT_INS + "    - {cell: 'mycells:MGU', init: orthogonal}\n"
TARGET = "results/tables/gradient_profiles.parquet"


def test_a_plugins_trials_are_jobs_of_their_own_with_its_source_as_input(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples/custom_cell"))
    monkeypatch.chdir(ROOT)
    import yaml

    normal = config.load(".test/config/config.yaml", yaml.safe_load(WITH_PLUGIN))
    jobs = {j.job_id: j for j in grid.jobs(normal)}
    assert set(jobs) == {"adding_T30_H8", "adding_T30_H8_mycells"}
    assert [t.variant for t in jobs["adding_T30_H8_mycells"].trials] == ["mgu-orthogonal-rho1"]
    assert jobs["adding_T30_H8_mycells"].sources == ["examples/custom_cell/mycells.py"]
    assert jobs["adding_T30_H8"].sources == []
    built_ins = config.load(".test/config/config.yaml", yaml.safe_load(BUILT_INS))
    (alone,) = grid.jobs(built_ins)
    assert alone.params() == jobs["adding_T30_H8"].params()  # the same job: not rerun


def scheduled(work: Path, env: dict, *configs: str) -> list[str]:
    """The jobs' outputs a dry run would make (the folders of probe jobs, the tables)."""
    result = subprocess.run(
        ["snakemake", TARGET, "-n", "--cores", "1", "--configfile", ".test/config/config.yaml",
         *configs],
        cwd=work, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    return sorted(set(re.findall(r"output: (results/\S+?)(?:/runs\.parquet|\.parquet)", out)))


@pytest.mark.slow
def test_editing_a_plugin_reruns_exactly_its_jobs(tmp_path):
    work = copy_workflow(tmp_path / "work")
    shutil.copy(ROOT / "examples/custom_cell/mycells.py", work / "mycells.py")
    (work / "builtins.yaml").write_text(BUILT_INS)
    (work / "plugin.yaml").write_text(WITH_PLUGIN)
    env = isolated_env(work)
    env["PYTHONPATH"] += f":{work}"
    run = ["snakemake", TARGET, "--cores", "2", "--configfile", ".test/config/config.yaml"]
    done = subprocess.run([*run, "builtins.yaml"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    # adding the plugin: its job only (and the table that gathers them)
    plugin_job = "results/cells/e1_init/adding_T30_H8_mycells"
    assert scheduled(work, env, "plugin.yaml") == [plugin_job, "results/tables/gradient_profiles"]
    done = subprocess.run([*run, "plugin.yaml"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert scheduled(work, env, "plugin.yaml") == []

    # editing the plugin's source: its job again, the built-ins' not
    source = work / "mycells.py"
    source.write_text(source.read_text() + "\n# an edit\n")
    assert scheduled(work, env, "plugin.yaml") == [plugin_job, "results/tables/gradient_profiles"]
