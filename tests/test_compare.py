"""`rnnbench compare`: the config it writes, the comparison it prints (every number with its
interval, from the tables), and (slow) docs/custom-cell.md's research-cell commands run as
written: coRNN and expRNN through check-cell, train, probe, the pipeline and the comparison on
the tiny grid, the built-ins' jobs reused."""

import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from rnnbench import compare, config
from rnnbench.errors import SpecError
from rnnbench.experiments import EXPERIMENTS
from rnnbench.tables import write_table
from tests.workflow import ROOT, copy_workflow, documented_block, isolated_env


@pytest.fixture
def research_cells(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples/research_cells"))
    monkeypatch.chdir(ROOT)


def test_the_cell_joins_e1_e3_and_e5_beside_the_built_ins(research_cells):
    name, block = compare.model_block("cornn:CoRNN", {"dt": 0.06}, {"probe_state": "z"})
    assert name == "cornn-dt0.06-state_z"
    assert block == {"name": name, "cell": "cornn:CoRNN", "params": {"dt": 0.06},
                     "probe_state": "z"}  # fmt: skip
    base = config.load(".test/config/config.yaml")
    over = compare.overlay(base, block)
    assert over["experiments"] == ["e1_init", "e3_long_range", "e5_digits"]
    for e in over["experiments"]:
        assert over[e]["models"] == [*base[e]["models"], block]
    normal = config.load(".test/config/config.yaml", over)  # a valid config
    assert normal["e3_long_range"]["train"] == base["e3_long_range"]["train"]  # same budgets


@pytest.mark.parametrize(
    "cell,params,words",
    [
        ("cornn:CoRNN", {"dtt": 1}, "model.params.dtt: unknown hyperparameter of the cell"),
        ("tests.test_conformance:BareTensor", {}, "fails check-cell step"),
    ],
)
def test_a_bad_cell_stops_compare_before_anything_runs(research_cells, cell, params, words):
    with pytest.raises(SpecError, match=words):
        compare.model_block(cell, params, {})


def test_the_comparison_gives_every_number_with_its_interval(tmp_path):
    ids = dict(experiment="e1_init", task="adding", seq_len=30, hidden_size=8, probe_state="h",
               step=0)  # fmt: skip
    rates = pd.DataFrame([
        dict(ids, variant="cornn", slope_log10_per_step=-0.01, slope_low=-0.02, slope_high=0.0,
             n_seeds=2, regime="flat"),
        dict(ids, variant="lstm-default-fb1", slope_log10_per_step=-0.05, slope_low=-0.06,
             slope_high=-0.04, n_seeds=2, regime="vanishing"),
    ])  # fmt: skip
    horizons = pd.DataFrame([
        dict(experiment="e3_long_range", task="adding", variant=v, seq_len=t, horizon=h,
             horizon_low=lo, horizon_high=hi, n_seeds=2, success_rate=s, success_low=0.1,
             success_high=0.9, n_runs=2, horizon_censored=h == t)
        for v, h, lo, hi, s in (("cornn", 10, 5, 10, 0.5), ("lstm", None, 0, 5, 0.0))
        for t in (5, 10)
    ])  # fmt: skip
    runs = pd.DataFrame([
        dict(experiment="e5_digits", task="digits", variant=v, selected=True, seed=s,
             status="unsolved", final_metric=a + s / 10, baseline_metric=0.1)
        for v, a in (("cornn", 0.5), ("lstm", 0.3)) for s in (0, 1)
    ])  # fmt: skip
    for table, name in ((rates, "decay_rates"), (horizons, "horizons"), (runs, "runs")):
        write_table(table, tmp_path / name, {})
    text = compare.comparison(tmp_path, "cornn", "cornn:CoRNN")
    assert "| **cornn** | adding, 30, 8 | h | -0.01 [-0.02, 0], n = 2 | flat |" in text
    assert "| adding | **cornn** | >= 10 [5, 10], n = 2 | 50% [10%, 90%], n = 2 |" in text
    assert "| adding | lstm | none [0, 5], n = 2 | 0% [10%, 90%], n = 2 |" in text
    assert re.search(r"\| digits \| \*\*cornn\*\* \| 55% \[50%, 60%\], n = 2 \|", text)
    lines = text.splitlines()
    assert (
        lines.index(f"### {EXPERIMENTS['e1_init'].title}")
        < lines.index(f"### {EXPERIMENTS['e3_long_range'].title}")
        < lines.index(f"### {EXPERIMENTS['e5_digits'].title}")
    )


@pytest.mark.slow
def test_the_documented_research_cells_run_through_every_command(tmp_path):
    work = copy_workflow(tmp_path / "work")
    shutil.copytree(ROOT / "examples", work / "examples")
    env = isolated_env(work)
    commands = documented_block("research_cells").splitlines()
    at = next(i for i, c in enumerate(commands) if c.startswith("rnnbench compare"))
    run = lambda lines: subprocess.run(  # noqa: E731
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=work, capture_output=True, text=True, timeout=2400, env=env,
    )  # fmt: skip
    result = run(commands[:at])  # check-cell, train, probe, the pipeline
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("13 of 13 checks passed or skipped, 0 failed") == 2

    train = pd.read_parquet(work / "results/cornn/train/runs.parquet")
    assert set(train["param_dt"]) == {0.06} and set(train["param_gamma"]) == {66.0}
    assert train["final_loss"].notna().all() and set(train["gradient_path"]) == {"autograd"}
    probe = pd.read_parquet(work / "results/cornn/probe/profiles.parquet")
    assert set(probe["probe_state"]) == {"z"} and probe["log10_grad_norm"].notna().any()
    exprnn = pd.read_parquet(work / "results/exprnn/train/runs.parquet")
    assert set(exprnn["gradient_path"]) == {"python"} and set(exprnn["param_orth_lr_scale"]) == {
        0.1
    }
    profiles = pd.read_parquet(work / "results/tables/gradient_profiles.parquet")
    assert {"cornn", "cornn-state_z", "cornn-dt0.06", "cornn-dt0.06-state_z", "exprnn",
            "exprnn-skew_init_cayley"} <= set(profiles["variant"])  # fmt: skip
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    for experiment in ("e3_long_range", "e5_digits"):
        assert {"cornn", "exprnn"} <= set(runs[runs["experiment"] == experiment]["variant"])

    built_in = work / "results/cells/e3_long_range/adding_T5_H8/runs.parquet"
    before = built_in.stat().st_mtime_ns
    exports = [c for c in commands[:at] if c.startswith("export ")]  # where Python finds them
    result = run(exports + commands[at:])  # the comparisons: the built-ins' jobs are done already
    assert result.returncode == 0, result.stderr[-3000:]
    assert built_in.stat().st_mtime_ns == before  # reused, not retrained
    for name in ("cornn-dt0.06-gamma66-epsilon15", "exprnn"):
        text = (work / f"results/compare/{name}/comparison.md").read_text()
        assert f"**{name}**" in text and "n = 2" in text and "[" in text
        assert yaml.safe_load((work / f"results/compare/{name}/config.yaml").read_text())
    assert f"### {EXPERIMENTS['e5_digits'].title}" in result.stdout
